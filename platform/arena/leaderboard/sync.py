"""Bring finished MLflow runs into measured_results: idempotent, incremental, safe to run concurrently, and unbreakable by any one run.

Incremental: the store remembers, per tracking store, a watermark; the next sync reads only runs
that ended after it, minus a safety window. MLflow keeps no server-side update time for runs (a
run's end time comes from the clock of whoever ended it), so the watermark is the newest end time
read but never later than this sync's own clock (a machine whose clock runs fast cannot push it
ahead), and a sync whose last full pass is older than FULL_PASS_EVERY_MS reads everything: a run
ended by a slow clock, terminated late or imported with old times is read within that bound, or at
once with `full`. Every sync drops the rows of runs deleted in MLflow (or in a deleted experiment)
and of runs no longer FINISHED; a full pass also drops rows whose run MLflow no longer has.
Re-reading a run is harmless: rows are keyed by the unique run_id and written with INSERT ... ON
CONFLICT in one transaction.

Concurrent: a sync takes the write lock (SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock)
before it reads its watermark or MLflow, so what it adds and removes is computed inside its own
transaction; a second sync waits and then reads what the first wrote, never a snapshot from
before it (a slower full pass would otherwise delete a run that a faster sync had just added).

Unbreakable: every value is checked against its column (`measured_rows.py`); a run that cannot be
stored, even one whose write the database refuses for a reason no check foresaw, is left out with a
warning line naming it, the rest are written and the watermark advances past it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, case, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, StatementError

from arena.errors import mask_secrets
from arena.leaderboard.measured_rows import Refused, measured_row
from arena.leaderboard.reference import refresh_architectures, upsert
from arena.leaderboard.schema import LeaderboardState, MeasuredResult
from arena.leaderboard.store import Store, first_line
from arena.leaderboard.views import DEFAULT_DATASET_KEY, most_measured_dataset

SAFETY_WINDOW_MS = 15 * 60 * 1000
FULL_PASS_EVERY_MS = 24 * 3600 * 1000
_COLUMNS = [column.name for column in MeasuredResult.__table__.columns if column.name != "id"]
_CHUNK = 500
_PG_SYNC_LOCK = 0x4152454E42  # any constant; SQLite's BEGIN IMMEDIATE does the same job there
_KEY_LENGTH = LeaderboardState.__table__.c.key.type.length


@dataclass(frozen=True)
class SyncReport:
    """What one sync did: runs newly added, rows changed, and runs read but not written."""

    added: int
    updated: int
    skipped: int
    removed: int = 0
    """Rows dropped: their runs were deleted in MLflow or are no longer FINISHED."""
    full: bool = False
    """Whether this sync read every run (asked for, or the periodic full pass)."""
    refused: tuple[Refused, ...] = ()
    """Runs the leaderboard would rank but could not store (counted in `skipped`); each names why."""


def sync_runs(
    store: Store,
    tracking_uri: str,
    *,
    full: bool = False,
    refresh_zoo: bool = True,
    home: Path | None = None,
    safety_window_ms: int = SAFETY_WINDOW_MS,
    full_pass_every_ms: int = FULL_PASS_EVERY_MS,
) -> SyncReport:
    """Read the runs that finished since the last sync (all of them when `full`) into the store."""
    from arena.tracking.query import list_finished_runs, list_unranked_run_ids  # MLflow takes seconds to import

    if refresh_zoo:
        refresh_architectures(store, home)
    shown = mask_secrets(tracking_uri)
    key, full_key = state_key("sync_watermark", shown), state_key("sync_full_pass", shown)
    with store.writing() as connection:  # the lock first: everything below sees the syncs that went before
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SYNC_LOCK})
        started_ms = int(time.time() * 1000)
        since, last_full = _state(connection, key), _state(connection, full_key)
        full = full or since is None or last_full is None or started_ms - last_full >= full_pass_every_ms
        records = list_finished_runs(tracking_uri, None if full else since - safety_window_ms)
        gone = list_unranked_run_ids(tracking_uri)
        if full:  # rows whose run MLflow no longer has at all (deleted for good)
            gone |= _stored_run_ids(connection, shown) - {record.run_id for record in records}
        built = [measured_row(record, shown) for record in records if record.run_id not in gone]
        refused = [row for row in built if isinstance(row, Refused)]
        rows = [row for row in built if isinstance(row, dict)]
        removed = _remove(connection, shown, gone)
        added, updated, failed = _write(connection, rows)
        refused += failed
        newest = max((record.end_ms or 0 for record in records), default=0)
        if newest:  # past every run read, refused ones included: a run that cannot be stored is not read forever
            _advance_watermark(connection, key, min(newest, started_ms))
        if full:
            _advance_watermark(connection, full_key, started_ms)
        remember_default_dataset(connection)
    return SyncReport(added=added, updated=updated, skipped=len(records) - added - updated, removed=removed, full=full,
                      refused=tuple(refused))


def state_key(prefix: str, tracking_uri: str) -> str:
    """The leaderboard_state key of a tracking store's number; a URI too long for the column is named by its digest."""
    key = f"{prefix}:{tracking_uri}"
    if len(key) <= _KEY_LENGTH:
        return key
    return f"{prefix}:sha256:{hashlib.sha256(tracking_uri.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _stored_run_ids(connection: Connection, tracking_uri: str) -> set[str]:
    """Run ids of the rows synced from this tracking store."""
    query = select(MeasuredResult.run_id).where(MeasuredResult.tracking_uri == tracking_uri)
    return set(connection.scalars(query))


