"""The stage tables of the nets compound scaling grows, and the rounding rules that scale them (pure, no torch).

Both the builders (`efficientnet`, `resnet`, `nas`) and the searches read these, so the math a search
prices and the net a worker builds cannot drift apart.

Two channel-rounding rules, each for its own reason:

- `round_channels`: the nearest multiple of 8, then one more 8 if that lost more than 10% of the exact
  value. EfficientNet's `round_filters` (and timm's `round_channels`): what every width-scaled net here
  is built with, so a multiplier never thins a layer by more than 10%.
- `round_to_multiple`: the plain nearest multiple of 8 (halves up, at least 8). MnasNet's search space
  widens or thins a stage by exactly -25%/+25%; the 90% floor would turn its -25% choice into 0%.

Layer counts scale by the plain ceil (`round_repeats`), as the paper's `round_repeats` and timm do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CHANNEL_DIVISOR = 8
"""Every scaled width is a multiple of 8: accelerators (and the papers' code) want it."""
ROUND_LIMIT = 0.9
"""round_channels never loses more than 10% of the exact channel count."""


@dataclass(frozen=True)
class StageLayout:
    """A net's channel and layer counts: stem, each stage's width and blocks, head."""

    stem_width: int
    stage_widths: tuple[int, ...]
    stage_depths: tuple[int, ...]
    """Blocks per stage (the paper's repeats)."""
    head_width: int


EFFICIENTNET_B0 = StageLayout(
    stem_width=32,
    stage_widths=(16, 24, 40, 80, 112, 192, 320),
    stage_depths=(1, 2, 2, 3, 3, 4, 1),
    head_width=1280,
)
"""EfficientNet-B0 (Tan & Le, 2019, Table 1), also the skeleton of the NAS search space."""
EFFICIENTNET_B0_STRIDES = (1, 2, 2, 2, 1, 2, 1)
"""The first block's stride in each of B0's stages."""
RESNET50 = StageLayout(
    stem_width=64,
    stage_widths=(64, 128, 256, 512),
    stage_depths=(3, 4, 6, 3),
    head_width=2048,
)
"""ResNet-50's bottleneck widths (before the x4 expansion) and blocks per stage.

Its scaled builder grows the stages only: the 7x7 stem stays at 64 and the head is 4x the last stage.
"""


def round_channels(channels: float, divisor: int = CHANNEL_DIVISOR) -> int:
    """Round a channel count to the nearest multiple of `divisor`, adding one divisor if that lost over 10%."""
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < ROUND_LIMIT * channels else rounded


def round_to_multiple(value: float, divisor: int = CHANNEL_DIVISOR) -> int:
    """Round to the nearest multiple of `divisor` (halves up), at least one divisor."""
    return max(divisor, int(value / divisor + 0.5) * divisor)


def round_repeats(repeats: int, depth_multiplier: float) -> int:
    """Return the layer count of a stage scaled by depth_multiplier, rounded up (the paper's ceil)."""
    # No epsilon: timm's EfficientNet takes the plain ceil too, and the layout must be the one built.
    return int(math.ceil(depth_multiplier * repeats))


def scaled_layout(layout: StageLayout, width_multiplier: float, depth_multiplier: float) -> StageLayout:
    """Return `layout` with every width times width_multiplier and every depth times depth_multiplier, rounded."""
    if width_multiplier <= 0 or depth_multiplier <= 0:
        raise ValueError(f"width_multiplier and depth_multiplier must be positive, got {width_multiplier}, {depth_multiplier}")
    return StageLayout(
        stem_width=round_channels(layout.stem_width * width_multiplier),
        stage_widths=tuple(round_channels(width * width_multiplier) for width in layout.stage_widths),
        stage_depths=tuple(round_repeats(depth, depth_multiplier) for depth in layout.stage_depths),
        head_width=round_channels(layout.head_width * width_multiplier),
    )
