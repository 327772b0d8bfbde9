"""The Ray boundary on the driver side: connect to a cluster, size the workers, run a TorchTrainer.

Start-up is on the critical path of every run, so the driver imports torch, Ray Train and MLflow
in a background thread (`preload`) while `connect` starts or reaches Ray, not before it.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from arena.errors import ArenaError
from arena.settings import Settings, settings_environment
from arena.spec import JobSpec
from arena.training import lanes
from arena.training.placement import WorkerResources, node_capacities, plan_workers, runs_in_local_mode
from arena.training.progress import ProgressBoard, ProgressPrinter
from arena.training.reporting import CHECKPOINTS_KEPT, copy_latest_checkpoint
from arena.training.scratch import scratch_folder

NAMESPACE = "arena"
SCALE_UP_POLL_SECONDS = 5.0

DRIVER_MODULES = ("ray.train.torch", "arena.training.worker", "arena.training.epoch_logger", "arena.tracking.run_log")
"""What the driver needs after Ray is up: imported meanwhile by `preload`."""
LANE_DRIVER_MODULES = ("arena.tracking.run_log",)
"""What the driver of jobs that all train in lanes needs: MLflow. Torch is the lanes' (a second of CPU saved)."""

LOCAL_RAY_ENVIRONMENT = {
    # Preemption (a cloud node being drained) cannot happen to a Ray that arena started on this
    # machine; the watcher would be one more process starting beside the first training worker.
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
    # Ray starts its workers at niceness 15; on a machine arena shares with other programs that leaves
    # the training itself (a lane or a Train worker) a fraction of a core that a script run directly
    # would get. Ray's job manager runs a job's driver at 0 for the same reason.
    "RAY_worker_niceness": "0",
}


def driver_modules(specs: Sequence[JobSpec], *, in_trial: bool = False) -> tuple[str, ...]:
    """The modules the driver of `specs` needs: no torch when every one trains in a lane."""
    in_lanes = not in_trial and all(
        runs_in_local_mode(spec.resources.workers, spec.resources.gpus_per_worker, spec.resources.max_failures,
                           in_trial=False, allowed=spec.resources.local_mode)
        for spec in specs
    )
    return LANE_DRIVER_MODULES if in_lanes else DRIVER_MODULES


def preload(then: Callable[[], None] | None = None, modules: Sequence[str] = DRIVER_MODULES) -> Future:
    """Import the driver's heavy modules (torch, Ray Train, MLflow) in a thread, then call `then`.

    Wait on the returned future before using them; it re-raises what the thread raised.
    """

    def load() -> None:
        for name in modules:
            importlib.import_module(name)
        if then is not None:
            then()

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arena-preload")
    future = executor.submit(load)
    executor.shutdown(wait=False)
    return future


def probe(settings: Settings) -> None:
    """Fail fast, with one line, when RAY_ADDRESS names a cluster nobody answers at."""
    if settings.ray_address and not ray.is_initialized():
        _probe(settings.ray_address)


