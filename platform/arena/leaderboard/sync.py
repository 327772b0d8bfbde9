"""Bring finished MLflow runs into measured_results: idempotent, incremental and safe to run concurrently.

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
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, case, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite

from arena import kinds
from arena.errors import mask_secrets
from arena.leaderboard.reference import refresh_architectures, upsert
from arena.leaderboard.schema import LeaderboardState, MeasuredResult
from arena.leaderboard.store import Store
from arena.leaderboard.views import DEFAULT_DATASET_KEY, most_measured_dataset

if TYPE_CHECKING:
    from arena.tracking.query import RunRecord

SAFETY_WINDOW_MS = 15 * 60 * 1000
FULL_PASS_EVERY_MS = 24 * 3600 * 1000
MEASURED_KINDS = kinds.MEASURED
_COLUMNS = [column.name for column in MeasuredResult.__table__.columns if column.name != "id"]
_CHUNK = 500
_PG_SYNC_LOCK = 0x4152454E42  # any constant; SQLite's BEGIN IMMEDIATE does the same job there


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
    started_ms = int(time.time() * 1000)
    shown = mask_secrets(tracking_uri)
    key, full_key = f"sync_watermark:{shown}", f"sync_full_pass:{shown}"
    since = _state(store, key)
    last_full = _state(store, full_key)
    full = full or since is None or last_full is None or started_ms - last_full >= full_pass_every_ms
    records = list_finished_runs(tracking_uri, None if full else since - safety_window_ms)
    gone = list_unranked_run_ids(tracking_uri)
    rows = [row for row in (measured_row(record, shown) for record in records) if row is not None]
    newest = max((record.end_ms or 0 for record in records), default=0)
    with store.writing() as connection:
        if full:  # rows whose run MLflow no longer has at all (deleted for good)
            gone |= _stored_run_ids(connection, shown) - {record.run_id for record in records}
        removed = _remove(connection, shown, gone)
        added, updated = _write(connection, [row for row in rows if row["run_id"] not in gone])
        if newest:
            _advance_watermark(connection, key, min(newest, started_ms))
        if full:
            _advance_watermark(connection, full_key, started_ms)
        remember_default_dataset(connection)
    return SyncReport(added=added, updated=updated, skipped=len(records) - added - updated, removed=removed, full=full)


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


UNVERIFIED_TAGS = ("imagefolder", "imagenet")
"""Bare dataset tags of runs from before datasets were named (see migration 0003)."""


def dataset_name(record: RunRecord) -> str:
    """The run's dataset as the leaderboard names it: a bare old tag gets a name of its own, as migration 0003 gave it."""
    name = record.tags.get("arena.dataset") or record.params.get("data.dataset") or "unknown"
    return f"{name}-unverified-{record.run_id[:12]}" if name in UNVERIFIED_TAGS else name


def measured_row(record: RunRecord, tracking_uri: str) -> dict[str, Any] | None:
    """The measured_results row for an arena run; None for runs the leaderboard does not rank."""
    tags, params, metrics = record.tags, record.params, record.metrics
    model = tags.get("arena.model") or params.get("model")
    kind = tags.get("arena.kind", kinds.TRAIN)
    top1, top5 = metrics.get("val_top1_error"), metrics.get("val_top5_error")
    if not model or kind not in MEASURED_KINDS or (top1 is None and top5 is None):
        return None  # not an arena run, a search's parent run, or a run that never evaluated
    workers = _number(params.get("resources.workers"), int) or 1
    gpus = _number(params.get("resources.gpus_per_worker"), float) or 0.0
    hours = None
    if record.start_ms is not None and record.end_ms is not None:
        hours = max(record.end_ms - record.start_ms, 0) / 3_600_000 * workers * (gpus if gpus > 0 else 1)
    return {
        "run_id": record.run_id,
        "model": model,
        "family": tags.get("arena.family") or "unknown",
        "dataset": dataset_name(record),
        "kind": kind,
        "image_size": _number(params.get("data.image_size"), int),
        "epochs": _number(params.get("train.epochs"), int),
        "top1_error": top1,
        "top5_error": top5,
        "params": _number(params.get("model.params"), int),
        "gflops": _number(params.get("model.gflops"), float),
        "images_per_second": metrics.get("images_per_second"),
        "device_hours": hours,
        "device": "gpu" if gpus > 0 else "cpu",
        "started": _time(record.start_ms),
        "finished": _time(record.end_ms),
        "experiment": record.experiment,
        "run_name": record.run_name,
        "tracking_uri": tracking_uri,
    }


def _write(connection: Connection, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Upsert the rows that are new or changed; return (added, updated)."""
    by_id = {row["run_id"]: row for row in rows}  # a run read twice counts once
    if connection.dialect.name == "postgresql":  # one sync writes at a time, so each run counts as added once
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SYNC_LOCK})
    added = updated = 0
    columns = [getattr(MeasuredResult, name) for name in _COLUMNS]
    ids = list(by_id)
    write = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        stored = {
            found.run_id: found._mapping
            for found in connection.execute(select(*columns).where(MeasuredResult.run_id.in_(chunk)))
        }
        for run_id in chunk:
            row = by_id[run_id]
            if run_id not in stored:
                added += 1
            elif _differs(row, stored[run_id]):
                updated += 1
            else:
                continue
            write.append(row)
    upsert(connection, MeasuredResult, write, ("run_id",), [name for name in _COLUMNS if name != "run_id"])
    return added, updated


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


def _state(store: Store, key: str) -> int | None:
    """A number the store keeps (a watermark, the time of the last full pass), or None before the first sync."""
    with store.reading() as connection:
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


def _number(value: str | None, kind: type) -> Any:
    """A param string as int or float; None when absent or not a number."""
    if value is None or value == "" or value == "None":
        return None
    try:
        return kind(float(value)) if kind is int else kind(value)
    except ValueError:
        return None


def _time(ms: int | None) -> datetime | None:
    """Milliseconds since the epoch as an aware UTC datetime."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)
