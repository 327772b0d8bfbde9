"""Run priced candidates as Ray Tune trials, each through the one training path (run_training).

A trial is a Tune function trainable (the "driver") that trains its candidate's JobSpec with
`run_training`, which builds a Ray Train V2 TorchTrainer; `TuneReportCallback` passes each epoch's
metrics to Tune, so ASHA ranks trials per epoch (training_iteration = epoch) by the search's
`TrialMetric`: `val_top1_error` (lowest first) by default, or a metric the search scores from each
epoch's report (the NAS search's reward, highest first). Every trial opens its own MLflow run
nested under the search's parent run. Shared by every search.

Candidates are either known up front (a list of TrialRequests, grid or TPE over their ids) or
proposed while the search runs by a Tune `Searcher` whose configs carry each trial's own job
under "spec" (the NAS search); then `requests` holds the one template job they share.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import ray
from ray import tune
from ray.tune.integration.ray_train import CHECKPOINT_PATH_KEY, TuneReportCallback
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import Searcher

from arena.search.core.spec import TuneSpec
from arena.settings import Settings, load_settings, settings_environment
from arena.spec import JobSpec, parse_spec
from arena.tracking import run_log, search_log
from arena.training.checks import check_resources
from arena.training.placement import TRIAL_DRIVER_CPUS, concurrent_trials, node_capacities, runs_in_local_mode
from arena.training.reporting import CHECKPOINTS_KEPT
from arena.training.scratch import sweep_every_node

if TYPE_CHECKING:
    from ray.train import Checkpoint
    from ray.train.v2._internal.execution.context import TrainRunContext


Progress = Callable[[str], None]
TrialStatus = Literal["completed", "stopped", "failed"]


def print_progress(line: str) -> None:
    """Write a progress line to stderr (stdout stays free for JSON)."""
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class TrialMetric:
    """What the scheduler ranks trials by: a metric of every epoch's report, and which way is better."""

    name: str
    mode: Literal["min", "max"]
    score: Callable[[Mapping[str, Any], Mapping[str, Any]], float] | None = None
    """Computes the metric from the trial's config and one epoch's metrics; None when training reports it.

    It runs inside Ray (the trial's Train controller), so it must pickle: a module-level function
    or a partial of one.
    """


VAL_ERROR = TrialMetric("val_top1_error", "min")
"""The epoch's val top-1 error (percent), lowest first: what training reports and the scaling search ranks by."""


class ScoredReportCallback(TuneReportCallback):
    """Pass each epoch's metrics to Tune with the search's own metric added, `name` = score(metrics)."""

    def __init__(self, name: str, score: Callable[[Mapping[str, Any]], float]) -> None:
        super().__init__()
        self.name = name
        self.score = score

    def after_report(self, run_context: TrainRunContext, metrics: list[dict[str, Any]], checkpoint: Checkpoint | None) -> None:
        super().after_report(run_context, [{**row, self.name: self.score(row)} for row in metrics], checkpoint)


def report_callback(metric: TrialMetric, config: Mapping[str, Any]) -> TuneReportCallback:
    """The callback that reports a trial's epochs to Tune, scoring `metric` when training does not report it."""
    if metric.score is None:
        return TuneReportCallback()
    return ScoredReportCallback(metric.name, partial(metric.score, config))


@dataclass(frozen=True)
class TrialRequest:
    """One candidate to train: its id and the full job it trains."""

    id: str
    spec: JobSpec


@dataclass(frozen=True)
class TrialOutcome:
    """What one Tune trial came to."""

    id: str
    status: TrialStatus
    """completed: trained every epoch; stopped: cut short by the scheduler; failed: raised."""
    val_top1_error: float | None
    """The last epoch's error (percent)."""
    epochs: int
    run_id: str | None
    """The trial's nested MLflow run."""
    error: str | None = None
    checkpoint_path: str | None = None
    """Its last checkpoint in ARENA_STORAGE (Tune stops a trial before the launcher uploads it to MLflow)."""


def keep_checkpoint(outcome: TrialOutcome, settings: Settings) -> None:
    """Upload a trial's last checkpoint as its MLflow run's `checkpoint/`, so `arena eval` can load it."""
    if outcome.run_id is None or outcome.checkpoint_path is None:
        return
    import tempfile

    import pyarrow.fs
    from ray.train import Checkpoint

    remote = "://" in settings.storage and not settings.storage.startswith("file://")
    filesystem = pyarrow.fs.FileSystem.from_uri(settings.storage)[0] if remote else None
    with tempfile.TemporaryDirectory(prefix="arena-winner-") as folder:
        Checkpoint(outcome.checkpoint_path, filesystem=filesystem).to_directory(folder)
        run_log.log_artifacts(settings.tracking_uri, outcome.run_id, Path(folder), "checkpoint")


