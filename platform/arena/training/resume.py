"""Is `--resume RUN_ID` honest? The run must exist, be over, and still have its checkpoints in ARENA_STORAGE.

A run arena starts carries the tag `arena.driver` (host, process id and that process's start time),
so a RUNNING run whose driver process on this machine is gone can be resumed without asking; one
whose driver ran elsewhere needs the user's word (`--force`) that it is really dead, or two drivers
would train into one MLflow run.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from arena.errors import ArenaError, SpecError
from arena.settings import Settings
from arena.spec import JobSpec
from arena.training.storage import is_remote_uri, local_path

DRIVER_TAG = "arena.driver"
CHECKPOINT_PREFIX = "epoch_"
"""Ray Train's folder of one checkpoint under ARENA_STORAGE/<run id>/ (the worker names them epoch_NNNN)."""
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def driver_tag() -> str:
    """`host:pid:start` of this process, the driver of the run it opens."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def driver_is_alive(tag: str | None) -> bool | None:
    """True/False for a driver that ran on this machine; None when it ran elsewhere (or is unknown)."""
    host, _, rest = (tag or "").partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: it exists
        pass
    return not started or _start_time(int(pid)) == started  # a reused pid started later


def _start_time(pid: int) -> str:
    """When process `pid` started (clock ticks since boot, from /proc); empty where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def checkpoint_epochs(storage: str, run_id: str) -> list[int]:
    """Epochs whose checkpoints Ray Train kept for `run_id` under `storage` (a path or a bucket URI)."""
    names: list[str]
    if is_remote_uri(storage):
        import pyarrow.fs

        filesystem, root = pyarrow.fs.FileSystem.from_uri(storage.rstrip("/") + "/" + run_id)
        selector = pyarrow.fs.FileSelector(root, allow_not_found=True)
        names = [Path(info.path).name for info in filesystem.get_file_info(selector)
                 if info.type == pyarrow.fs.FileType.Directory]
    else:
        folder = local_path(storage) / run_id
        names = [path.name for path in folder.glob(f"{CHECKPOINT_PREFIX}*") if (path / "checkpoint.pt").is_file()]
    epochs = [name.removeprefix(CHECKPOINT_PREFIX) for name in names if name.startswith(CHECKPOINT_PREFIX)]
    return sorted(int(epoch) for epoch in epochs if epoch.isdigit())


def check_resume(spec: JobSpec, settings: Settings, run_id: str, *, force: bool = False) -> None:
    """Raise ArenaError unless run `run_id` can honestly continue with `spec` from a kept checkpoint."""
    from arena.tracking import run_log

    if not _RUN_ID.fullmatch(run_id):
        raise ArenaError(f"--resume {run_id!r}: not an MLflow run id (32 hex digits)")
    summary = run_log.get_run_summary(settings.tracking_uri, run_id)
    logged_model = summary["tags"].get("arena.model")
    if logged_model != spec.model:
        raise SpecError([f"model: {spec.model!r} differs from the model of run {run_id} ({logged_model!r})"], "--resume")
    if summary["status"] == "RUNNING" and not force:
        tag = summary["tags"].get(DRIVER_TAG)
        alive = driver_is_alive(tag)
        if alive is not False:
            where = f"its driver {tag.rsplit(':', 1)[0]} (host:pid)" if tag else "its driver"
            how = "it is still running here" if alive else "check that the process is gone on that machine (ps -p PID), " \
                "and for a submitted job that `arena jobs status ID` says FAILED or STOPPED"
            raise ArenaError(
                f"--resume {run_id}: the run is still RUNNING in MLflow, driven by {where}; {how}; "
                "then add --force to resume it"
            )
    if not checkpoint_epochs(settings.storage, run_id):
        raise ArenaError(
            f"--resume {run_id}: no checkpoint of this run is left in ARENA_STORAGE={settings.storage} "
            f"(looked in {run_id}/{CHECKPOINT_PREFIX}*); resuming would train again from epoch 0 into the same run: "
            "start a new run instead, or point ARENA_STORAGE where its checkpoints are"
        )
