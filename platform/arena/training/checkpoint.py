"""Self-describing checkpoints: model, optimizer, scheduler, epoch, best metric, history and the spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from arena.errors import ArenaError

CHECKPOINT_FILE = "checkpoint.pt"


def save_checkpoint(folder: Path, state: dict[str, Any]) -> Path:
    """Write `state` to folder/checkpoint.pt atomically (a crash never leaves a torn file)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CHECKPOINT_FILE
    partial = path.with_suffix(".pt.partial")
    torch.save(state, partial)
    partial.replace(path)
    return path


def load_checkpoint(folder_or_file: Path) -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`: tensors and plain data only, no pickled code."""
    path = folder_or_file / CHECKPOINT_FILE if folder_or_file.is_dir() else folder_or_file
    if not path.is_file():
        raise ArenaError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: say which, not a pickle traceback
        raise ArenaError(f"cannot read checkpoint {path}: {error}") from None
