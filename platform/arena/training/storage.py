"""Is checkpoint storage reachable from every machine of a cluster? Pure checks, no Ray calls.

On a multi-machine cluster every Ray Train worker writes checkpoints to ARENA_STORAGE, so it must be
a bucket URI (s3://, gs://, ...) or a path on a filesystem every machine mounts at the same place.
A path counts as shared when it is declared shared (ARENA_STORAGE_SHARED=1) or when it lies on a
network filesystem (NFS, CIFS, Lustre, CephFS, ...) according to the mount table.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from arena.errors import ArenaError

SHARED_VARIABLE = "ARENA_STORAGE_SHARED"
"""Set to 1 when ARENA_STORAGE is a path that every machine of the cluster mounts (NFS, EFS, Filestore)."""

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "ceph", "glusterfs", "gpfs", "beegfs",
        "fuse.glusterfs", "fuse.cephfs", "fuse.sshfs", "fuse.gcsfuse", "fuse.s3fs", "fuse.mountpoint-s3",
        "fuse.juicefs", "fuse.weka", "wekafs", "fuse.blobfuse", "fuse.blobfuse2",
    }
)
"""Filesystem types (as in /proc/mounts) whose files every client machine sees."""

_TRUE = {"1", "true", "yes", "on"}


def storage_declared_shared(environ: Mapping[str, str] | None = None) -> bool:
    """True when ARENA_STORAGE_SHARED says the storage path is mounted on every machine."""
    env = os.environ if environ is None else environ
    return env.get(SHARED_VARIABLE, "").strip().lower() in _TRUE


def is_remote_uri(storage: str) -> bool:
    """True for a URI that names remote storage (s3://, gs://, abfss://, hdfs://), not a local path."""
    scheme = urlsplit(storage).scheme
    return len(scheme) > 1 and scheme != "file"


def local_path(storage: str) -> Path:
    """The filesystem path of a plain path or a file:// URI."""
    if storage.startswith("file://"):
        return Path(urlsplit(storage).path)
    return Path(storage).expanduser()


def read_mounts(mounts_file: Path = Path("/proc/mounts")) -> list[tuple[str, str]]:
    """(mount point, filesystem type) pairs from a mount table; empty where there is none."""
    try:
        lines = mounts_file.read_text().splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 3:
            mounts.append((fields[1].replace("\\040", " "), fields[2]))
    return mounts


def filesystem_type(path: Path, mounts: Iterable[tuple[str, str]]) -> str | None:
    """The type of the filesystem holding `path`: the one mounted at its longest matching prefix."""
    best, best_type = "", None
    text = str(path)
    for point, fstype in mounts:
        inside = text == point or text.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, fstype
    return best_type


def is_network_path(path: Path, mounts: Iterable[tuple[str, str]] | None = None) -> bool:
    """True when `path` lies on a network filesystem that other machines can mount too."""
    table = read_mounts() if mounts is None else mounts
    return filesystem_type(Path(os.path.abspath(path)), table) in NETWORK_FILESYSTEMS


def host_count(nodes: Iterable[Mapping[str, Any]]) -> int:
    """Distinct machines among the alive nodes of `ray.nodes()`; nodes started on one machine share its disk."""
    return len({node.get("NodeManagerAddress") for node in nodes if node.get("Alive", True)})


def check_storage_for_cluster(
    storage: str,
    node_count: int,
    *,
    shared: bool | None = None,
    mounts: Iterable[tuple[str, str]] | None = None,
) -> None:
    """Raise ArenaError when `node_count` machines cannot all reach `storage`.

    `node_count` is the number of distinct machines (see `host_count`). `shared` overrides the
    ARENA_STORAGE_SHARED variable; `mounts` replaces the mount table (for tests).
    """
    if node_count <= 1 or is_remote_uri(storage):
        return
    if storage_declared_shared() if shared is None else shared:
        return
    if is_network_path(local_path(storage), mounts):
        return
    raise ArenaError(
        f"ARENA_STORAGE={storage} is a local path, but the Ray cluster spans {node_count} machines and "
        "every training worker must reach the same checkpoint storage; set ARENA_STORAGE to a bucket URI "
        f"(s3://BUCKET/arena, gs://BUCKET/arena) or to a path every machine mounts and set {SHARED_VARIABLE}=1"
    )
