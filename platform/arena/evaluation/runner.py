"""`arena eval` and `arena ensemble`: evaluate trained runs on their val set and record the result.

Every check (run ids, checkpoints, weights that fit, one shared val set) comes before the first
prediction, and nothing is written to MLflow until the errors are known.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from torch.utils.data import Dataset

from arena import kinds, models
from arena.data.layout import data_root as data_root_of
from arena.data.layout import folder_identity
from arena.errors import ArenaError
from arena.evaluation.class_names import readable_names
from arena.evaluation.fusion import fuse, resolve_weights
from arena.evaluation.loading import TrainedRun, load_trained_run
from arena.evaluation.predict import Predictions, predict
from arena.evaluation.result import EvaluationResult, Scores, score_predictions
from arena.evaluation.valset import build_val_set, val_set_identity
from arena.settings import Settings
from arena.tracking import evaluation_log, run_log

SHARD_MIN_IMAGES = 10_000
"""From this many val images on, a connected cluster evaluates in Ray tasks; below, one process is quicker."""


@dataclass(frozen=True)
class EvalOptions:
    """How `arena eval` and `arena ensemble` measure: on which val set, with which crops, over how many tasks."""

    data_root: Path | None = None
    """Another image folder whose val/ to evaluate on; None: each run's own data."""
    crops: int = 1
    """1: the centre crop; 10: the four corners and the centre, and their mirror images."""
    top: int = 10
    """How many of the hardest classes to report."""
    workers: int | None = None
    """Ray tasks to shard the val set over; None: chosen by the val set's size."""

    def check(self) -> None:
        """Raise ArenaError for a `--top` or `--workers` out of range."""
        if self.top < 0:
            raise ArenaError(f"--top: {self.top} must be 0 or more")
        if self.workers is not None and self.workers < 1:
            raise ArenaError(f"--workers: {self.workers} must be 1 or more")


def winner_val_error(run_id: str | None, settings: Settings) -> float | None:
    """A search winner's top-1 error on val/ (None when no trial finished): the one val figure a search reports."""
    return None if run_id is None else evaluate_run(run_id, settings).val_top1_error


def evaluate_run(run_id: str, settings: Settings, options: EvalOptions = EvalOptions()) -> EvaluationResult:
    """Evaluate a trained run's checkpoint on its val set (or `options.data_root`/val); record a nested eval run."""
    options.check()
    data_root, crops = options.data_root, options.crops
    run = load_trained_run(run_id, settings)
    elsewhere = val_folder_elsewhere(run, settings, data_root)
    if elsewhere is not None:
        from arena.evaluation import sharding  # imports Ray: only when the val set is on the cluster's nodes

        return sharding.run_where_data_is(evaluate_run, elsewhere, settings, run_id, settings, options)
    dataset = build_val_set(run, home=settings.home, data_root_override=data_root, crops=crops)
    predictions = _predict(run, dataset, settings, crops=crops, workers=options.workers)
    scores = _score(predictions, run.class_names, options.top)
    tags = {
        "arena.model": run.recipe.model_name,
        "arena.family": run.tags.get("arena.family") or models.get_model_info(run.recipe.model_name, settings.home).family,
        "arena.dataset": folder_identity(data_root) if data_root else run.tags.get("arena.dataset", run.spec.data.dataset),
        "arena.kind": kinds.EVAL,
        "arena.evaluated_run": run_id,
        "arena.crops": str(crops),
    }
    params = {**run.params, **_eval_params(crops, data_root, scores)}
    suffix = "-eval-10crop" if crops == 10 else "-eval"
    eval_run_id = _record(settings, run, f"{run.run_name}{suffix}", tags, params, scores, run.epochs, parent=run_id)
    result = EvaluationResult(
        run_id=run_id, eval_run_id=eval_run_id, val_top1_error=scores.val_top1_error,
        val_top5_error=scores.val_top5_error, epochs=run.epochs, per_class=scores.per_class,
        hardest=scores.hardest, crops=crops, images=scores.images,
    )
    evaluation_log.finish_evaluation(settings.tracking_uri, eval_run_id, result.to_json())
    return result