def connect(settings: Settings, *, verbose: bool = False, dashboard: bool = False) -> bool:
    """Connect to RAY_ADDRESS, or start a local Ray; return True when this call started it.

    A local Ray gets its dashboard (3 s more to start here) when a search asks for it or the user
    asked for Ray's own output: Train V2's placement-group cleaner asks the state API, which the
    dashboard serves, whether a run's controller is gone, and without it a finished Tune trial
    keeps its CPUs. A single run's controller releases them itself.
    """
    if ray.is_initialized():
        return False
    if settings.ray_address:
        _probe(settings.ray_address)
        _use_token_when_available()
    # Ray's banners and the Train controller's chatter stay out of the user's way unless asked for.
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
    if settings.ray_address is None:  # processes of a local Ray inherit this environment
        for key, value in LOCAL_RAY_ENVIRONMENT.items():
            os.environ.setdefault(key, value)
    try:
        ray.init(
            address=settings.ray_address,
            namespace=NAMESPACE,
            log_to_driver=verbose,
            logging_level=logging.INFO if verbose else logging.ERROR,
            include_dashboard=(dashboard or verbose) if settings.ray_address is None else None,
            runtime_env={"env_vars": settings_environment(settings)} if settings.ray_address is None else None,
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = settings.ray_address or "a local Ray instance"
        raise ArenaError(f"cannot connect to the Ray cluster at {where}: {str(error).splitlines()[0]}") from None
    _route_raylet_messages(verbose)
    return True


def _route_raylet_messages(verbose: bool) -> None:
    """Keep stdout for arena's results: Ray prints its raylet's warnings there, from a thread.

    (Say, "N PYTHON worker processes have been started ... 4x the maximum expected startup
    concurrency" while a search starts its trials.) They go to stderr with --verbose and to the
    `ray` logger at debug level otherwise. Ray looks its printer up by name on every message.
    """
    from ray._private import worker as ray_worker

    if not hasattr(ray_worker, "print_worker_logs"):
        return

    def route(data: dict[str, Any], ignore_prefix: bool) -> None:
        if verbose:
            ray_worker.print_worker_logs(data, sys.stderr, ignore_prefix)
        else:
            for line in data.get("lines", ()):
                logging.getLogger("ray").debug("(%s) %s", data.get("pid"), line)

    ray_worker.print_to_stdstream = route


def _use_token_when_available() -> None:
    """Send the cluster token when one is configured: Ray 2.60 clusters require it by default.

    Ray only switches a client to token mode by itself for a cluster it finds automatically; with
    an explicit address it must be told. arena never turns authentication off.
    """
    if os.environ.get("RAY_AUTH_MODE"):
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
        # Ray reads its config once at import; make this process see token mode now.
        from ray._raylet import Config

        Config.initialize("")


def _probe(address: str) -> None:
    """Fail fast with one clear line when nothing listens at `address` (ray.init would retry for minutes)."""
    target = address.split("://", 1)[-1]
    if target in ("auto", "local"):
        return
    host, _, port = target.rpartition(":")
    if not port.isdigit():
        raise ArenaError(f"RAY_ADDRESS {address!r} is not host:port (or ray://host:port, auto)")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
    except OSError as error:
        raise ArenaError(
            f"cannot reach the Ray cluster at {address}: {error.strerror or error}; is it running? (RAY_ADDRESS)"
        ) from None


def disconnect() -> None:
    """Shut down the Ray connection (and the local instance, if this process started it)."""
    lanes.close_lanes()
    ray.shutdown()


def autoscaler_running() -> bool:
    """True when an autoscaler looks after this cluster (Ray's own, or KubeRay's)."""
    try:
        from ray._private import ray_constants
        from ray.experimental.internal_kv import _internal_kv_get

        if _internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS):
            return True
        from ray._raylet import GcsClient
        from ray.core.generated.autoscaler_pb2 import GetClusterStatusReply

        reply = GetClusterStatusReply()
        reply.ParseFromString(GcsClient(ray.get_runtime_context().gcs_address).get_cluster_status(timeout_s=10))
        return reply.autoscaling_state.autoscaler_state_version > 0
    except Exception:  # an older or stripped-down cluster: no autoscaler we can see
        return False


def node_plan(spec: JobSpec, beside_cpus: float = 0.0) -> tuple[WorkerResources | None, str | None]:
    """The spec's workers placed on the cluster's nodes as they are now (beside an actor of `beside_cpus`), or why they do not fit."""
    wanted = spec.resources
    return plan_workers(node_capacities(ray.nodes()), wanted.workers, wanted.cpus_per_worker, wanted.gpus_per_worker,
                        beside_cpus)


def wait_for_nodes(
    spec: JobSpec, problem: str, say: Callable[[str], None], beside_cpus: float = 0.0
) -> tuple[WorkerResources | None, str | None]:
    """Ask the autoscaler for the spec's workers and wait for the nodes (up to `resources.scale_up_timeout_s`)."""
    from ray.autoscaler.sdk import request_resources

    wanted = spec.resources
    bundle = {"CPU": wanted.cpus_per_worker or 1.0}
    if wanted.gpus_per_worker:
        bundle["GPU"] = float(wanted.gpus_per_worker)
    timeout = wanted.scale_up_timeout_s
    say(f"waiting up to {timeout:g} s for the autoscaler to add nodes: {problem.removeprefix('resources: ')}")
    request_resources(bundles=[bundle] * wanted.workers + ([{"CPU": beside_cpus}] if beside_cpus > 0 else []))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            time.sleep(SCALE_UP_POLL_SECONDS)
            plan, problem = node_plan(spec, beside_cpus)
            if plan is not None:
                return plan, None
    finally:
        request_resources(bundles=[])  # the placement group asks for itself from here on
    return None, (
        f"{problem}; the autoscaler added no room for them within resources.scale_up_timeout_s "
        f"({timeout:g} s): check the cluster's node types and quotas (`ray status` on the head)"
    )


