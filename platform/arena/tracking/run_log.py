"""Write arena's runs to MLflow: one run per job, metrics once per epoch, spec and checkpoint artifacts.

The contract (docs/mlflow.md): tags arena.model / arena.family / arena.dataset / arena.kind, params the
flattened spec plus model.params and model.gflops, metrics per epoch with step = epoch (from 1).
For MLflow's runs table, model.params and model.gflops are metrics too (step 0) and each epoch adds
best_val_top1_error and best_val_top5_error, the lowest so far: numbers it can sort.
A retried or resumed run logs into the same MLflow run and never logs an epoch twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from arena.errors import ArenaError
from arena.tracking.client import client_for
from arena.tracking.experiment_views import experiment_tags, summary_metrics

EPOCH_METRICS = ("train_loss", "val_loss", "val_top1_error", "val_top5_error", "images_per_second", "lr", "images_skipped")
_MAX_PARAMS_PER_BATCH = 100


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str, *, leaderboard_view: bool = True) -> str:
    """The id of experiment `name`, created (artifacts under `artifact_root`) when missing, tagged for MLflow's UI.

    The tags (experiment_views.py) make MLflow show it as a model-training experiment and, with
    `leaderboard_view`, give its runs table arena's "Leaderboard" view.
    """
    try:
        found = client.get_experiment_by_name(name)
    except MlflowException as error:
        raise ArenaError(f"cannot reach the MLflow tracking store: {error.message}") from None
    except Exception as error:  # requests' connection errors and friends for an http:// store
        raise ArenaError(f"cannot reach the MLflow tracking store: {error}") from None
    if found is not None and found.lifecycle_stage == "deleted":
        raise ArenaError(
            f"the MLflow experiment {name!r} is deleted (in the MLflow UI or with `mlflow experiments delete`); "
            f"restore it (`mlflow experiments restore --experiment-id {found.experiment_id}`) or name another "
            "experiment in the spec (experiment: NAME)"
        )
    if found is not None:
        _tag_experiment(client, found.experiment_id, found.tags, leaderboard_view)
        return found.experiment_id
    location = None
    if not client.tracking_uri.startswith(("http://", "https://", "databricks")):
        location = (Path(artifact_root) / name).resolve().as_uri()
    try:
        return client.create_experiment(
            name, artifact_location=location, tags=experiment_tags({}, leaderboard_view=leaderboard_view)
        )
    except MlflowException:  # another process created it first
        found = client.get_experiment_by_name(name)
        assert found is not None
        _tag_experiment(client, found.experiment_id, found.tags, leaderboard_view)
        return found.experiment_id


def _tag_experiment(client: MlflowClient, experiment_id: str, current: Mapping[str, str], leaderboard_view: bool) -> None:
    """Set the experiment's missing or outdated UI tags."""
    for key, value in experiment_tags(current, leaderboard_view=leaderboard_view).items():
        try:
            client.set_experiment_tag(experiment_id, key, value)
        except MlflowException:  # e.g. no edit permission on a shared server: how the UI looks is not worth a failed job
            return


def start_run(
    tracking_uri: str,
    artifact_root: str,
    *,
    experiment: str,
    run_name: str,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    parent_run_id: str | None = None,
) -> str:
    """Create a RUNNING run with its tags and params; return its id."""
    client = client_for(tracking_uri)
    experiment_id = ensure_experiment(client, experiment, artifact_root)
    all_tags = dict(tags)
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
    run_id = run.info.run_id
    items = [Param(key, str(value)[:6000]) for key, value in params.items()]
    for start in range(0, len(items), _MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=items[start : start + _MAX_PARAMS_PER_BATCH])
    now = int(time.time() * 1000)
    sizes = [Metric(key, value, now, 0) for key, value in summary_metrics(params).items()]
    if sizes:
        client.log_batch(run_id, metrics=sizes)
    return run_id


def logged_epochs(tracking_uri: str, run_id: str, key: str = "val_top1_error") -> set[int]:
    """Epochs (steps) already logged for `key` in this run."""
    client = client_for(tracking_uri)
    return {metric.step for metric in client.get_metric_history(run_id, key)}


def log_epochs(tracking_uri: str, run_id: str, history: Iterable[Mapping[str, float]]) -> list[int]:
    """Log each epoch's metrics (`epoch` key = step) unless MLflow already has it; return what was logged.

    Called with the full history a checkpoint carries, so an epoch whose logging was lost to a crash
    is filled in after a restart, and one that was logged is not logged again.
    """
    client = client_for(tracking_uri)
    done = logged_epochs(tracking_uri, run_id)
    now = int(time.time() * 1000)
    history = list(history)
    metrics, logged = [], []
    for row in history:
        epoch = int(row["epoch"])
        if epoch in done:
            continue
        logged.append(epoch)
        for key in EPOCH_METRICS:
            if key in row and row[key] is not None:
                metrics.append(Metric(key, float(row[key]), now, epoch))
    if metrics:
        # The best val errors so far, at the newest epoch: the runs table's leaderboard columns.
        best = summary_metrics({}, history)
        metrics += [Metric(key, value, now, max(logged)) for key, value in best.items()]
        client.log_batch(run_id, metrics=metrics)
    return logged


def set_tags(tracking_uri: str, run_id: str, tags: Mapping[str, str]) -> None:
    """Set tags on a run in one call."""
    client_for(tracking_uri).log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_artifacts(tracking_uri: str, run_id: str, local_dir: Path, artifact_path: str | None = None) -> None:
    """Upload a folder's files as the run's artifacts under `artifact_path`."""
    client_for(tracking_uri).log_artifacts(run_id, str(local_dir), artifact_path)


def log_text(tracking_uri: str, run_id: str, text: str, artifact_file: str) -> None:
    """Store `text` as an artifact file of the run."""
    client_for(tracking_uri).log_text(run_id, text, artifact_file)


def set_status(tracking_uri: str, run_id: str, status: str) -> None:
    """Mark a run FINISHED, FAILED, KILLED or RUNNING again (for a resume)."""
    client = client_for(tracking_uri)
    if status == "RUNNING":
        client.update_run(run_id, status="RUNNING")
    else:
        client.set_terminated(run_id, status=status)


def get_run_summary(tracking_uri: str, run_id: str) -> dict:
    """Tags, params, status and latest metrics of a run; an unknown id raises ArenaError."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).exists():
        # Looking a run up must not create an empty store as a side effect.
        raise ArenaError(f"no MLflow run {run_id!r}: the tracking store {tracking_uri} does not exist")
    client = client_for(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ArenaError(f"no MLflow run {run_id!r} in {tracking_uri}") from None
    return {
        "run_id": run.info.run_id,
        "status": run.info.status,
        "run_name": run.info.run_name,
        "experiment_id": run.info.experiment_id,
        "artifact_uri": run.info.artifact_uri,
        "tags": dict(run.data.tags),
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
    }


def download_artifacts(tracking_uri: str, run_id: str, path: str, dst: Path) -> Path:
    """Download a run's artifact (file or folder) to `dst`; a missing one raises ArenaError."""
    dst.mkdir(parents=True, exist_ok=True)
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst), tracking_uri=tracking_uri))
    except (MlflowException, OSError) as error:
        raise ArenaError(f"run {run_id} has no artifact {path!r}: {error}") from None