def ensemble_runs(
    run_ids: Sequence[str],
    settings: Settings,
    *,
    weights: Sequence[float] | None = None,
    method: str | None = None,
    options: EvalOptions = EvalOptions(),
) -> EvaluationResult:
    """Fuse trained runs' predictions on their shared val set (mean, weighted or vote); record an ensemble run."""
    options.check()
    data_root, crops = options.data_root, options.crops
    ids = list(run_ids)
    if len(ids) < 2:
        raise ArenaError(f"ensemble: give at least two run ids (got {len(ids)})")
    repeated = sorted({run_id for run_id in ids if ids.count(run_id) > 1})
    if repeated:
        raise ArenaError(f"ensemble: run {', '.join(repeated)} is given more than once; use --weights to favour a run")
    method = method or ("weighted" if weights is not None else "mean")
    normalised = resolve_weights(method, weights, len(ids))
    runs = [load_trained_run(run_id, settings) for run_id in ids]
    elsewhere = val_folder_elsewhere(runs[0], settings, data_root)
    if elsewhere is not None:
        from arena.evaluation import sharding  # imports Ray: only when the val set is on the cluster's nodes

        return sharding.run_where_data_is(_ensemble_there, elsewhere, settings, ids, settings, weights, method, options)
    _check_shared_val_set(runs, settings, data_root)
    members = _predict_members(runs, settings, data_root=data_root, crops=crops, workers=options.workers)
    fused = Predictions(fuse([member.log_probs for member in members], method, normalised), members[0].labels)
    scores = _score(fused, runs[0].class_names, options.top)
    epochs = max(run.epochs for run in runs)
    tags = {
        "arena.model": "ensemble",
        "arena.family": "ensemble",
        "arena.dataset": folder_identity(data_root) if data_root else runs[0].tags.get("arena.dataset", runs[0].spec.data.dataset),
        "arena.kind": kinds.ENSEMBLE,
        "arena.members": ",".join(ids),
        "arena.method": method,
    }
    params = {**_ensemble_params(runs, method, normalised, epochs), **_eval_params(crops, data_root, scores)}
    name = "ensemble-" + "+".join(run.run_name for run in runs)
    ensemble_run_id = _record(settings, runs[0], name[:250], tags, params, scores, epochs, parent=None)
    result = EvaluationResult(
        run_id=ensemble_run_id, eval_run_id=ensemble_run_id, val_top1_error=scores.val_top1_error,
        val_top5_error=scores.val_top5_error, epochs=epochs, per_class=scores.per_class,
        hardest=scores.hardest, crops=crops, images=scores.images, kind=kinds.ENSEMBLE, members=ids,
        method=method, weights=normalised,
    )
    evaluation_log.finish_evaluation(settings.tracking_uri, ensemble_run_id, result.to_json())
    return result


def val_folder_elsewhere(run: TrainedRun, settings: Settings, data_root: Path | None) -> Path | None:
    """The val folder a run is measured on when it is not on this host but the cluster may hold it; else None.

    On a cluster the data is mounted on the worker hosts: a driver on the head (a submitted
    evaluation or search) then evaluates on a node that holds it. Synthetic and digits sets are
    made wherever they are needed.
    """
    if settings.ray_address is None:
        return None
    data = run.spec.data
    if data_root is None and data.dataset in ("synthetic", "digits"):
        return None
    root = Path(data_root).expanduser() if data_root else data_root_of(data, home=settings.home)
    return None if root is None or (root / "val").is_dir() else root / "val"


def _ensemble_there(ids: list[str], settings: Settings, weights: Sequence[float] | None, method: str | None,
                    options: EvalOptions) -> EvaluationResult:
    """`ensemble_runs` with positional arguments, as a Ray task on the node that holds the val set runs it."""
    return ensemble_runs(ids, settings, weights=weights, method=method, options=options)


def _check_shared_val_set(runs: Sequence[TrainedRun], settings: Settings, data_root: Path | None) -> None:
    """ArenaError naming the first run whose val set or classes differ from the first run's."""
    first = runs[0]
    where = val_set_identity(first, home=settings.home, data_root_override=data_root)
    for run in runs[1:]:
        other = val_set_identity(run, home=settings.home, data_root_override=data_root)
        if other != where:
            raise ArenaError(
                f"ensemble: run {run.run_id} was validated on {other}, run {first.run_id} on {where}; "
                "members must share one val set (or pass --data)"
            )
        if run.class_names != first.class_names:
            raise ArenaError(
                f"ensemble: run {run.run_id} was trained on {len(run.class_names)} classes that differ from "
                f"run {first.run_id}'s {len(first.class_names)}; members must share their classes"
            )


