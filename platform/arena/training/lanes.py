"""Lanes: long-lived Ray actors that train single-worker jobs one after another, in Ray Train's local mode.

A worker group costs a fresh Train controller and worker processes per run (25-40 s here before
the first step). A single-worker job without retries needs none of it: a lane runs the same
training function through `TorchTrainer(num_workers=0)` inside itself, and stays up for the next
job of a lineup with torch, torchvision and the model code already imported. Ray places a lane like
any actor, with the job's CPUs (and GPU), so on a cluster it lands on a worker host.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray

LANE_MODULES = ("ray.train.torch", "arena.training.worker", "arena.tracking.run_log")
"""What a job in a lane needs (torch, Ray Train, the worker, MLflow for its epochs): imported as the lane starts."""


@ray.remote(max_restarts=0)
class TrainingLane:
    """One process that trains jobs in local mode, one at a time."""

    def __init__(self, environment: dict[str, str]) -> None:
        os.environ.update(environment)
        # A lane is started while the driver opens the job's MLflow run (`prestart`), so these imports
        # overlap the driver's work instead of delaying the first step, or the first epoch's logging.
        for name in LANE_MODULES:
            importlib.import_module(name)

    def fit(self, config: dict[str, Any]) -> dict[str, Any]:
        """Train one job (`train_worker`'s config) through Ray Train's local mode; return its result."""
        return local_trainer(config).fit().return_value


def local_trainer(config: dict[str, Any]) -> Any:
    """A TorchTrainer in local mode: `train_worker` runs inside the calling process."""
    import ray.train
    from ray.train.torch import TorchTrainer

    from arena.training.worker import train_worker

    return TorchTrainer(
        train_worker, train_loop_config=config, scaling_config=ray.train.ScalingConfig(num_workers=0),
        run_config=ray.train.RunConfig(name=config["run_id"], storage_path=config["storage"]),
    )


_LOCK = threading.Lock()
_IDLE: dict[tuple[float, int], list[Any]] = {}


@contextmanager
def lane(cpus: float, gpus: int, environment: dict[str, str]) -> Iterator[Any]:
    """An idle lane of this size (a new one when none is idle); it goes back to the pool after a clean run.

    A lane whose run raised is killed, not reused: its process may hold a broken CUDA context or
    half-torn state.
    """
    with _LOCK:
        idle = _IDLE.setdefault((cpus, gpus), [])
        handle = idle.pop() if idle else None
    if handle is None:
        handle = TrainingLane.options(num_cpus=cpus, num_gpus=gpus).remote(environment)
    try:
        yield handle
    except BaseException:
        ray.kill(handle)
        raise
    with _LOCK:
        _IDLE.setdefault((cpus, gpus), []).append(handle)


def prestart(cpus: float, gpus: int, environment: dict[str, str]) -> None:
    """Start a lane of this size now unless one is idle, so that its start overlaps the driver's own work."""
    with _LOCK:
        idle = _IDLE.setdefault((cpus, gpus), [])
        if not idle:
            idle.append(TrainingLane.options(num_cpus=cpus, num_gpus=gpus).remote(environment))


def close_lanes() -> None:
    """Forget every idle lane (Ray ends them with the driver's connection)."""
    with _LOCK:
        _IDLE.clear()
