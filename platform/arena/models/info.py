"""What the zoo knows about an architecture: its input contract and its paper facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Google's Inception checkpoints scale pixels to [-1, 1] instead of standardising them.
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class InputContract:
    """The images a model expects; the data pipeline is built from it (like timm's PretrainedCfg)."""

    resolution: int
    """Native training/evaluation side in pixels (the one its GFLOPs are counted at)."""
    crop_pct: float
    """Evaluation centre-crop fraction: resize to resolution / crop_pct, then crop resolution."""
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    """Resize filter: "bilinear" or "bicubic"."""
    min_input: int
    """Smallest square side the forward pass accepts."""

    def __post_init__(self) -> None:
        if self.interpolation not in ("bilinear", "bicubic"):
            raise ValueError(f"interpolation must be 'bilinear' or 'bicubic', got {self.interpolation!r}")
        if not 0.0 < self.crop_pct <= 1.0:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        if not 1 <= self.min_input <= self.resolution:
            raise ValueError(f"min_input must be in [1, resolution={self.resolution}], got {self.min_input}")


def imagenet_input(
    resolution: int = 224,
    *,
    min_input: int,
    crop_pct: float = 0.875,
    interpolation: str = "bilinear",
) -> InputContract:
    """Return the contract of a model trained on ImageNet-standardised pixels."""
    return InputContract(resolution, crop_pct, IMAGENET_MEAN, IMAGENET_STD, interpolation, min_input)


def inception_input(resolution: int = 299, *, min_input: int, crop_pct: float = 0.875) -> InputContract:
    """Return the contract of a Google Inception model: pixels in [-1, 1], bicubic resize."""
    return InputContract(resolution, crop_pct, INCEPTION_MEAN, INCEPTION_STD, "bicubic", min_input)


@dataclass(frozen=True)
class ModelInfo:
    """One registered architecture: the paper behind it, its block, its input and its cost."""

    name: str
    family: str
    year: int
    paper_title: str
    paper_authors: str
    key_idea: str
    """One or two sentences: what its block does and why."""
    block: str
    """The building block in a sentence or a tiny sketch."""
    input: InputContract
    paper_top1_error: float | None
    """Percent, single model on ImageNet val, as the paper reports it (see notes for crops)."""
    paper_top5_error: float | None
    params: int | None
    """Counted from the built model (complexity.json); None for a dynamic model not yet counted."""
    gflops: float | None
    """Multiply-accumulates (GMACs) at the native resolution, counted (complexity.json)."""
    notes: str = ""

    @property
    def resolution(self) -> int:
        """Return the native resolution."""
        return self.input.resolution

    @property
    def min_input(self) -> int:
        """Return the smallest square input the forward accepts."""
        return self.input.min_input

    def to_record(self) -> dict[str, Any]:
        """Return the `arena models list --format json` fields of this model."""
        return {
            "name": self.name,
            "family": self.family,
            "year": self.year,
            "params": self.params,
            "gflops": self.gflops,
            "resolution": self.resolution,
            "paper_top1_error": self.paper_top1_error,
            "paper_top5_error": self.paper_top5_error,
        }
