"""Turn an MLflow run into a measured_results row, every value checked against its column first.

A shared tracking server holds runs of other tools and other people, so a run may carry anything:
a param `inf`, a number past 64 bits, a tag longer than its column, a NaN metric, a NUL character.
A number that is not finite or does not fit its column is stored as NULL (the run still ranks on
what it does hold); a string that does not fit is not cut to size, which would name another model
or dataset: the run is refused, and the sync names it and the field in one warning line.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Float, Integer, String

from arena import kinds
from arena.errors import mask_secrets
from arena.leaderboard.schema import MeasuredResult

if TYPE_CHECKING:
    from arena.tracking.query import RunRecord

UNVERIFIED_TAGS = ("imagefolder", "imagenet")
"""Bare dataset tags of runs from before datasets were named (see migration 0003)."""
INTEGER_RANGES = {Integer: (-(2**31), 2**31 - 1), BigInteger: (-(2**63), 2**63 - 1)}
"""What PostgreSQL's integer and bigint hold (SQLite's INTEGER holds the wider range)."""
NAME_SHOWN = 60  # characters of a refused run's name in its warning line


@dataclass(frozen=True)
class Refused:
    """A run the sync could not store, and why (the field, never its value)."""

    run_id: str
    run_name: str
    reason: str

    def line(self) -> str:
        """The warning line naming the run: `run ID (NAME) not synced: REASON`."""
        return mask_secrets(f"run {_shown(self.run_id)} ({_shown(self.run_name, quoted=True)}) not synced: {self.reason}")


def _shown(text: str, *, quoted: bool = False) -> str:
    """Text for a one-line message: cut to NAME_SHOWN characters, and quoted with escapes when asked or unprintable."""
    cut = text if len(text) <= NAME_SHOWN else text[: NAME_SHOWN - 3] + "..."
    return repr(cut) if quoted or not cut.isprintable() else cut


def dataset_name(record: RunRecord) -> str:
    """The run's dataset as the leaderboard names it: a bare old tag gets a name of its own, as migration 0003 gave it."""
    name = record.tags.get("arena.dataset") or record.params.get("data.dataset") or "unknown"
    return f"{name}-unverified-{record.run_id[:12]}" if name in UNVERIFIED_TAGS else name


def measured_row(record: RunRecord, tracking_uri: str) -> dict[str, Any] | Refused | None:
    """The checked row of an arena run; None for a run the leaderboard does not rank; Refused when it cannot be stored.

    Ranked: runs tagged `arena.kind` with a measured kind, naming a model, with a val metric.
    """
    tags, params, metrics = record.tags, record.params, record.metrics
    model = tags.get("arena.model") or params.get("model")
    kind = tags.get("arena.kind")
    top1, top5 = _finite(metrics.get("val_top1_error")), _finite(metrics.get("val_top5_error"))
    if not model or kind not in kinds.MEASURED or (top1 is None and top5 is None):
        return None  # not arena's, a search's parent run, or a run that never evaluated
    workers = max(_number(params.get("resources.workers"), int) or 1, 1)
    gpus = _number(params.get("resources.gpus_per_worker"), float) or 0.0
    hours = None
    if record.start_ms is not None and record.end_ms is not None:
        hours = max(record.end_ms - record.start_ms, 0) / 3_600_000 * workers * (gpus if gpus > 0 else 1)
    row = {
        "run_id": record.run_id,
        "model": model,
        "family": tags.get("arena.family") or "unknown",
        "dataset": dataset_name(record),
        "kind": kind,
        "measured_on": record.measured_on,
        "image_size": _number(params.get("data.image_size"), int),
        "epochs": _number(params.get("train.epochs"), int),
        "top1_error": top1,
        "top5_error": top5,
        "params": _number(params.get("model.params"), int),
        "gflops": _number(params.get("model.gflops"), float),
        "images_per_second": _finite(metrics.get("images_per_second")),
        "device_hours": hours,
        "device": "gpu" if gpus > 0 else "cpu",
        "started": _time(record.start_ms),
        "finished": _time(record.end_ms),
        "experiment": mask_secrets(record.experiment),
        "run_name": mask_secrets(record.run_name),
        "tracking_uri": tracking_uri,
    }
    problem = fit_to_columns(row)
    return Refused(record.run_id, record.run_name, problem) if problem else row


def fit_to_columns(row: dict[str, Any]) -> str | None:
    """Set each number its column cannot hold to None, in place; return why a string cannot be stored, if one cannot."""
    for column in MeasuredResult.__table__.columns:
        if column.name not in row:
            continue
        value, kind = row[column.name], type(column.type)
        if value is None:
            if not column.nullable and not column.primary_key:
                return f"{column.name} is empty"
        elif isinstance(column.type, String):
            problem = _string_problem(value, column.type.length)
            if problem:
                return f"{column.name} {problem}"
        elif kind in INTEGER_RANGES:
            low, high = INTEGER_RANGES[kind]
            row[column.name] = value if isinstance(value, int) and low <= value <= high else None
        elif kind is Float:
            row[column.name] = _finite(value)
    return None


def _string_problem(value: object, length: int | None) -> str | None:
    """Why `value` cannot go into a VARCHAR(length) (or TEXT) column on SQLite and PostgreSQL; None when it can."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not text"
    if length is not None and len(value) > length:
        return f"is {len(value):,} characters long; the column holds {length}"
    if "\x00" in value:
        return "holds a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode"
    return None


def _finite(value: object) -> float | None:
    """A metric or number as a finite float; None when absent, not a number, NaN or infinite.

    MLflow's SQL stores keep an infinite metric as the largest float of its sign, so that counts as infinite too.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int past a float's range
        return None
    return number if abs(number) < sys.float_info.max else None  # NaN compares false, so it is left out too


def _number(value: str | None, kind: type) -> Any:
    """A param string as int or float; None when absent, not a number, or not finite."""
    if value is None or value in ("", "None"):
        return None
    try:
        if kind is int:
            try:
                return int(value)  # exact, however large; the column check decides whether it fits
            except ValueError:
                number = float(value)
                return int(number) if math.isfinite(number) else None
        return _finite(float(value))
    except (ValueError, OverflowError):
        return None


def _time(ms: int | None) -> datetime | None:
    """Milliseconds since the epoch as an aware UTC datetime; None when outside the years datetimes hold."""
    try:
        return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
