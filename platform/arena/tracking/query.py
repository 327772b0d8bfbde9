"""Read finished runs back from MLflow as plain records, for the leaderboard's sync."""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from arena.errors import ArenaError, mask_secrets

# MLflow 3 sends usage telemetry unless told not to; arena keeps it off unless the user opts in.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.entities import ViewType  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

_PAGE = 10_000  # runs per search request (MLflow allows up to 50,000)
_gc_lock = threading.Lock()
_gc_pauses = 0  # reads in progress that paused the cyclic garbage collector
_gc_was_enabled = False


@dataclass(frozen=True)
class RunRecord:
    """One finished MLflow run: identity, tags, params, final (last-epoch) metrics and its times."""

    run_id: str
    experiment: str
    run_name: str
    status: str
    start_ms: int | None
    end_ms: int | None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def list_finished_runs(tracking_uri: str, since_ms: int | None = None) -> list[RunRecord]:
    """Every FINISHED run in the store's active experiments that ended at or after `since_ms`, oldest first."""
    client = _open(tracking_uri)
    query = "attributes.status = 'FINISHED'"
    if since_ms is not None:
        query += f" and attributes.end_time >= {int(since_ms)}"
    try:
        experiments = _experiments(client)
        records: list[RunRecord] = []
        ids = list(experiments)
        for start in range(0, len(ids), 100):  # MLflow caps the experiments one search may name
            records += _search(client, ids[start : start + 100], query, experiments)
    except MlflowException as error:
        shown = mask_secrets(tracking_uri)
        raise ArenaError(f"cannot read runs from the MLflow tracking store {shown}: {error.message}") from None
    except OSError as error:  # an http:// server that is not there, a store file that vanished
        raise ArenaError(f"cannot reach the MLflow tracking store {mask_secrets(tracking_uri)}: {error}") from None
    records.sort(key=lambda record: (record.end_ms or 0, record.run_id))
    return records


def list_unranked_run_ids(tracking_uri: str) -> set[str]:
    """Ids of runs the leaderboard must not show: deleted (or in a deleted experiment), or no longer FINISHED."""
    client = _open(tracking_uri)
    try:
        ids = list(_experiments(client, ViewType.ALL))
        found: set[str] = set()
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            found |= _run_ids(client, chunk, "", ViewType.DELETED_ONLY)
            found |= _run_ids(client, chunk, "attributes.status != 'FINISHED'", ViewType.ALL)
    except MlflowException as error:
        raise ArenaError(f"cannot read runs from the MLflow tracking store {mask_secrets(tracking_uri)}: {error.message}") from None
    except OSError as error:
        raise ArenaError(f"cannot reach the MLflow tracking store {mask_secrets(tracking_uri)}: {error}") from None
    return found


def _run_ids(client: MlflowClient, experiment_ids: list[str], query: str, view: int) -> set[str]:
    """The ids of every run one search finds, over all its pages."""
    found: set[str] = set()
    token = None
    while True:
        with _collector_paused():
            page = client.search_runs(experiment_ids, filter_string=query, run_view_type=view, max_results=_PAGE,
                                      page_token=token)
        found |= {run.info.run_id for run in page}
        token = page.token
        if not token:
            return found


def _open(tracking_uri: str) -> MlflowClient:
    """A client for an existing tracking store; a missing SQLite file is an error, not a new store."""
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.is_file():
            raise ArenaError(f"no MLflow tracking store at {path}: nothing has been trained with this tracking URI yet")
    try:
        return MlflowClient(tracking_uri=tracking_uri)
    except MlflowException as error:
        raise ArenaError(f"cannot open the MLflow tracking store {mask_secrets(tracking_uri)}: {error.message}") from None
    except Exception as error:  # an unknown scheme or a broken database raises assorted errors
        raise ArenaError(f"cannot open the MLflow tracking store {mask_secrets(tracking_uri)}: {error}") from None


def _experiments(client: MlflowClient, view: int = ViewType.ACTIVE_ONLY) -> dict[str, str]:
    """Experiments (the active ones unless told otherwise): id -> name."""
    found: dict[str, str] = {}
    token = None
    while True:
        page = client.search_experiments(view_type=view, max_results=1000, page_token=token)
        found.update({experiment.experiment_id: experiment.name for experiment in page})
        token = page.token
        if not token:
            return found


def _search(client: MlflowClient, ids: list[str], query: str, experiments: dict[str, str]) -> list[RunRecord]:
    """All pages of one run search, as records."""
    records, token = [], None
    while True:
        with _collector_paused():
            page = client.search_runs(
                ids, filter_string=query, run_view_type=ViewType.ACTIVE_ONLY, max_results=_PAGE, page_token=token
            )
        for run in page:
            info, data = run.info, run.data
            records.append(
                RunRecord(
                    run_id=info.run_id,
                    experiment=experiments.get(info.experiment_id, info.experiment_id),
                    run_name=info.run_name or "",
                    status=info.status,
                    start_ms=info.start_time,
                    end_ms=info.end_time,
                    tags=dict(data.tags),
                    params=dict(data.params),
                    metrics=dict(data.metrics),  # MLflow keeps each metric's value at its highest step
                )
            )
        token = page.token
        if not token:
            return records


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while MLflow loads a page of runs.

    MLflow's SQL store builds a few ORM objects per tag, param and metric (about 23 per arena run);
    with the collector on, its repeated full passes over those young objects took 3 to 5 times
    longer than the loading itself. Nothing of a page is garbage until the page is done, so the
    pause frees nothing later than it would have been freed. Counted, so concurrent reads in one
    process leave the collector as they found it.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()
