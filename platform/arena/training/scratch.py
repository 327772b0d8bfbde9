"""Private folders in the system temp dir for checkpoints on their way somewhere else, and their clean-up.

A checkpoint is written to such a folder, then handed to Ray (which copies it into storage) or uploaded
to MLflow, and the folder is removed. A process can die, or a Tune trial be stopped inside its
report, before that removal runs. So each folder's name carries its host and process, and making a
new one first removes the folders whose process is gone, and this process's own that a stopped
report left behind. After its trials, a search sweeps every node of the cluster (`sweep_every_node`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

SWEEP_TIMEOUT_SECONDS = 60.0
"""How long a search waits for one node's sweep (a few directory listings) before going on without it."""
logger = logging.getLogger(__name__)
_NAME = re.compile(r"arena-(?:ckpt|final)-(?P<host>.+)-(?P<pid>\d+)-[^-]+")
_OPEN: set[Path] = set()
"""This process's checkpoint folders not yet handed on (a Tune trial stopped inside its report leaves one)."""


def scratch_folder(kind: str) -> Path:
    """A new private folder `arena-<kind>-<host>-<pid>-*`, after removing the folders their makers left behind."""
    sweep()
    return Path(tempfile.mkdtemp(prefix=f"arena-{kind}-{_host()}-{os.getpid()}-"))


def open_checkpoint_folder() -> Path:
    """A folder for one report's checkpoint; `close_checkpoint_folder` removes it once Ray has its copy.

    Only one report of a process is in flight at a time: a folder still open when the next one
    opens belongs to a report that never returned (its trial was stopped), so it goes.
    """
    for stale in list(_OPEN):
        shutil.rmtree(stale, ignore_errors=True)
        _OPEN.discard(stale)
    folder = scratch_folder("ckpt")
    _OPEN.add(folder)
    return folder


def close_checkpoint_folder(folder: Path) -> None:
    """Remove a report's checkpoint folder."""
    shutil.rmtree(folder, ignore_errors=True)
    _OPEN.discard(folder)


def sweep() -> list[Path]:
    """Remove the checkpoint folders in the temp dir whose process, on this host, is gone; return them."""
    removed = []
    host = _host()
    for path in Path(tempfile.gettempdir()).glob("arena-*-*-*-*"):
        found = _NAME.fullmatch(path.name)
        if found and found["host"] == host and not _alive(int(found["pid"])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def sweep_every_node() -> list[str]:
    """Run `sweep` on every alive node of the connected Ray cluster (a 0-CPU task pinned to each); return what went.

    A search's trials ran on several hosts, and a stopped one left its folder in its own host's
    temp dir, which the driver's `sweep` never sees. Each entry is `host:path`.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(num_cpus=0, max_retries=0)(_swept_here)
    visits = [
        remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)).remote()
        for node in ray.nodes() if node.get("Alive")
    ]
    removed: list[str] = []
    for visit in visits:
        try:
            removed += ray.get(visit, timeout=SWEEP_TIMEOUT_SECONDS)
        except ray.exceptions.RayError as error:  # a node lost or stuck since: its folders wait for its next sweep
            logger.warning("scratch sweep skipped a node: %s", str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
    return sorted(removed)


def _swept_here() -> list[str]:
    return [f"{socket.gethostname()}:{path}" for path in sweep()]


def _host() -> str:
    return socket.gethostname().replace("-", "_") or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