def _predict_members(
    runs: Sequence[TrainedRun], settings: Settings, *, data_root: Path | None, crops: int, workers: int | None
) -> list[Predictions]:
    """Each member's predictions on the shared val set, every val set built (and checked) first."""
    datasets = [build_val_set(run, home=settings.home, data_root_override=data_root, crops=crops) for run in runs]
    members = [_predict(run, dataset, settings, crops=crops, workers=workers) for run, dataset in zip(runs, datasets)]
    for run, member in zip(runs[1:], members[1:]):
        if not member.labels.equal(members[0].labels):
            raise ArenaError(
                f"ensemble: run {run.run_id} saw the val images in another order or number than run {runs[0].run_id}"
            )
    return members


def _predict(run: TrainedRun, dataset: Dataset, settings: Settings, *, crops: int, workers: int | None) -> Predictions:
    # The batch a training worker validated with, so the errors match what training logged.
    batch_size = max(1, run.spec.train.batch_size // run.spec.resources.workers)
    batch_size = max(1, batch_size // crops)
    precision = run.spec.train.precision
    if not _use_ray(settings, len(dataset), workers):
        return predict(run.model, dataset, batch_size=batch_size, precision=precision)
    from arena.evaluation import sharding  # imports Ray: only when the val set goes to the cluster

    return sharding.predict_on_ray(
        run.recipe, run.weights, dataset, settings, shards=workers, batch_size=batch_size, precision=precision
    )


def _use_ray(settings: Settings, images: int, workers: int | None) -> bool:
    """Ray tasks when asked for more than one worker, or for a large val set with a cluster at hand."""
    if workers is not None:
        return workers > 1
    ray = sys.modules.get("ray")  # not imported means not initialised; importing it costs seconds
    connected = settings.ray_address is not None or (ray is not None and ray.is_initialized())
    return connected and images >= SHARD_MIN_IMAGES


def _score(predictions: Predictions, folders: list[str], top: int) -> Scores:
    return score_predictions(predictions.log_probs, predictions.labels, folders, readable_names(folders), top=top)


def _eval_params(crops: int, data_root: Path | None, scores: Scores) -> dict[str, str]:
    return {
        "eval.crops": str(crops),
        "eval.data_root": str(data_root) if data_root else "null",
        "eval.images": str(scores.images),
    }


def _ensemble_params(
    runs: Sequence[TrainedRun], method: str, weights: list[float] | None, epochs: int
) -> dict[str, str]:
    """The leaderboard's params for an ensemble: its cost is the sum of its members'."""
    infos = [models.get_model_info(run.recipe.model_name, run.recipe.home) for run in runs]
    sizes = {run.image_size for run in runs}
    params = {
        "ensemble.method": method,
        "ensemble.weights": ",".join(f"{weight:.6g}" for weight in weights) if weights else "null",
        "ensemble.models": ",".join(run.recipe.model_name for run in runs),
        "data.dataset": runs[0].spec.data.dataset,
        "train.epochs": str(epochs),
    }
    if len(sizes) == 1:
        params["data.image_size"] = str(sizes.pop())
    if all(info.params is not None for info in infos):
        params["model.params"] = str(sum(info.params or 0 for info in infos))
    if all(info.gflops is not None for info in infos):
        params["model.gflops"] = str(round(sum(info.gflops or 0.0 for info in infos), 4))
    return params


def _record(
    settings: Settings, anchor: TrainedRun, name: str, tags: dict[str, str], params: dict[str, str],
    scores: Scores, epochs: int, *, parent: str | None,
) -> str:
    """Open the MLflow run of an evaluation in `anchor`'s experiment, with its metrics and table."""
    run_id = run_log.start_run(
        settings.tracking_uri, settings.artifact_root,
        experiment=evaluation_log.experiment_name(settings.tracking_uri, anchor.experiment_id),
        run_name=name, tags=tags, params=params, parent_run_id=parent,
    )
    evaluation_log.log_evaluation(
        settings.tracking_uri, run_id,
        metrics={
            "val_top1_error": scores.val_top1_error,
            "val_top5_error": scores.val_top5_error,
            "val_images": float(scores.images),
        },
        step=epochs, per_class=[asdict(row) for row in scores.per_class],
    )
    return run_id
