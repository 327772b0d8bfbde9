"""Where checkpoints go: a bucket URI or a filesystem path (pure helpers, no Ray calls).

Whether every host of a cluster reaches the same storage is not guessed from the path: each host
writes a marker and the others must read it (`arena.training.checks.check_on_nodes`).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit


def is_remote_uri(storage: str) -> bool:
    """True for a URI that names remote storage (s3://, gs://, abfss://, hdfs://), not a local path."""
    scheme = urlsplit(storage).scheme
    return len(scheme) > 1 and scheme != "file"


def local_path(storage: str) -> Path:
    """The filesystem path of a plain path or a file:// URI."""
    if storage.startswith("file://"):
        return Path(urlsplit(storage).path)
    return Path(storage).expanduser()
