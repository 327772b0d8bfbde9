"""Every measured row says what it was measured on: `measured_on` is `val` or `holdout`.

A search trial ranks on images held out of train; its row used to rank beside runs measured on
val/. The column is filled from what the row holds: trial kinds get `holdout` (every search since
`data.holdout` was required ranks on it), every other row `val`. The row does not hold the run's
`data.holdout` or `arena.measured_on`, so the sync's full-pass marks are dropped: the next sync reads
every run again and sets the field from each run's own record (a trial of a search older than
holdouts, which did measure on val, turns back to `val` then). The ranking indexes gain the column
after `dataset`, so the views still seek. Numbers an older sync stored that are not finite (a NaN or
infinite metric or param) become NULL, as the sync now stores them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "measured_results"
TRIAL_KINDS = ("scaling-trial", "nas-trial")
FLOAT_COLUMNS = ("top1_error", "top5_error", "gflops", "images_per_second", "device_hours")
FLOAT_MAX = 1.7976931348623157e308
NEW = {
    "ix_measured_dataset_on_model_top1": ["dataset", "measured_on", "model", "top1_error"],
    "ix_measured_dataset_on_family_top1": ["dataset", "measured_on", "family", "top1_error"],
    "ix_measured_dataset_on_gflops_top1_id": ["dataset", "measured_on", "gflops", "top1_error", "id"],
    "ix_measured_dataset_on_family_gflops_top1_id": ["dataset", "measured_on", "family", "gflops", "top1_error", "id"],
}
REPLACED = {  # the indexes the new ones replace, as 0001 and 0002 left them
    "ix_measured_dataset_model_top1": ["dataset", "model", "top1_error"],
    "ix_measured_dataset_family_top1": ["dataset", "family", "top1_error"],
    "ix_measured_dataset_gflops_top1_id": ["dataset", "gflops", "top1_error", "id"],
    "ix_measured_dataset_family_gflops_top1_id": ["dataset", "family", "gflops", "top1_error", "id"],
}


def upgrade() -> None:
    """Add and fill the column, swap the ranking indexes, clear non-finite numbers, ask for a full sync."""
    op.add_column(TABLE, sa.Column("measured_on", sa.String(8), nullable=False, server_default="val"))
    op.execute(
        sa.text(f"UPDATE {TABLE} SET measured_on = 'holdout' WHERE kind IN (:first, :second)")
        .bindparams(first=TRIAL_KINDS[0], second=TRIAL_KINDS[1])
    )
    for name in REPLACED:
        op.drop_index(name, table_name=TABLE)
    for name, columns in NEW.items():
        op.create_index(name, TABLE, columns)
    for column in FLOAT_COLUMNS:
        op.execute(sa.text(f"UPDATE {TABLE} SET {column} = NULL WHERE {_not_finite(column)}"))
    op.execute(sa.text("DELETE FROM leaderboard_state WHERE key LIKE 'sync\\_full\\_pass:%' ESCAPE '\\'"))


def downgrade() -> None:
    """Back to 0003: the old ranking indexes, without the column (the cleared numbers stay NULL)."""
    for name in NEW:
        op.drop_index(name, table_name=TABLE)
    for name, columns in REPLACED.items():
        op.create_index(name, TABLE, columns)
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("measured_on")


def _not_finite(column: str) -> str:
    """SQL true for NaN and infinities (and the largest floats, MLflow's SQL stores' infinity) on the dialect at hand.

    SQLite stores NaN as NULL already; PostgreSQL sorts NaN above every number, so it needs naming.
    """
    largest = f"abs({column}) >= {FLOAT_MAX!r}"
    return f"({column} = 'NaN'::float8 OR {largest})" if op.get_bind().dialect.name == "postgresql" else largest
