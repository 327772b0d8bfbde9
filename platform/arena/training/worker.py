"""The Ray Train worker: a thin shell around `TrainingSession` (the Ray boundary on the worker side).

Rank 0 saves a checkpoint each epoch and reports it; `arena.training.reporting` decides how (to
Train's worker group, to a Tune trial, or to arena's own storage in local mode) and when the epoch
reaches MLflow. On a worker group the driver's `EpochLogger` logs the epoch once Ray Train has
registered its checkpoint, so MLflow never holds an epoch that a retry could train again: a worker
lost before its report is restarted from the previous checkpoint, and the epoch MLflow gets is the
one training continued from. A restarted rank 0 fills in, from the checkpoint's history, any epoch
whose logging was lost with the driver.

MLflow is imported when rank 0 first logs, after the first epoch, not before the first step:
a worker's start-up is on the critical path of every run and every search trial.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import ray
import ray.train
import torch

from arena.data.layout import dataset_identity
from arena.errors import ArenaError
from arena.spec import parse_spec
from arena.training.checkpoint import Checkpoint
from arena.training.grown_models import make_resolvable
from arena.training.reporting import Reporter, checkpoint_folders, reporter_from
from arena.training.scratch import scratch_folder
from arena.training.session import TrainingSession, build_session

PROGRESS_EVERY_SECONDS = 1.0
logger = logging.getLogger(__name__)


class _ProgressSender:
    """Throttled, fire-and-forget progress updates from rank 0 to the driver's ProgressBoard."""

    def __init__(self, board_name: str | None, namespace: str | None, session: TrainingSession, world_size: int) -> None:
        self.first_step_at: float | None = None
        self.world_size = world_size
        self.board = None
        if board_name:
            try:
                self.board = ray.get_actor(board_name, namespace=namespace)
            except ValueError:  # the driver that made it is gone (a resumed job): train on
                self.board = None
        self.session = session
        self.last = 0.0

    def send(self, **update: Any) -> None:
        if self.board is not None:
            self.board.update.remote(update)

    def on_step(self, step: int, images: int, seconds: float) -> None:
        if self.first_step_at is None:
            # When training really began: `arena train` -> first step is arena's start-up cost.
            self.first_step_at = time.time()
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        self.send(
            epoch=self.session.epoch + 1, step=step, steps=self.session.steps_per_epoch,
            images_per_second=self.world_size * images / seconds if seconds > 0 else 0.0,
        )


def _worker_hosts(world_size: int) -> list[str]:
    """The host names of the worker group, rank by rank (the run's `arena.worker_hosts` tag)."""
    names = [socket.gethostname()]
    if world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        names = [""] * world_size
        torch.distributed.all_gather_object(names, socket.gethostname())
    return names


def _kept_checkpoints(latest: ray.train.Checkpoint) -> list[ray.train.Checkpoint]:
    """The latest checkpoint, then the older ones kept beside it (newest first)."""
    parent = str(Path(latest.path).parent)
    older = [path for path in checkpoint_folders(latest.filesystem, parent) if Path(path).name < Path(latest.path).name]
    return [latest, *(ray.train.Checkpoint(path, filesystem=latest.filesystem) for path in reversed(older))]


def _resume(session: TrainingSession, reporter: Reporter) -> list[str]:
    """Load the latest readable checkpoint, falling back to older kept ones; return a warning per unreadable one."""
    latest = reporter.latest_checkpoint()
    if latest is None:
        return []
    warnings = []
    for checkpoint in _kept_checkpoints(latest):
        try:
            with checkpoint.as_directory() as folder:
                session.restore(Checkpoint.load(Path(folder)))
            return warnings
        except ArenaError as error:  # torn or corrupt: try the one before
            warnings.append(f"skipped checkpoint {Path(checkpoint.path).name}: {error}")
    raise ArenaError(f"no readable checkpoint to continue from: {'; '.join(warnings)}")


def worker_device(gpus_per_worker: int, *, local: bool = False) -> torch.device:
    """This worker's device: the first of the GPUs Ray gave it, or the CPU.

    Ray Train's own assignment, not `cuda:<local rank>`: with 2 GPUs a worker, local rank 1 owns
    its node's GPUs 2 and 3, and `cuda:1` would be worker 0's second GPU. In local mode the process
    is an actor that Ray gave its GPUs (CUDA_VISIBLE_DEVICES), so the first visible one is its own.
    """
    if gpus_per_worker == 0:
        return torch.device("cpu")
    if local:
        return torch.device("cuda", 0)
    from ray.train.torch import get_device

    return get_device()