def lineup_lanes(specs: Sequence[JobSpec]) -> int:
    """How many jobs of a lineup can train side by side on this cluster's CPUs (at least 1).

    Only jobs that name their CPUs share the cluster; a job that leaves `cpus_per_worker` unset
    takes every CPU, so such a lineup runs one job at a time.
    """
    if any(spec.resources.cpus_per_worker is None or spec.resources.gpus_per_worker for spec in specs):
        return 1
    cpus = int(ray.cluster_resources().get("CPU", 0))
    largest = max(spec.resources.workers * spec.resources.cpus_per_worker for spec in specs)
    return max(1, min(len(specs), int(cpus // largest)))


def prestart_lane(resources: WorkerResources, settings: Settings) -> None:
    """Start the lane a local-mode job will train in, before its MLflow run is opened (a lineup's may be idle already)."""
    lanes.prestart(resources.cpus_per_worker, resources.gpus_per_worker, _worker_environment(settings))


@dataclass(frozen=True)
class FitResult:
    """The last reported metrics and a local copy of the final checkpoint."""

    metrics: dict[str, Any]
    checkpoint_dir: Path | None


def fit(
    spec: JobSpec,
    settings: Settings,
    run_id: str,
    resources: WorkerResources,
    *,
    callbacks: Sequence[Any] = (),
    show_progress: bool = True,
    trial_score: Callable[[Mapping[str, Any]], Mapping[str, float]] | None = None,
    in_trial: bool = False,
    dataset: str | None = None,
) -> FitResult:
    """Run `spec` on Ray Train V2: a worker group, or local mode (a lane, or this Tune trial's actor).

    The run's storage name is its MLflow run id, so `--resume` finds its checkpoints. In a Tune
    trial, local mode reports each epoch to Tune with `trial_score`'s metric added. Without
    `dataset` (the run's `arena.dataset`, when the driver knew it), rank 0 names the data it reads.
    """
    mode = ("tune" if in_trial else "local") if resources.local else "train"
    board_name = f"arena-progress-{run_id}"
    board = None
    if mode != "tune":  # a trial's progress goes to Tune's own callback
        board = ProgressBoard.options(name=board_name, namespace=NAMESPACE, get_if_exists=True).remote()
    config = {
        "spec": spec.model_dump(mode="json"),
        "run_id": run_id,
        "tracking_uri": settings.tracking_uri,
        "home": str(settings.home),
        "storage": settings.storage,
        "threads": resources.threads,
        "progress_board": board_name if board is not None else None,
        "namespace": NAMESPACE,
        "report_to": mode,
        "score": trial_score if mode == "tune" else None,
        "dataset": dataset,
    }
    try:
        with ProgressPrinter(board, spec.name, spec.train.epochs) if board is not None and show_progress else nullcontext():
            if mode == "train":
                return _fit_worker_group(spec, settings, resources, config, callbacks)
            if mode == "tune":
                return _finished(lanes.local_trainer(config).fit().return_value)
            with lanes.lane(resources.cpus_per_worker, resources.gpus_per_worker, _worker_environment(settings)) as handle:
                outcome = _finished(ray.get(handle.fit.remote(config)))
            return FitResult(outcome.metrics, copy_latest_checkpoint(settings.storage, run_id))
    finally:
        if board is not None:
            ray.kill(board)


def _finished(value: dict[str, Any]) -> FitResult:
    folder = value.get("checkpoint_dir")
    return FitResult(metrics=dict(value.get("metrics") or {}), checkpoint_dir=Path(folder) if folder else None)


def _fit_worker_group(
    spec: JobSpec, settings: Settings, resources: WorkerResources, config: dict[str, Any], callbacks: Sequence[Any]
) -> FitResult:
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer

    from arena.training.epoch_logger import EpochLogger
    from arena.training.worker import train_worker

    use_gpu = resources.gpus_per_worker > 0
    worker_resources = {"CPU": resources.cpus_per_worker}
    if use_gpu:
        worker_resources["GPU"] = resources.gpus_per_worker
    trainer = TorchTrainer(
        train_worker,
        train_loop_config=config,
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(
            num_workers=resources.workers, use_gpu=use_gpu, resources_per_worker=worker_resources
        ),
        run_config=ray.train.RunConfig(
            name=config["run_id"],
            storage_path=settings.storage,
            failure_config=ray.train.FailureConfig(max_failures=spec.resources.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
            # MLflow gets an epoch once its checkpoint is registered, before a Tune scheduler sees it.
            callbacks=[EpochLogger(settings.tracking_uri, config["run_id"]), *callbacks],
            worker_runtime_env={"env_vars": _worker_environment(settings)},
        ),
    )
    result = trainer.fit()
    checkpoint_dir = None
    if result.checkpoint is not None:
        checkpoint_dir = scratch_folder("final")
        result.checkpoint.to_directory(str(checkpoint_dir))
    return FitResult(metrics=dict(result.metrics or {}), checkpoint_dir=checkpoint_dir)


def _worker_environment(settings: Settings) -> dict[str, str]:
    """The settings, plus the fault-injection switch the fault-tolerance tests use when it is set."""
    env = settings_environment(settings)
    if os.environ.get("ARENA_FAIL_ONCE"):
        env["ARENA_FAIL_ONCE"] = os.environ["ARENA_FAIL_ONCE"]
    return env


def describe_failure(error: BaseException) -> str:
    """The first useful line of a Ray Train failure (the worker's own exception where there is one)."""
    failures = getattr(error, "worker_failures", None)
    if failures:
        rank, failure = next(iter(sorted(failures.items())))
        return f"worker {rank}: {type(failure).__name__}: {str(failure).strip().splitlines()[-1] if str(failure).strip() else ''}"
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__
