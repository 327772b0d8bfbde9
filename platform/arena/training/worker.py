"""The Ray Train worker: a thin shell around `TrainingSession` (the Ray boundary on the worker side).

Rank 0 logs each epoch to MLflow, then saves a checkpoint and reports it (`arena.training.reporting`
decides how: to Train's worker group, to a Tune trial, or to arena's own storage in local mode). A
worker lost between the two is restarted from the previous checkpoint and trains that epoch again;
`log_epochs` skips epochs MLflow already has, so no epoch is ever logged twice.

MLflow is imported when rank 0 first logs, after the first epoch, not before the first step:
a worker's start-up is on the critical path of every run and every search trial.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
import torch

from arena.spec import parse_spec
from arena.training.checkpoint import load_checkpoint, save_checkpoint
from arena.training.reporting import reporter_from
from arena.training.session import TrainingSession, build_session

PROGRESS_EVERY_SECONDS = 1.0


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

    In local mode it returns the last epoch's metrics and where its final checkpoint is.
    """
    reporter = reporter_from(config)
    rank, world_size = reporter.rank_and_world()
    torch.set_num_threads(config["threads"])
    spec = parse_spec(config["spec"])
    device = worker_device(spec.resources.gpus_per_worker, local=reporter.to != "train")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    session = build_session(spec, home=Path(config["home"]), rank=rank, world_size=world_size, device=device)
    hosts = _worker_hosts(world_size)  # every rank takes part
    with reporter.resume_folder() as folder:
        if folder is not None:
            session.load_state_dict(load_checkpoint(folder))
    tracking_uri, run_id = config["tracking_uri"], config["run_id"]
    if rank == 0 and session.history:
        from arena.tracking import run_log

        run_log.log_epochs(tracking_uri, run_id, session.history)
    progress = _ProgressSender(config.get("progress_board"), config.get("namespace"), session, world_size) if rank == 0 else None
    first_step_tagged = False
    metrics: dict[str, Any] = {}
    while session.epoch < spec.train.epochs:
        row = session.run_epoch(on_step=progress.on_step if progress else None)
        metrics = {key: value for key, value in row.items() if isinstance(value, (int, float))}
        if rank == 0:
            # MLflow first, the report last: a Tune scheduler may stop the trial as soon as it sees
            # the report, and the epoch must be logged by then.
            from arena.tracking import run_log

            run_log.log_epochs(tracking_uri, run_id, session.history)
            if not first_step_tagged and progress.first_step_at is not None:
                run_log.set_tags(tracking_uri, run_id, {
                    "arena.first_step_at": f"{progress.first_step_at:.3f}", "arena.worker_hosts": ",".join(hosts),
                })
                first_step_tagged = True
            progress.send(epoch_done=row)
            reporter.report(metrics, session.epoch, lambda folder: save_checkpoint(folder, session.state_dict()))
        else:
            reporter.report(metrics, session.epoch, None)
        _maybe_inject_failure(rank, session.epoch)
    if reporter.to == "train":
        return None
    outcome: dict[str, Any] = {"metrics": {**metrics, "epoch": session.epoch}}
    if reporter.to == "tune":  # this process is the trial's driver too: the final checkpoint, here
        final = reporter.last_folder
        if final is None:  # resumed after its last epoch: nothing was reported this time
            final = Path(tempfile.mkdtemp(prefix="arena-final-"))
            save_checkpoint(final, session.state_dict())
        outcome["checkpoint_dir"] = str(final)
    return outcome


def _maybe_inject_failure(rank: int, epoch: int) -> None:
    """Crash this worker once, for fault-tolerance tests: ARENA_FAIL_ONCE=<marker file>:<rank>:<epoch>."""
    setting = os.environ.get("ARENA_FAIL_ONCE")
    if not setting:
        return
    marker, fail_rank, fail_epoch = setting.rsplit(":", 2)
    if rank == int(fail_rank) and epoch == int(fail_epoch) and not os.path.exists(marker):
        Path(marker).write_text(f"worker rank {rank} killed after epoch {epoch}\n")
        os._exit(1)  # a hard crash, as a lost process looks to Ray
