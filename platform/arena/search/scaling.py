"""Compound scaling as pure math (Tan & Le, 2019, section 3.3): no torch, no Ray, only new frozen values.

The paper's symbols, used only inside this module:

- alpha, beta, gamma: the per-step growth of depth, width and resolution, each >= 1, found by a
  small grid search at phi = 1 under the constraint alpha * beta^2 * gamma^2 ~ target (2: each
  step of phi doubles the FLOPs, since FLOPs grow linearly with depth and quadratically with
  width and resolution).
- phi: the compound coefficient; the net at phi has depth alpha^phi, width beta^phi and
  resolution gamma^phi times the base net's.

Rounding (what makes measured FLOPs drift from target^phi):

- layer counts: ceil(depth_multiplier * repeats) per stage, as the paper's `round_repeats`;
- channels: `round_filters`, the nearest multiple of 8 but never below 90% of the exact value;
- resolution: gamma^phi * base resolution, rounded to the nearest multiple of 8 (at least 8),
  because every network here downsamples by powers of two and accelerators like multiples of 8.
  The released B1-B7 resolutions (240, 260, 300, 380, 456, 528, 600) were hand-picked, not computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from arena.models.nas import Architecture
from arena.models.nas_stages import HEAD_FILTERS, STEM_FILTERS

CHANNEL_DIVISOR = 8
RESOLUTION_DIVISOR = 8
ROUND_LIMIT = 0.9
"""round_filters never loses more than 10% of the exact channel count."""


@dataclass(frozen=True)
class BaseNetwork:
    """The net phi = 0 scales from: its stage layout and native resolution."""

    model: str
    """The name of the base net: a zoo name, or a searched nas:<id>."""
    family: str
    stem_width: int
    stage_widths: tuple[int, ...]
    stage_depths: tuple[int, ...]
    """Blocks per stage (the paper's repeats)."""
    head_width: int
    resolution: int


EFFICIENTNET_B0 = BaseNetwork(
    model="efficientnet_b0",
    family="efficientnet",
    stem_width=32,
    stage_widths=(16, 24, 40, 80, 112, 192, 320),
    stage_depths=(1, 2, 2, 3, 3, 4, 1),
    head_width=1280,
    resolution=224,
)
RESNET50 = BaseNetwork(
    model="resnet50",
    family="resnet",
    stem_width=64,
    stage_widths=(64, 128, 256, 512),
    stage_depths=(3, 4, 6, 3),
    head_width=2048,
    resolution=224,
)
BASE_NETWORKS = {base.model: base for base in (EFFICIENTNET_B0, RESNET50)}
"""The zoo nets a search can scale; a searched `nas:<id>` becomes a base through `nas_base_network`."""


def nas_base_network(model: str, architecture: Architecture, resolution: int) -> BaseNetwork:
    """A searched net as the phi = 0 base: its seven stages' filters and layers, B0's stem and head.

    `resolution` is the side it was searched at, its native one.
    """
    return BaseNetwork(
        model=model,
        family="nas",
        stem_width=STEM_FILTERS,
        stage_widths=tuple(stage.filters for stage in architecture.stages),
        stage_depths=tuple(stage.layers for stage in architecture.stages),
        head_width=HEAD_FILTERS,
        resolution=resolution,
    )

# The released EfficientNets (Table 2's models): name, width, depth, resolution.
RELEASED_EFFICIENTNETS = (
    ("efficientnet_b0", 1.0, 1.0, 224),
    ("efficientnet_b1", 1.0, 1.1, 240),
    ("efficientnet_b2", 1.1, 1.2, 260),
    ("efficientnet_b3", 1.2, 1.4, 300),
    ("efficientnet_b4", 1.4, 1.8, 380),
    ("efficientnet_b5", 1.6, 2.2, 456),
    ("efficientnet_b6", 1.8, 2.6, 528),
    ("efficientnet_b7", 2.0, 3.1, 600),
)


@dataclass(frozen=True)
class Coefficients:
    """One point of the grid: depth alpha, width beta, resolution gamma (per step of phi)."""

    alpha: float
    beta: float
    gamma: float

    @property
    def flops_factor(self) -> float:
        """alpha * beta^2 * gamma^2: how much one step of phi multiplies the FLOPs."""
        return self.alpha * self.beta**2 * self.gamma**2

    @property
    def id(self) -> str:
        """A short, file-safe name: a1.20-b1.10-g1.15."""
        return f"a{self.alpha:.2f}-b{self.beta:.2f}-g{self.gamma:.2f}"


@dataclass(frozen=True)
class ScaledArchitecture:
    """The base net grown by `coefficients` to step `phi`: what a builder needs, nothing more."""

    base: str
    """The name of the base net (BaseNetwork.model)."""
    coefficients: Coefficients
    phi: int
    depth_multiplier: float
    width_multiplier: float
    resolution: int

    @property
    def id(self) -> str:
        """The coefficients and the step: a1.20-b1.10-g1.15-phi1."""
        return f"{self.coefficients.id}-phi{self.phi}"


def grid_values(minimum: float, maximum: float, step: float) -> tuple[float, ...]:
    """Return minimum, minimum + step, ... up to maximum (inclusive), rounded to hide float drift."""
    if step <= 0 or maximum < minimum:
        raise ValueError(f"need step > 0 and maximum >= minimum, got {minimum}..{maximum} by {step}")
    count = math.floor((maximum - minimum) / step + 1e-9)
    return tuple(round(minimum + index * step, 6) for index in range(count + 1))


def within_constraint(coefficients: Coefficients, target: float, tolerance: float) -> bool:
    """True when alpha * beta^2 * gamma^2 lies within `tolerance` (relative) of `target`."""
    return abs(coefficients.flops_factor - target) <= tolerance * target


def enumerate_coefficients(
    alphas: tuple[float, ...],
    betas: tuple[float, ...],
    gammas: tuple[float, ...],
    *,
    target: float = 2.0,
    tolerance: float = 0.05,
) -> list[Coefficients]:
    """Return every (alpha, beta, gamma), each >= 1, with alpha * beta^2 * gamma^2 within tolerance of target.

    Sorted by distance from the target, then by the coefficients, so the list reads best-first.
    """
    found = [
        Coefficients(alpha, beta, gamma)
        for alpha in alphas
        for beta in betas
        for gamma in gammas
        if min(alpha, beta, gamma) >= 1.0 and within_constraint(Coefficients(alpha, beta, gamma), target, tolerance)
    ]
    return sorted(found, key=lambda c: (abs(c.flops_factor - target), c.alpha, c.beta, c.gamma))


def round_filters(channels: int, width_multiplier: float, divisor: int = CHANNEL_DIVISOR) -> int:
    """Return channels * width_multiplier rounded to a multiple of `divisor`, keeping at least 90% of it.

    The paper's (and timm's `round_channels`) rule: round to the nearest multiple, then add one
    divisor if rounding down lost more than 10%.
    """
    exact = channels * width_multiplier
    rounded = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    if rounded < ROUND_LIMIT * exact:
        rounded += divisor
    return rounded


def round_repeats(repeats: int, depth_multiplier: float) -> int:
    """Return the layer count of a stage scaled by depth_multiplier, rounded up (the paper's ceil)."""
    # No epsilon: the builders (timm's EfficientNet, arena's ResNet) take the plain ceil, and the
    # layout must be the one they build.
    return int(math.ceil(depth_multiplier * repeats))


def round_resolution(resolution: float, divisor: int = RESOLUTION_DIVISOR) -> int:
    """Return the resolution rounded to the nearest multiple of `divisor` (at least one divisor)."""
    return max(divisor, int(round(resolution / divisor)) * divisor)


def scale(base: BaseNetwork, coefficients: Coefficients, phi: int, *, base_resolution: int | None = None) -> ScaledArchitecture:
    """Grow `base` to step `phi`: depth alpha^phi, width beta^phi, resolution gamma^phi * base resolution."""
    if phi < 0:
        raise ValueError(f"phi must be >= 0, got {phi}")
    resolution = base_resolution or base.resolution
    return ScaledArchitecture(
        base=base.model,
        coefficients=coefficients,
        phi=phi,
        depth_multiplier=round(coefficients.alpha**phi, 6),
        width_multiplier=round(coefficients.beta**phi, 6),
        resolution=round_resolution(coefficients.gamma**phi * resolution),
    )


def scale_family(
    base: BaseNetwork, coefficients: Coefficients, phis: range | tuple[int, ...], *, base_resolution: int | None = None
) -> list[ScaledArchitecture]:
    """Return the family phi = 1..N of one set of coefficients."""
    return [scale(base, coefficients, phi, base_resolution=base_resolution) for phi in phis]


@dataclass(frozen=True)
class StageLayout:
    """The channel and layer counts a scaled net is built with (what the multipliers become)."""

    stem_width: int
    stage_widths: tuple[int, ...]
    stage_depths: tuple[int, ...]
    head_width: int


def scaled_layout(base: BaseNetwork, width_multiplier: float, depth_multiplier: float) -> StageLayout:
    """Return the rounded stem, stage and head widths and the stage depths of a scaled `base`."""
    return StageLayout(
        stem_width=round_filters(base.stem_width, width_multiplier),
        stage_widths=tuple(round_filters(width, width_multiplier) for width in base.stage_widths),
        stage_depths=tuple(round_repeats(depth, depth_multiplier) for depth in base.stage_depths),
        head_width=round_filters(base.head_width, width_multiplier),
    )
