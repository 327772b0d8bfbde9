"""Models a search saved as JSON documents under $ARENA_HOME/models/<prefix>/ (scaled:, nas:)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_document(path: Path, document: dict[str, Any]) -> Path:
    """Write `document` as JSON atomically: a Ray worker may be reading the file at the same moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", dir=path.parent)
    with os.fdopen(handle, "w") as stream:
        json.dump(document, stream, indent=2)
        stream.write("\n")
    os.replace(temporary, path)
    return path


def read_document(path: Path) -> dict[str, Any] | None:
    """The JSON document at `path`; None when there is none."""
    return json.loads(path.read_text()) if path.is_file() else None


def document_names(folder: Path, prefix: str) -> list[str]:
    """`prefix:<id>` for every saved document in `folder` (temporary files excluded)."""
    if not folder.is_dir():
        return []
    return sorted(f"{prefix}:{path.stem}" for path in folder.glob("*.json") if not path.name.startswith("."))
