"""The one training path: check a job, open its MLflow run, run it on Ray Train V2, close the run.

`arena train`, a job submitted to a cluster and every search trial call `run_training`.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from arena import kinds, models
from arena.data.layout import dataset_identity
from arena.errors import RunFailed
from arena.services import require_tracking_store
from arena.settings import Settings
from arena.spec import JobSpec, spec_to_yaml
from arena.training import ray_driver
from arena.training.checks import check_job, check_jobs, check_on_nodes, check_resources, check_resume
from arena.training.resume import DRIVER_TAG, driver_tag


@dataclass(frozen=True)
class TrainResult:
    """What `arena train --format json` prints (docs/commands.md)."""

    run_id: str
    val_top1_error: float | None
    val_top5_error: float | None
    epochs: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def describe_batch(spec: JobSpec) -> str:
    """One line: the global batch as workers x micro-batch x accumulation steps, and the scaled lr."""
    train, workers = spec.train, spec.resources.workers
    micro = train.micro_batch(workers)
    line = (f"{spec.name}: global batch {train.batch_size} = {workers} worker(s) x {micro} images x "
            f"{train.accumulation_steps} accumulation step(s); lr {train.scaled_lr():.6g}")
    if train.optimizer.reference_batch and train.optimizer.reference_batch != train.batch_size:
        line += f" ({train.optimizer.lr:g} at the reference batch {train.optimizer.reference_batch}, scaled linearly)"
    if micro * workers * train.accumulation_steps != train.batch_size:
        line += f"; {micro * workers * train.accumulation_steps} images per step after rounding down"
    return line


def run_tags(
    spec: JobSpec, kind: str, extra: dict[str, str] | None = None, *, home: Path | None = None, dataset: str | None = None
) -> dict[str, str]:
    """The arena.* tags of a run (docs/mlflow.md); a saved model is read from `home`.

    `dataset` is the data's name as a host that holds it computed it (`dataset_where_read`); None
    leaves `arena.dataset` to the run's first worker.
    """
    info = models.get_model_info(spec.model, home)
    return {
        "arena.model": spec.model,
        "arena.family": info.family,
        **({"arena.dataset": dataset} if dataset is not None else {}),
        "arena.kind": kind,
        kinds.MEASURED_ON_TAG: kinds.HOLDOUT if spec.data.holdout else kinds.VAL,  # where val_* metrics come from
        **(extra or {}),
    }


def dataset_where_read(spec: JobSpec, settings: Settings, *, nodes_named: str | None, local: bool, in_trial: bool) -> str | None:
    """The run's `arena.dataset`, computed by a process on a host that reads the data; None: rank 0 names it.

    A trial in local mode is its own worker. A multi-worker trial's actor may sit on a host without
    the data (and never knows whether it is on a cluster: Ray does not give actors RAY_ADDRESS), so
    its first worker, which reads the data, tags the run. Without a cluster this machine trains; on
    one, the node checks named it on the worker hosts (`nodes_named`), or, with no worker host up
    yet (an autoscaler adds them), rank 0 names it too.
    """
    if in_trial:
        return dataset_identity(spec.data) if local else None
    return dataset_identity(spec.data) if settings.ray_address is None else nodes_named


def run_params(spec: JobSpec, *, home: Path | None = None) -> dict[str, str]:
    """The flattened spec plus the model's size (docs/mlflow.md); a saved model is read from `home`."""
    info = models.get_model_info(spec.model, home)
    params = spec.flat()
    params["data.image_size"] = str(spec.data.image_size or info.input.resolution)
    params["model.params"] = str(info.params)
    params["model.gflops"] = str(info.gflops)
    return params


def _prepare_store(spec: JobSpec, settings: Settings) -> None:
    from arena.tracking import run_log

    run_log.ensure_experiment(run_log.client_for(settings.tracking_uri), spec.experiment, settings.artifact_root)


def _open_run(
    spec: JobSpec, settings: Settings, kind: str, parent_run_id: str | None, extra_tags: dict[str, str] | None,
    dataset: str | None,
) -> str:
    from arena.tracking import run_log

    run_id = run_log.start_run(
        settings.tracking_uri, settings.artifact_root, experiment=spec.experiment, run_name=spec.name,
        tags={**run_tags(spec, kind, extra_tags, home=settings.home, dataset=dataset), DRIVER_TAG: driver_tag()},
        params=run_params(spec, home=settings.home),
        parent_run_id=parent_run_id,
    )
    run_log.log_text(settings.tracking_uri, run_id, spec_to_yaml(spec), "spec.yaml")
    return run_id


def _reopen_run(settings: Settings, run_id: str, dataset: str | None) -> str:
    from arena.tracking import run_log

    run_log.set_status(settings.tracking_uri, run_id, "RUNNING")
    run_log.set_tags(settings.tracking_uri, run_id, {DRIVER_TAG: driver_tag(), **({"arena.dataset": dataset} if dataset else {})})
    return run_id


