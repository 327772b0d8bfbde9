"""The MnasNet search space's vocabulary: per-stage choices and the fixed B0 skeleton (no torch here,
so naming and validating `nas:` models stays fast; `nas_network` builds them)."""

from __future__ import annotations

from dataclasses import dataclass

from arena.models.stage_layout import EFFICIENTNET_B0, EFFICIENTNET_B0_STRIDES

OPS = ("conv", "sepconv", "mbconv")
"""Regular conv, depthwise-separable conv, mobile inverted bottleneck (MBConv)."""
KERNELS = (3, 5)
EXPANSIONS = (1, 3, 6)
"""MBConv's expansion ratios; conv and sepconv have none (1)."""
SE_RATIOS = (0.0, 0.25)
SKIPS = ("none", "identity")
"""identity: a residual around every block whose input and output shapes match."""
STEM_FILTERS = EFFICIENTNET_B0.stem_width
HEAD_FILTERS = EFFICIENTNET_B0.head_width


@dataclass(frozen=True)
class SkeletonStage:
    """A fixed stage of the skeleton: EfficientNet-B0's filters, layers and stride."""

    filters: int
    layers: int
    stride: int


SKELETON = tuple(
    SkeletonStage(filters, layers, stride)
    for filters, layers, stride in zip(EFFICIENTNET_B0.stage_widths, EFFICIENTNET_B0.stage_depths, EFFICIENTNET_B0_STRIDES)
)


@dataclass(frozen=True)
class Stage:
    """One stage's choices: its block and how wide and deep it is."""

    op: str
    kernel: int
    expansion: int
    se_ratio: float
    skip: str
    filters: int
    layers: int
