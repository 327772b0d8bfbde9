"""Indexes the views walk: the pareto frontier by (gflops, top1_error, id), the runs listing by (finished, id).

The frontier is walked in index order, so its indexes end in `id` (the tie-break) and a family
filter gets its own; the runs listing reads the newest rows first, on every dataset or on one.
These replace the two shorter indexes that each new one starts with.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "measured_results"
NEW = {
    "ix_measured_dataset_gflops_top1_id": ["dataset", "gflops", "top1_error", "id"],
    "ix_measured_dataset_family_gflops_top1_id": ["dataset", "family", "gflops", "top1_error", "id"],
    "ix_measured_finished_id": ["finished", "id"],
    "ix_measured_dataset_finished_id": ["dataset", "finished", "id"],
}
REPLACED = {  # 0001's indexes that a new one starts with
    "ix_measured_dataset_gflops_top1": ["dataset", "gflops", "top1_error"],
    "ix_measured_finished": ["finished"],
}


def upgrade() -> None:
    """Create the view indexes, then drop the ones they make redundant."""
    for name, columns in NEW.items():
        op.create_index(name, TABLE, columns)
    for name in REPLACED:
        op.drop_index(name, table_name=TABLE)


def downgrade() -> None:
    """Back to 0001's indexes."""
    for name, columns in REPLACED.items():
        op.create_index(name, TABLE, columns)
    for name in NEW:
        op.drop_index(name, table_name=TABLE)