def _drive_trial(
    config: dict[str, Any], *, specs: Mapping[str, dict[str, Any]], kind: str, parent_run_id: str,
    environment: dict[str, str], metric: TrialMetric,
) -> None:
    """Train one candidate (Tune's function trainable; runs in a Ray actor that Tune reuses for the next trial).

    A single-worker candidate trains right here, in Ray Train's local mode, and reports each epoch
    to Tune itself; a multi-worker one gets a worker group whose reports `report_callback` passes on.
    """
    # The trial's actor may live on a cluster started without arena's settings, and the candidate's
    # model is resolved by name from ARENA_HOME: give it the search's settings first.
    os.environ.update(environment)
    from arena.training.launcher import run_training

    candidate = config["candidate"]
    run_training(
        parse_spec(config.get("spec") or specs[candidate]),
        load_settings(),
        kind=kind,
        parent_run_id=parent_run_id,
        extra_tags={"arena.candidate": candidate, "arena.trial": tune.get_context().get_trial_id()},
        callbacks=[report_callback(metric, config)],
        show_progress=False,
        in_trial=True,
        trial_score=partial(_scored, metric, config) if metric.score is not None else None,
    )


def _scored(metric: TrialMetric, config: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, float]:
    """The search's own metric for one epoch's report (local mode: added before the report reaches Tune)."""
    return {metric.name: metric.score(config, row)}


