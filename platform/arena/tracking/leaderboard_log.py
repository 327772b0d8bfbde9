"""Keep the leaderboard inside MLflow: one current run named `leaderboard` holding its tables and its HTML page.

Every publication rewrites the same run, so its id, and the address of its page, stay put. Readers
find it by name and tag (`find_leaderboard_run`). MLflow's `log_table` appends to an existing table,
so the tables are written as MLflow's table JSON (`{"columns", "data"}`, what `log_table` writes) and
listed in the `mlflow.loggedArtifacts` tag as `log_table` does. Two first publications at once may
each create a run; both then keep the older one (by start time, then id) and delete the other.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow.entities import Metric, Run, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from arena.errors import ArenaError
from arena.tracking.client import client_for
from arena.tracking.run_log import ensure_experiment

RUN_NAME = "leaderboard"
KIND = "leaderboard"
PAGE = "leaderboard.html"
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
_FILTER = f"attributes.run_name = '{RUN_NAME}' and tags.`arena.kind` = '{KIND}'"


def publish_leaderboard_run(
    tracking_uri: str,
    artifact_root: str,
    *,
    experiment: str,
    tables: Mapping[str, tuple[Sequence[str], Sequence[Mapping[str, Any]]]],
    texts: Mapping[str, str],
    tags: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
) -> str:
    """Write `tables` (artifact file -> (columns, rows)) and `texts` (artifact file -> text) to the current run; return its id."""
    client = client_for(tracking_uri)
    experiment_id = ensure_experiment(client, experiment, artifact_root, leaderboard_view=False)
    try:
        run = _current_run(client, experiment_id)
        run_id = run.info.run_id
        for artifact_file, (columns, rows) in tables.items():
            table = {"columns": list(columns), "data": [[row.get(column) for column in columns] for row in rows]}
            client.log_text(run_id, json.dumps(table), artifact_file)
        for artifact_file, text in texts.items():
            client.log_text(run_id, text, artifact_file)
        _drop_stale_tables(client, run, set(tables))
        now = int(time.time() * 1000)
        listed = json.dumps([{"path": path, "type": "table"} for path in tables])
        all_tags = {**(tags or {}), LOGGED_ARTIFACTS_TAG: listed, "arena.published_at": str(now)}
        client.log_batch(
            run_id, metrics=[Metric(key, float(value), now, 0) for key, value in (metrics or {}).items()],
            tags=[RunTag(key, value) for key, value in all_tags.items()],
        )
    except MlflowException as error:
        raise ArenaError(f"cannot write the leaderboard to MLflow at {client.tracking_uri}: {error.message}") from None
    return run_id


def find_leaderboard_run(client: MlflowClient, experiment: str) -> tuple[str, str] | None:
    """(experiment id, run id) of the current leaderboard run in `experiment`; None when never published."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = _leaderboard_runs(client, found.experiment_id)
    return (found.experiment_id, runs[0].info.run_id) if runs else None


def _current_run(client: MlflowClient, experiment_id: str) -> Run:
    """The experiment's leaderboard run, created (FINISHED) on first use; racing duplicates are deleted."""
    runs = _leaderboard_runs(client, experiment_id)
    if not runs:
        created = client.create_run(experiment_id, run_name=RUN_NAME, tags={"arena.kind": KIND})
        client.set_terminated(created.info.run_id, status="FINISHED")
        runs = _leaderboard_runs(client, experiment_id)
    for duplicate in runs[1:]:
        client.delete_run(duplicate.info.run_id)
    return runs[0]


def _leaderboard_runs(client: MlflowClient, experiment_id: str) -> list[Run]:
    """The experiment's active leaderboard runs, oldest first (ties by id): the first is the current one."""
    runs = client.search_runs([experiment_id], filter_string=_FILTER, run_view_type=ViewType.ACTIVE_ONLY, max_results=1000)
    return sorted(runs, key=lambda run: (run.info.start_time or 0, run.info.run_id))


def _drop_stale_tables(client: MlflowClient, run: Run, current: set[str]) -> None:
    """Delete table files of datasets no longer on the leaderboard, where the artifact store allows it."""
    folders = {posixpath.dirname(path) for path in current} | {posixpath.dirname(path) for path in _listed_tables(run)}
    stale = [item.path for folder in sorted(folders - {""}) for item in client.list_artifacts(run.info.run_id, folder)
             if not item.is_dir and item.path.endswith(".json") and item.path not in current]
    if not stale:
        return
    try:
        repository = get_artifact_repository(run.info.artifact_uri, tracking_uri=client.tracking_uri)
        for path in stale:
            repository.delete_artifacts(path)
    except (NotImplementedError, MlflowException, OSError):
        pass  # a store without deletes keeps the file; the loggedArtifacts tag no longer lists it


def _listed_tables(run: Run) -> list[str]:
    """The table files the run's loggedArtifacts tag lists."""
    try:
        return [item["path"] for item in json.loads(run.data.tags.get(LOGGED_ARTIFACTS_TAG, "[]")) if "path" in item]
    except (json.JSONDecodeError, TypeError):
        return []


def ui_pages(tracking_uri: str, artifact_root: str, *, experiment: str, leaderboard_experiment: str) -> tuple[str, tuple[str, str] | None]:
    """The id of `experiment` (created and tagged when missing) and the current leaderboard run, for `arena ui`."""
    client = client_for(tracking_uri)
    experiment_id = ensure_experiment(client, experiment, artifact_root)
    try:
        leaderboard = find_leaderboard_run(client, leaderboard_experiment)
        if leaderboard is not None:
            ensure_experiment(client, leaderboard_experiment, artifact_root, leaderboard_view=False)  # its kind, for older stores
    except MlflowException as error:
        raise ArenaError(f"cannot read the leaderboard run from MLflow: {error.message}") from None
    return experiment_id, leaderboard
