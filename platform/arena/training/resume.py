"""What `--resume RUN_ID` needs to know: who drives a run, and which of its checkpoints are kept.

`checks.check_resume` asks these before a run is resumed. A run arena starts carries the tag `arena.driver` (host, process id and that process's start time),
so a RUNNING run whose driver process on this machine is gone can be resumed without asking; one
whose driver ran elsewhere needs the user's word (`--force`) that it is really dead, or two drivers
would train into one MLflow run.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from arena.training.checkpoint import CHECKPOINT_FILE
from arena.training.reporting import CHECKPOINT_PREFIX, checkpoint_folders, run_storage

DRIVER_TAG = "arena.driver"


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
    """Epochs whose checkpoints are kept for `run_id` under `storage` (a path or a bucket URI)."""
    from pyarrow import fs

    filesystem, run_folder = run_storage(storage, run_id)
    folders = checkpoint_folders(filesystem, run_folder)
    files = filesystem.get_file_info([f"{folder}/{CHECKPOINT_FILE}" for folder in folders]) if folders else []
    epochs = [Path(folder).name.removeprefix(CHECKPOINT_PREFIX) for folder, file in zip(folders, files)
              if file.type == fs.FileType.File]  # a folder whose file never arrived cannot be resumed from
    return sorted(int(epoch) for epoch in epochs if epoch.isdigit())