class _ProgressCallback(tune.Callback):
    """Print each trial's start, epochs and end on the driver side."""

    def __init__(self, progress: Progress, epochs: int, metric: TrialMetric) -> None:
        self.progress = progress
        self.epochs = epochs
        self.metric = metric

    def _describe(self, result: dict) -> str:
        line = f"val_top1_error {result.get(VAL_ERROR.name, float('nan')):.2f}%"
        if self.metric.name != VAL_ERROR.name:
            line += f", {self.metric.name} {result.get(self.metric.name, float('nan')):.4f}"
        return line

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.progress(f"trial {trial.config['candidate']}: started")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.progress(
            f"trial {trial.config['candidate']}: epoch {result.get('training_iteration')}/{self.epochs} {self._describe(result)}"
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        done = int(result.get("training_iteration", 0))
        how = "finished" if done >= self.epochs else f"stopped early by the scheduler after {done} epochs"
        self.progress(f"trial {trial.config['candidate']}: {how}, {self._describe(result)}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.progress(f"trial {trial.config['candidate']}: failed")


def trial_actor_resources(spec: JobSpec, settings: Settings) -> dict[str, float]:
    """What a trial's Tune actor asks for: the worker itself in local mode, else a driver's sliver (its workers leave room for it)."""
    wanted = spec.resources
    if not runs_in_local_mode(wanted.workers, wanted.gpus_per_worker, wanted.max_failures, in_trial=True,
                              allowed=wanted.local_mode):
        return {"CPU": TRIAL_DRIVER_CPUS}
    cpus = wanted.cpus_per_worker or check_resources(spec, in_trial=True).cpus_per_worker
    return {"CPU": cpus, **({"GPU": float(wanted.gpus_per_worker)} if wanted.gpus_per_worker else {})}


def trials_that_fit(request: TrialRequest, settings: Settings) -> int:
    """How many trials of this size the connected cluster's nodes hold at once, each with its own actor (at least one)."""
    resources = check_resources(request.spec, in_trial=True)  # a trial that cannot fit is one line, exit 2
    return concurrent_trials(node_capacities(ray.nodes()), resources, 0.0 if resources.local else TRIAL_DRIVER_CPUS)


def experiment_path(settings: Settings, parent_run_id: str) -> str:
    """Where Tune keeps a search's state (ARENA_STORAGE/search-<parent run id>): shared storage on a cluster."""
    return f"{settings.storage.rstrip('/')}/search-{parent_run_id}"


def can_continue(settings: Settings, parent_run_id: str) -> bool:
    """True when Tune's state of the search is in ARENA_STORAGE, so a new driver can continue it."""
    return tune.Tuner.can_restore(experiment_path(settings, parent_run_id))


def trial_trainable(
    requests: Sequence[TrialRequest], settings: Settings, *, kind: str, parent_run_id: str, metric: TrialMetric,
) -> Any:
    """Tune's trainable for the search's trials: `_drive_trial` with its parameters and its actor's resources."""
    return tune.with_resources(
        tune.with_parameters(
            _drive_trial, specs={r.id: r.spec.model_dump(mode="json") for r in requests}, kind=kind,
            parent_run_id=parent_run_id, environment=settings_environment(settings), metric=metric,
        ),
        trial_actor_resources(requests[0].spec, settings),
    )


def restore_tuner(
    requests: Sequence[TrialRequest], settings: Settings, *, kind: str, parent_run_id: str, metric: TrialMetric,
) -> tune.Tuner:
    """The search's Tuner from its state in ARENA_STORAGE: finished trials kept, unfinished and failed ones run again.

    Tune restores the scheduler, the searcher (a Searcher that saves its state, as `NasSearcher` does)
    and each trial's config; a trial that reported a checkpoint continues from it.
    """
    return tune.Tuner.restore(
        experiment_path(settings, parent_run_id),
        trainable=trial_trainable(requests, settings, kind=kind, parent_run_id=parent_run_id, metric=metric),
        resume_unfinished=True, resume_errored=True,
    )


def reload_searcher(searcher: Searcher, settings: Settings, parent_run_id: str) -> None:
    """Give `searcher` what Tune's own copy of it learnt, as saved with the experiment (a continued search's).

    Tune runs a continued search with the searcher it saved; the plan reads the candidates from its own.
    """
    import tempfile

    import pyarrow.fs

    filesystem, folder = pyarrow.fs.FileSystem.from_uri(experiment_path(settings, parent_run_id))
    saved = [info for info in filesystem.get_file_info(pyarrow.fs.FileSelector(folder))
             if info.base_name.startswith("searcher-state-") and info.base_name.endswith(".pkl")]
    with tempfile.TemporaryDirectory(prefix="arena-searcher-") as local:
        for info in saved:
            with filesystem.open_input_stream(info.path) as stream:
                (Path(local) / info.base_name).write_bytes(stream.readall())
        if saved:
            searcher.restore_from_dir(local)


def build_tuner(
    requests: Sequence[TrialRequest], tuning: TuneSpec, settings: Settings, *, kind: str, parent_run_id: str,
    progress: Progress, searcher: Searcher | None = None, metric: TrialMetric = VAL_ERROR,
) -> tune.Tuner:
    """Assemble the Tuner: driver resources, searcher, scheduler ranking by `metric`, concurrency and progress.

    With `searcher`, it proposes tuning.num_samples trials (configs with "candidate" and "spec").
    Its state goes to `experiment_path`, so a search whose driver died can be continued (`restore_tuner`).
    """
    epochs = max(request.spec.train.epochs for request in requests)
    ids = [request.id for request in requests]
    if tuning.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="training_iteration", max_t=epochs, grace_period=min(tuning.grace_period, epochs),
            reduction_factor=tuning.reduction_factor,
        )
    else:
        scheduler = FIFOScheduler()
    search_alg, num_samples = None, 1
    param_space: dict[str, Any] = {"candidate": tune.grid_search(ids)}
    if searcher is not None:
        search_alg, num_samples, param_space = searcher, tuning.num_samples, {}
    elif tuning.searcher == "tpe":
        from ray.tune.search.optuna import OptunaSearch

        search_alg, num_samples = OptunaSearch(seed=tuning.seed), tuning.num_samples
        param_space = {"candidate": tune.choice(ids)}
    return tune.Tuner(
        trial_trainable(requests, settings, kind=kind, parent_run_id=parent_run_id, metric=metric),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=metric.name, mode=metric.mode, scheduler=scheduler, search_alg=search_alg, num_samples=num_samples,
            max_concurrent_trials=tuning.max_concurrent or trials_that_fit(requests[0], settings),
            # The next trial reuses a finished trial's actor: torch, the model code and the data
            # stay loaded, and a local-mode trial starts training in well under a second.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"search-{parent_run_id}", storage_path=settings.storage, verbose=0,
            callbacks=[_ProgressCallback(progress, epochs, metric)],
            # Local mode has no worker-group retries: Tune restarts a failed trial from its last checkpoint.
            failure_config=tune.FailureConfig(max_failures=max(r.spec.resources.max_failures for r in requests)),
            # A local-mode trial reports its checkpoints to Tune, which would keep every epoch's.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
        ),
    )


