"""Keep the leaderboard inside MLflow: one run named `leaderboard` holding its tables and its HTML page.

MLflow's `log_table` appends to an existing table, so a refresh writes a fresh run and then deletes
the older `leaderboard` runs: the experiment always shows one current run. Two refreshes at once
each delete only runs older than their own, so neither removes the other's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from arena.errors import ArenaError
from arena.tracking.run_log import client_for, ensure_experiment

RUN_NAME = "leaderboard"
KIND = "leaderboard"


def replace_leaderboard_run(
    tracking_uri: str,
    artifact_root: str,
    *,
    experiment: str,
    tables: Mapping[str, tuple[Sequence[str], Sequence[Mapping[str, Any]]]],
    texts: Mapping[str, str],
    tags: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
) -> str:
    """Write `tables` (artifact file -> (columns, rows)) and `texts` (artifact file -> text) to a new run; drop older ones."""
    client = client_for(tracking_uri)
    experiment_id = ensure_experiment(client, experiment, artifact_root)
    try:
        run = client.create_run(experiment_id, run_name=RUN_NAME, tags={"arena.kind": KIND, **(tags or {})})
        run_id = run.info.run_id
        for artifact_file, (columns, rows) in tables.items():
            client.log_table(run_id, {column: [row.get(column) for row in rows] for column in columns}, artifact_file)
        for artifact_file, text in texts.items():
            client.log_text(run_id, text, artifact_file)
        for key, value in (metrics or {}).items():
            client.log_metric(run_id, key, float(value))
        client.set_terminated(run_id, status="FINISHED")
        older = client.search_runs(
            [experiment_id], filter_string=f"attributes.run_name = '{RUN_NAME}'", run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1000,
        )
        for other in older:
            if other.info.run_id != run_id and (other.info.start_time or 0) < (run.info.start_time or 0):
                client.delete_run(other.info.run_id)
    except MlflowException as error:
        raise ArenaError(f"cannot write the leaderboard to MLflow at {tracking_uri}: {error.message}") from None
    return run_id
