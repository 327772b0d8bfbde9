"""Record evaluations and ensembles in MLflow, so the leaderboard's sync finds them like training runs.

The run is opened with `run_log.start_run`, then `log_evaluation` and `finish_evaluation` fill and close it.
An evaluation is a run nested under the evaluated run (arena.kind = eval); an ensemble is a run of
its own (arena.kind = ensemble, arena.members = the member run ids). Both carry val_top1_error and
val_top5_error, the full result as `evaluation.json` and the per-class errors as an MLflow table.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Metric

from arena.tracking import run_log
from arena.tracking.client import client_for

RESULT_ARTIFACT = "evaluation.json"
TABLE_ARTIFACT = "per_class_errors.json"


def experiment_name(tracking_uri: str, experiment_id: str) -> str:
    """The name of experiment `experiment_id`."""
    return client_for(tracking_uri).get_experiment(experiment_id).name


def log_evaluation(
    tracking_uri: str, run_id: str, *, metrics: Mapping[str, float], step: int, per_class: Sequence[Mapping[str, Any]]
) -> None:
    """Log an evaluation run's metrics (at `step`) and its per-class table; a failure marks the run FAILED."""
    try:
        client = client_for(tracking_uri)
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(key, float(value), now, step) for key, value in metrics.items()])
        if per_class:
            columns = {key: [row[key] for row in per_class] for key in per_class[0]}
            client.log_table(run_id, data=columns, artifact_file=TABLE_ARTIFACT)
    except BaseException:
        run_log.set_status(tracking_uri, run_id, "FAILED")
        raise


def finish_evaluation(tracking_uri: str, run_id: str, result: Mapping[str, Any]) -> None:
    """Store the full result as evaluation.json and mark the run FINISHED (the leaderboard syncs it then)."""
    try:
        run_log.log_text(tracking_uri, run_id, json.dumps(result, indent=2) + "\n", RESULT_ARTIFACT)
    except BaseException:
        run_log.set_status(tracking_uri, run_id, "FAILED")
        raise
    run_log.set_status(tracking_uri, run_id, "FINISHED")


def read_evaluation(tracking_uri: str, run_id: str) -> dict[str, Any]:
    """The evaluation.json of an eval or ensemble run."""
    with tempfile.TemporaryDirectory(prefix="arena-eval-") as folder:
        path = run_log.download_artifacts(tracking_uri, run_id, RESULT_ARTIFACT, Path(folder))
        return json.loads(path.read_text())
