"""Self-describing checkpoints: model, optimizer, scheduler, epoch, best metric, history and the spec.

`Checkpoint` is the one record training writes and evaluation reads. On disk it is the plain dict
of its fields in `checkpoint.pt` (tensors and builtins only), so older checkpoints load unchanged.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arena.atomic_files import atomic_path
from arena.errors import ArenaError

if TYPE_CHECKING:  # torch is imported when a checkpoint is read or written: `--resume`'s checks run before it loads
    from torch import Tensor

CHECKPOINT_FILE = "checkpoint.pt"

StateDict = dict[str, Any]


class NotACheckpoint(ArenaError):
    """A readable file that lacks fields every arena checkpoint holds."""

    def __init__(self, path: Path, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"{path} is not an arena checkpoint (missing {', '.join(missing)})")


@dataclass(frozen=True)
class Checkpoint:
    """One training state, complete enough to continue training or to evaluate without the run."""

    model: dict[str, Tensor]
    """The model's weights, unwrapped from DDP and torch.compile (no `module.` or `_orig_mod.` prefix)."""
    optimizer: StateDict
    scheduler: StateDict
    epoch: int
    """Epochs completed."""
    best_val_top1_error: float
    history: list[dict[str, float]]
    """Every completed epoch's metrics, so a resumed run can log the epochs a lost driver did not."""
    spec_yaml: str
    """The job spec that made this checkpoint, as YAML."""
    model_name: str
    num_classes: int
    class_names: list[str]
    """Class folder names in class-index order."""
    scaler: StateDict | None = None
    """fp16's gradient scaler, when the recipe used one."""
    ema: dict[str, Tensor] | None = None
    """The EMA weights, when the recipe kept an average (evaluation uses them)."""

    @property
    def eval_weights(self) -> dict[str, Tensor]:
        """The weights training evaluated with: the EMA when the recipe kept one, else the model's."""
        return self.ema or self.model

    def save(self, folder: Path) -> Path:
        """Write folder/checkpoint.pt atomically: a crash or a full disk leaves the previous file and no temp."""
        import torch

        path = folder / CHECKPOINT_FILE
        with atomic_path(path) as temporary:
            torch.save({field.name: getattr(self, field.name) for field in fields(self)}, temporary)
        return path

    @classmethod
    def load(cls, folder_or_file: Path) -> Checkpoint:
        """Read a checkpoint with `weights_only=True`: tensors and plain data only, no pickled code."""
        import torch

        path = folder_or_file / CHECKPOINT_FILE if folder_or_file.is_dir() else folder_or_file
        if not path.is_file():
            raise ArenaError(f"no checkpoint at {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a truncated or foreign file: say which, not a pickle traceback
            raise ArenaError(f"cannot read checkpoint {path}: {error}") from None
        if not isinstance(state, dict):
            raise NotACheckpoint(path, [field.name for field in fields(cls)])
        known = {field.name for field in fields(cls)}
        required = [field.name for field in fields(cls) if field.default is MISSING]
        missing = [name for name in required if name not in state]
        if missing:
            raise NotACheckpoint(path, missing)
        return cls(**{name: value for name, value in state.items() if name in known})
