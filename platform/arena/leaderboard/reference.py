"""Reference figures (the checked-in ILSVRC and paper results) and the zoo's architectures, into the store.

Both loads are idempotent upserts: loading twice leaves the same rows, and an edited data file or a
grown zoo updates the rows in place.
"""

from __future__ import annotations

import hashlib
import importlib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from arena.errors import ArenaError
from arena.leaderboard.schema import Architecture, LeaderboardState, ReferenceResult
from arena.leaderboard.store import Store

DATA_FILE = "reference_results.yaml"
METRICS = ("top1_error", "top5_error")
_DIGEST_KEY = "reference_data_digest"
_REFERENCE_KEY = ("year", "team", "entry", "metric", "extra_data")


def reference_text() -> str:
    """The checked-in data file's text."""
    return resources.files("arena.leaderboard").joinpath(DATA_FILE).read_text(encoding="utf-8")


def reference_rows(text: str | None = None) -> list[dict[str, Any]]:
    """The data file as reference_results rows: one row per entry and metric it gives."""
    data = yaml.safe_load(reference_text() if text is None else text)
    rows = []
    for index, entry in enumerate(data["results"]):
        missing = [key for key in ("year", "team", "entry", "dataset", "source") if not entry.get(key)]
        if missing or not any(entry.get(metric) is not None for metric in METRICS):
            raise ArenaError(f"{DATA_FILE}: result {index} lacks {', '.join(missing) or 'top1_error/top5_error'}")
        for metric in METRICS:
            if entry.get(metric) is None:
                continue
            rows.append(
                {
                    "year": int(entry["year"]),
                    "team": str(entry["team"]),
                    "entry": str(entry["entry"]),
                    "architecture": entry.get("architecture"),
                    "place": entry.get("place"),
                    "dataset": str(entry["dataset"]),
                    "metric": metric,
                    "value": float(entry[metric]),
                    "extra_data": bool(entry.get("extra_data", False)),
                    "source": str(entry["source"]),
                    "note": entry.get("note"),
                }
            )
    return rows


def ensure_reference_data(store: Store) -> int:
    """Load the reference figures unless this exact data file is loaded already; return rows written."""
    text = reference_text()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with store.reading() as connection:
        loaded = connection.scalar(select(LeaderboardState.text).where(LeaderboardState.key == _DIGEST_KEY))
    if loaded == digest:
        return 0
    rows = reference_rows(text)
    with store.writing() as connection:
        update = [column for column in rows[0] if column not in _REFERENCE_KEY]
        upsert(connection, ReferenceResult, rows, _REFERENCE_KEY, update)
        _delete_stale(connection, {tuple(row[column] for column in _REFERENCE_KEY) for row in rows})
        upsert(connection, LeaderboardState, [{"key": _DIGEST_KEY, "text": digest}], ("key",), ["text"])
    return len(rows)


def refresh_architectures(store: Store, home: Path | None = None) -> int:
    """Upsert every zoo architecture (and `home`'s saved ones); return how many (0 when the zoo is not importable)."""
    try:
        models = importlib.import_module("arena.models")
    except ImportError:
        return 0
    rows = [_architecture_row(info) for info in models.list_models(home=home)]
    if not rows:
        return 0
    with store.writing() as connection:
        upsert(connection, Architecture, rows, ("name",), [column for column in rows[0] if column != "name"])
    return len(rows)


def architectures_known(store: Store) -> int:
    """How many architectures the store holds."""
    with store.reading() as connection:
        return int(connection.scalar(select(func.count()).select_from(Architecture)) or 0)


def upsert(
    connection: Connection,
    table: type,
    rows: list[dict[str, Any]],
    key: tuple[str, ...],
    update: list[str],
) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE for SQLite and PostgreSQL, as one executemany.

    One statement with bound parameters, compiled once and run over every row by the driver; a
    multi-row VALUES clause would be compiled afresh per batch, which costs more than the writing.
    """
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    if update:
        statement = statement.on_conflict_do_update(
            index_elements=list(key), set_={column: statement.excluded[column] for column in update}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    connection.execute(statement, rows)


def _delete_stale(connection: Connection, keep: set[tuple[Any, ...]]) -> None:
    """Delete reference rows whose entry the data file no longer holds."""
    columns = [getattr(ReferenceResult, column) for column in _REFERENCE_KEY]
    stale = [row.id for row in connection.execute(select(ReferenceResult.id, *columns)) if tuple(row[1:]) not in keep]
    if stale:
        connection.execute(delete(ReferenceResult).where(ReferenceResult.id.in_(stale)))


def _architecture_row(info: Any) -> dict[str, Any]:
    """A ModelInfo as an architectures row."""
    resolution = getattr(getattr(info, "input", None), "resolution", None)
    return {
        "name": info.name,
        "family": info.family,
        "year": info.year,
        "paper_title": getattr(info, "paper_title", None),
        "paper_authors": _as_text(getattr(info, "paper_authors", None)),
        "key_idea": getattr(info, "key_idea", None),
        "params": int(info.params) if info.params is not None else None,
        "gflops": float(info.gflops) if info.gflops is not None else None,
        "resolution": int(resolution) if resolution is not None else None,
        "paper_top1_error": getattr(info, "paper_top1_error", None),
        "paper_top5_error": getattr(info, "paper_top5_error", None),
    }


def _as_text(value: Any) -> str | None:
    """Authors as one string, whether the zoo gives a string or a list."""
    if value is None or isinstance(value, str):
        return value
    return ", ".join(str(item) for item in value)
