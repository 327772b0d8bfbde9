"""Measured rows tagged with a bare dataset kind get a name that cannot rank them beside another folder.

Runs before dataset identities were tagged `imagefolder` (any image folder) or `imagenet`, whatever
the folder held: a 10-class subset and the full set looked alike. Their folders cannot be recovered
now, so each such row becomes `<old>-unverified-<first 12 characters of its run id>`: it stays in the
runs, family and pareto views under a name of its own, never ranks with another run, and the ilsvrc
view, which pairs only `imagenet-1k`, no longer sets it beside the papers' figures. Retrain on a
prepared folder to get an `imagenet-1k` row. The remembered default dataset is dropped when it was
one of the renamed names, so the views count again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

RENAMED = ("imagefolder", "imagenet")
MARK = "-unverified-"
RUN_ID_CHARS = 12


def upgrade() -> None:
    """Rename the bare-kind rows one by one (per run), and forget a default that named a bare kind."""
    for old in RENAMED:
        op.execute(
            sa.text(
                "UPDATE measured_results SET dataset = dataset || :mark || substr(run_id, 1, :chars) "
                "WHERE dataset = :old"
            ).bindparams(mark=MARK, chars=RUN_ID_CHARS, old=old)
        )
    op.execute(
        sa.text("DELETE FROM leaderboard_state WHERE key = 'default_dataset' AND text IN (:first, :second)")
        .bindparams(first=RENAMED[0], second=RENAMED[1])
    )


def downgrade() -> None:
    """Give the renamed rows their bare kind back."""
    for old in RENAMED:
        op.execute(
            sa.text("UPDATE measured_results SET dataset = :old WHERE dataset LIKE :pattern")
            .bindparams(old=old, pattern=f"{old}{MARK}%")
        )