def _remove(connection: Connection, tracking_uri: str, run_ids: set[str]) -> int:
    """Drop the rows of these runs (of this tracking store); return how many went."""
    ids, removed = sorted(run_ids), 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        statement = delete(MeasuredResult).where(MeasuredResult.tracking_uri == tracking_uri, MeasuredResult.run_id.in_(chunk))
        removed += connection.execute(statement).rowcount or 0
    return removed


def _write(connection: Connection, rows: list[dict[str, Any]]) -> tuple[int, int, list[Refused]]:
    """Upsert the rows that are new or changed; return (added, updated, rows the database refused)."""
    by_id = {row["run_id"]: row for row in rows}  # a run read twice counts once
    columns = [getattr(MeasuredResult, name) for name in _COLUMNS]
    ids = list(by_id)
    new, changed = [], []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        stored = {
            found.run_id: found._mapping
            for found in connection.execute(select(*columns).where(MeasuredResult.run_id.in_(chunk)))
        }
        for run_id in chunk:
            row = by_id[run_id]
            if run_id not in stored:
                new.append(row)
            elif _differs(row, stored[run_id]):
                changed.append(row)
    failed = _upsert_or_refuse(connection, new + changed)
    refused_ids = {refused.run_id for refused in failed}
    added = sum(row["run_id"] not in refused_ids for row in new)
    updated = sum(row["run_id"] not in refused_ids for row in changed)
    return added, updated, failed


def _upsert_or_refuse(connection: Connection, rows: list[dict[str, Any]]) -> list[Refused]:
    """Upsert the rows in one statement; when the database refuses it, row by row, leaving out the ones it refuses.

    Each attempt runs in a savepoint, so a refused row leaves the transaction usable (PostgreSQL
    aborts a transaction on any error otherwise). A lost connection or lock is not a row's fault:
    it propagates.
    """
    update = [name for name in _COLUMNS if name != "run_id"]
    try:
        with connection.begin_nested():
            upsert(connection, MeasuredResult, rows, ("run_id",), update)
        return []
    except OperationalError:
        raise
    except (StatementError, UnicodeError):  # a driver encodes text itself: SQLite's raises UnicodeEncodeError as is
        pass
    refused = []
    for row in rows:
        try:
            with connection.begin_nested():
                upsert(connection, MeasuredResult, [row], ("run_id",), update)
        except OperationalError:
            raise
        except (StatementError, UnicodeError) as error:
            reason = f"the database refused it: {first_line(getattr(error, 'orig', None) or error)}"
            refused.append(Refused(row["run_id"], row.get("run_name") or "", reason))
    return refused


def _differs(row: dict[str, Any], stored: Any) -> bool:
    """True when a fresh row differs from the stored one (datetimes compared in UTC)."""
    for name, value in row.items():
        old = stored[name]
        if isinstance(value, datetime) and isinstance(old, datetime):
            old = old if old.tzinfo else old.replace(tzinfo=UTC)
        if old != value:
            return True
    return False


def remember_default_dataset(connection: Connection) -> None:
    """Store the dataset with the most measured runs, so views need not count 100k rows per call."""
    dataset = most_measured_dataset(connection)
    if dataset is not None:
        row = {"key": DEFAULT_DATASET_KEY, "text": dataset}
        upsert(connection, LeaderboardState, [row], ("key",), ["text"])


def _state(connection: Connection, key: str) -> int | None:
    """A number the store keeps (a watermark, the time of the last full pass), or None before the first sync."""
    return connection.scalar(select(LeaderboardState.number).where(LeaderboardState.key == key))


def _advance_watermark(connection: Connection, key: str, newest_ms: int) -> None:
    """Raise the watermark to `newest_ms`; never lower it (another sync may have gone further)."""
    table = LeaderboardState.__table__
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(key=key, number=newest_ms)
    new = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["key"],
        set_={"number": case((table.c.number > new.number, table.c.number), else_=new.number)},
    )
    connection.execute(statement)
