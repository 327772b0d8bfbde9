"""Create the leaderboard tables: architectures, reference_results, measured_results, leaderboard_state.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the four tables and the indexes the views read."""
    op.create_table(
        "architectures",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("family", sa.String(100), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("paper_title", sa.Text(), nullable=True),
        sa.Column("paper_authors", sa.Text(), nullable=True),
        sa.Column("key_idea", sa.Text(), nullable=True),
        sa.Column("params", sa.BigInteger(), nullable=True),
        sa.Column("gflops", sa.Float(), nullable=True),
        sa.Column("resolution", sa.Integer(), nullable=True),
        sa.Column("paper_top1_error", sa.Float(), nullable=True),
        sa.Column("paper_top5_error", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_architectures"),
    )
    op.create_table(
        "reference_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(200), nullable=False),
        sa.Column("entry", sa.String(300), nullable=False),
        sa.Column("architecture", sa.String(100), nullable=True),
        sa.Column("place", sa.Integer(), nullable=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("metric", sa.String(20), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("extra_data", sa.Boolean(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reference_results"),
        sa.UniqueConstraint(
            "year", "team", "entry", "metric", "extra_data",
            name="uq_reference_results_year_team_entry_metric_extra_data",
        ),
    )
    op.create_table(
        "measured_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("family", sa.String(100), nullable=True),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("image_size", sa.Integer(), nullable=True),
        sa.Column("epochs", sa.Integer(), nullable=True),
        sa.Column("top1_error", sa.Float(), nullable=True),
        sa.Column("top5_error", sa.Float(), nullable=True),
        sa.Column("params", sa.BigInteger(), nullable=True),
        sa.Column("gflops", sa.Float(), nullable=True),
        sa.Column("images_per_second", sa.Float(), nullable=True),
        sa.Column("device_hours", sa.Float(), nullable=True),
        sa.Column("device", sa.String(8), nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished", sa.DateTime(timezone=True), nullable=True),
        sa.Column("experiment", sa.String(300), nullable=True),
        sa.Column("run_name", sa.String(300), nullable=True),
        sa.Column("tracking_uri", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_measured_results"),
        sa.UniqueConstraint("run_id", name="uq_measured_results_run_id"),
    )
    op.create_index("ix_measured_dataset_model_top1", "measured_results", ["dataset", "model", "top1_error"])
    op.create_index("ix_measured_dataset_family_top1", "measured_results", ["dataset", "family", "top1_error"])
    op.create_index("ix_measured_dataset_gflops_top1", "measured_results", ["dataset", "gflops", "top1_error"])
    op.create_index("ix_measured_finished", "measured_results", ["finished"])
    op.create_table(
        "leaderboard_state",
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_leaderboard_state"),
    )


def downgrade() -> None:
    """Drop everything `upgrade` created."""
    op.drop_table("leaderboard_state")
    op.drop_index("ix_measured_finished", table_name="measured_results")
    op.drop_index("ix_measured_dataset_gflops_top1", table_name="measured_results")
    op.drop_index("ix_measured_dataset_family_top1", table_name="measured_results")
    op.drop_index("ix_measured_dataset_model_top1", table_name="measured_results")
    op.drop_table("measured_results")
    op.drop_table("reference_results")
    op.drop_table("architectures")