@contextlib.contextmanager
def closing_parent_run(settings: Settings, parent_run_id: str) -> Iterator[None]:
    """Mark a search's parent run FINISHED when the block ends, or FAILED/KILLED with its open trials."""
    try:
        yield
    except BaseException as error:
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        run_log.set_status(settings.tracking_uri, parent_run_id, status)
        search_log.close_unfinished_children(settings.tracking_uri, parent_run_id, status=status, reason="search ended")
        raise
    run_log.set_status(settings.tracking_uri, parent_run_id, "FINISHED")


def run_trials(
    requests: Sequence[TrialRequest], tuning: TuneSpec, settings: Settings, *, kind: str, parent_run_id: str,
    progress: Progress = print_progress, searcher: Searcher | None = None, metric: TrialMetric = VAL_ERROR,
    verbose: bool = False, restore: bool = False,
) -> list[TrialOutcome]:
    """Train the candidates as Tune trials ranked by `metric` (Ray must be connected); return one outcome per trial.

    With `restore`, continue the search from Tune's state in ARENA_STORAGE (`restore_tuner`): the
    outcomes then cover the trials that finished before too. Tune prints its experiment banner with
    plain print() even at verbose=0: it is dropped unless `verbose`, and then goes to stderr, so
    stdout stays free for the search's JSON.
    """
    if settings.ray_address is not None:  # the data, storage and tracking every trial needs, once, on the nodes
        from arena.training.checks import check_on_nodes

        check_on_nodes(requests[0].spec, settings)
    if restore:
        tuner = restore_tuner(requests, settings, kind=kind, parent_run_id=parent_run_id, metric=metric)
    else:
        tuner = build_tuner(
            requests, tuning, settings, kind=kind, parent_run_id=parent_run_id, progress=progress, searcher=searcher,
            metric=metric,
        )
    with contextlib.redirect_stdout(sys.stderr if verbose else io.StringIO()):
        grid = tuner.fit()
    if restore and searcher is not None:
        reload_searcher(searcher, settings, parent_run_id)
    # A trial the scheduler stops is killed mid-run: its nested MLflow run never closed itself, and
    # its process may have left a checkpoint folder in its host's temp dir.
    search_log.close_unfinished_children(settings.tracking_uri, parent_run_id, reason="scheduler")
    sweep_every_node()
    # A trial that ran again after its search was continued has a second run; the first, KILLED when
    # the search's driver died, is not the one its outcome describes.
    children = sorted(search_log.child_runs(settings.tracking_uri, parent_run_id), key=lambda run: run["status"] == "KILLED",
                      reverse=True)
    runs = {str(run["tags"].get("arena.trial")): str(run["run_id"]) for run in children}
    epochs = {request.id: request.spec.train.epochs for request in requests}
    template_epochs = max(epochs.values())
    outcomes = []
    for result in grid:
        candidate = result.config["candidate"]
        metrics = result.metrics or {}
        done = int(metrics.get("training_iteration", 0))
        wanted = epochs.get(candidate, template_epochs)
        status: TrialStatus = "failed" if result.error else ("completed" if done >= wanted else "stopped")
        error = metrics.get(VAL_ERROR.name)
        outcome = TrialOutcome(
            id=candidate, status=status, val_top1_error=None if error is None else float(error), epochs=done,
            run_id=runs.get(str(metrics.get("trial_id"))),
            error=str(result.error).strip().splitlines()[-1] if result.error else None,
            # A worker group's checkpoint comes through TuneReportCallback; a local-mode trial reported its own to Tune.
            checkpoint_path=metrics.get(CHECKPOINT_PATH_KEY) or (result.checkpoint.path if result.checkpoint else None),
        )
        if outcome.status == "stopped" and outcome.run_id:
            # Tune stops a trial by interrupting its training, which the launcher may have logged as FAILED.
            search_log.mark_stopped(settings.tracking_uri, outcome.run_id, reason="scheduler")
        elif outcome.status == "completed" and outcome.run_id:
            # ASHA also stops a trial at its last epoch (max_t), before the launcher closes its run.
            search_log.mark_completed(settings.tracking_uri, outcome.run_id)
        outcomes.append(outcome)
    return outcomes