def train_worker(config: dict[str, Any]) -> dict[str, Any] | None:
    """Train the job in `config["spec"]`: on a Ray Train worker, or in local mode (see `reporting`).

    In local mode it returns the last epoch's metrics (and, in a Tune trial, its final checkpoint).
    """
    reporter = reporter_from(config)
    rank, world_size = reporter.rank_and_world()
    torch.set_num_threads(config["threads"])
    spec = parse_spec(config["spec"])
    device = worker_device(spec.resources.gpus_per_worker, local=reporter.to != "train")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    home = Path(config["home"])
    make_resolvable([spec.model], tracking_uri=config["tracking_uri"], home=home)  # this host may not have it yet
    session = build_session(spec, home=home, rank=rank, world_size=world_size, device=device)
    hosts = _worker_hosts(world_size)  # every rank takes part
    warnings = _resume(session, reporter)
    tracking_uri, run_id = config["tracking_uri"], config["run_id"]
    progress = _ProgressSender(config.get("progress_board"), config.get("namespace"), session, world_size) if rank == 0 else None
    for warning in warnings if rank == 0 else ():
        logger.warning(warning)
        progress.send(warning=warning)
    if rank == 0:
        from arena.tracking import run_log

        run_log.set_tags(tracking_uri, run_id, {
            "arena.worker_hosts": ",".join(hosts),
            # The driver may run where the data is not (a cluster's head): named here, where it is read.
            **({"arena.dataset": dataset_identity(spec.data)} if config.get("dataset") is None else {}),
        })
        if session.history:  # resumed: the epochs before are the run's history (a resumed trial may have none left to train)
            run_log.log_epochs(tracking_uri, run_id, session.history)
            progress.send(resumed_after=session.epoch)
    first_step_tagged = False
    metrics: dict[str, Any] = {}
    while session.epoch < spec.train.epochs:
        row = session.run_epoch(on_step=progress.on_step if progress else None)
        metrics = {key: value for key, value in row.items() if isinstance(value, (int, float))}
        _maybe_inject_failure(rank, session.epoch, "before-report")
        if rank == 0:
            from arena.tracking import run_log

            if not first_step_tagged and progress.first_step_at is not None:
                run_log.set_tags(tracking_uri, run_id, {"arena.first_step_at": f"{progress.first_step_at:.3f}"})
                first_step_tagged = True
            progress.send(epoch_done=row)
            reporter.report(metrics, session.epoch, lambda folder: session.to_checkpoint().save(folder),
                            log_epoch=lambda: run_log.log_epochs(tracking_uri, run_id, session.history))
        else:
            reporter.report(metrics, session.epoch, None)
        _maybe_inject_failure(rank, session.epoch, "after-report")
    if reporter.to == "train":
        return None
    outcome: dict[str, Any] = {"metrics": {**metrics, "epoch": session.epoch}}
    if reporter.to == "tune":  # this process is the trial's driver too: the final checkpoint, here (the launcher removes it)
        final = scratch_folder("final")
        session.to_checkpoint().save(final)
        outcome["checkpoint_dir"] = str(final)
    return outcome


def _maybe_inject_failure(rank: int, epoch: int, moment: str) -> None:
    """Crash this worker once, for fault-tolerance tests.

    ARENA_FAIL_ONCE=<marker file>:<rank>:<epoch>[:before-report]: after the epoch is reported
    (the default), or after it is trained but before its checkpoint is reported.
    """
    setting = os.environ.get("ARENA_FAIL_ONCE")
    if not setting:
        return
    wanted = "after-report"
    if setting.endswith(":before-report"):
        setting, wanted = setting.removesuffix(":before-report"), "before-report"
    marker, fail_rank, fail_epoch = setting.rsplit(":", 2)
    if moment == wanted and rank == int(fail_rank) and epoch == int(fail_epoch) and not os.path.exists(marker):
        Path(marker).write_text(f"worker rank {rank} killed at epoch {epoch} ({moment})\n")
        os._exit(1)  # a hard crash, as a lost process looks to Ray