def _finish_run(settings: Settings, run_id: str, name: str, checkpoint_dir: Path | None) -> None:
    """Upload the final checkpoint and mark the run FINISHED (FAILED when the upload fails); drop the local copy."""
    from arena.tracking import run_log

    try:
        if checkpoint_dir is not None:
            run_log.log_artifacts(settings.tracking_uri, run_id, checkpoint_dir, "checkpoint")
        run_log.set_status(settings.tracking_uri, run_id, "FINISHED")
    except Exception as error:
        with contextlib.suppress(Exception):  # the store may be what failed; the error below says so
            run_log.set_status(settings.tracking_uri, run_id, "FAILED")
        raise RunFailed(f"run {run_id} ({name}) trained, but its final checkpoint did not reach MLflow: "
                        f"{str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}") from error
    finally:
        if checkpoint_dir is not None:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)


def run_training(
    spec: JobSpec,
    settings: Settings,
    *,
    resume_run_id: str | None = None,
    force_resume: bool = False,
    kind: str = kinds.TRAIN,
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
    callbacks: Sequence[Any] = (),
    verbose: bool = False,
    show_progress: bool = True,
    in_trial: bool = False,
    trial_score: Callable[[Mapping[str, Any]], Mapping[str, float]] | None = None,
    announce: Callable[[str], None] | None = None,
) -> TrainResult:
    """Check `spec`, then train it with Ray Train V2 in one MLflow run (new, or `resume_run_id`'s).

    Once every check has passed, `announce` gets the job's batch split and scaled lr.
    """
    check_job(spec, settings, in_trial=in_trial)
    require_tracking_store(settings.tracking_uri, settings.tracking_auth)  # a dead store fails now, not after Ray starts
    if resume_run_id:
        check_resume(spec, settings, resume_run_id, force=force_resume)
    ray_driver.probe(settings)
    if announce is not None:
        announce(describe_batch(spec))
    # While Ray starts: import torch, Ray Train and MLflow, and open the MLflow store (a first
    # use creates its tables). The run itself is created only once the cluster can take the job.
    preloading = ray_driver.preload(then=lambda: _prepare_store(spec, settings),
                                    modules=ray_driver.driver_modules([spec], in_trial=in_trial))
    started_ray = ray_driver.connect(settings, verbose=verbose)
    try:
        nodes_named = None
        if settings.ray_address is not None and not in_trial:  # a search checks the nodes once (`run_trials`)
            nodes_named = check_on_nodes(spec, settings)
        resources = check_resources(spec, in_trial=in_trial)
        if resources.local and not in_trial:  # its lane starts while the imports finish and the run opens
            ray_driver.prestart_lane(resources, settings)
        dataset = dataset_where_read(spec, settings, nodes_named=nodes_named, local=resources.local, in_trial=in_trial)
        preloading.result()
        from arena.tracking import run_log

        if resume_run_id:
            run_id = _reopen_run(settings, resume_run_id, dataset)
        else:
            run_id = _open_run(spec, settings, kind, parent_run_id, extra_tags, dataset)
        try:
            result = ray_driver.fit(spec, settings, run_id, resources, callbacks=callbacks, show_progress=show_progress,
                                 in_trial=in_trial, trial_score=trial_score, dataset=dataset)
        except KeyboardInterrupt:
            run_log.set_status(settings.tracking_uri, run_id, "KILLED")
            raise
        except Exception as error:
            run_log.set_status(settings.tracking_uri, run_id, "FAILED")
            raise RunFailed(f"run {run_id} ({spec.name}) failed: {ray_driver.describe_failure(error)}") from error
        _finish_run(settings, run_id, spec.name, result.checkpoint_dir)
        metrics = result.metrics
        return TrainResult(
            run_id=run_id,
            val_top1_error=metrics.get("val_top1_error"),
            val_top5_error=metrics.get("val_top5_error"),
            epochs=int(metrics.get("epoch", 0)),
        )
    finally:
        if started_ray:
            ray_driver.disconnect()


def run_lineup(
    specs: Sequence[JobSpec], settings: Settings, *, verbose: bool = False,
    announce: Callable[[str], None] | None = None,
) -> list[TrainResult]:
    """Check every spec first (all problems together), then train them on one Ray.

    Jobs that name their CPUs (`resources.cpus_per_worker`) run side by side when the cluster
    has room for several (a 2-core machine runs two 1-CPU jobs at once): one job's start-up
    then overlaps another's training. Jobs that take every CPU run one after another. Results
    come back in the order of `specs`; a failed job does not stop the others, and the first
    failure is raised once all have ended.
    """
    check_jobs(specs, settings)
    require_tracking_store(settings.tracking_uri, settings.tracking_auth)
    ray_driver.probe(settings)
    for spec in specs if announce is not None else ():
        announce(describe_batch(spec))
    preloading = ray_driver.preload(modules=ray_driver.driver_modules(specs))
    started_ray = ray_driver.connect(settings, verbose=verbose)
    try:
        preloading.result()
        lanes = ray_driver.lineup_lanes(specs)
        if lanes == 1:
            return [run_training(spec, settings, verbose=verbose) for spec in specs]
        pool = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="arena-lineup")
        futures = [pool.submit(run_training, spec, settings, verbose=verbose) for spec in specs]
        try:
            wait(futures)
        finally:  # on Ctrl-C: start nothing more; shutting Ray down below ends the running jobs
            pool.shutdown(wait=False, cancel_futures=True)
        failures = [future.exception() for future in futures if future.exception() is not None]
        if failures:
            raise failures[0]
        return [future.result() for future in futures]
    finally:
        if started_ray:
            ray_driver.disconnect()
