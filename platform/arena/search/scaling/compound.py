"""Compound scaling as pure math (Tan & Le, 2019, section 3.3): no torch, no Ray, only new frozen values.

The paper's symbols, used only inside this module:

- alpha, beta, gamma: the per-step growth of depth, width and resolution, each >= 1, found by a
  small grid search at phi = 1 under the constraint alpha * beta^2 * gamma^2 ~ target (2: each
  step of phi doubles the FLOPs, since FLOPs grow linearly with depth and quadratically with
  width and resolution).
- phi: the compound coefficient; the net at phi has depth alpha^phi, width beta^phi and
  resolution gamma^phi times the base net's.

Rounding (what makes measured FLOPs drift from target^phi): layer counts round up, channels to a
multiple of 8 keeping 90% (`arena.models.stage_layout`, which the builders use too); resolution:
gamma^phi * base resolution, rounded to the nearest multiple of 8 (at least 8), because every
network here downsamples by powers of two and accelerators like multiples of 8. The released B1-B7
resolutions (240, 260, 300, 380, 456, 528, 600) were hand-picked, not computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from arena.models import efficientnet, stage_layout
from arena.models.nas import Architecture, layout_of
from arena.models.stage_layout import StageLayout

RESOLUTION_DIVISOR = 8


@dataclass(frozen=True)
class BaseNetwork:
    """The net phi = 0 scales from: its stage layout and native resolution."""

    model: str
    """The name of the base net: a zoo name, or a searched nas:<id>."""
    family: str
    layout: StageLayout
    resolution: int


EFFICIENTNET_B0 = BaseNetwork("efficientnet_b0", "efficientnet", stage_layout.EFFICIENTNET_B0, 224)
RESNET50 = BaseNetwork("resnet50", "resnet", stage_layout.RESNET50, 224)
BASE_NETWORKS = {base.model: base for base in (EFFICIENTNET_B0, RESNET50)}
"""The zoo nets a search can scale; a searched `nas:<id>` becomes a base through `nas_base_network`."""


def nas_base_network(model: str, architecture: Architecture, resolution: int) -> BaseNetwork:
    """A searched net as the phi = 0 base: its seven stages' filters and layers, B0's stem and head.

    `resolution` is the side it was searched at, its native one.
    """
    return BaseNetwork(model=model, family="nas", layout=layout_of(architecture), resolution=resolution)


RELEASED_EFFICIENTNETS = tuple((name, width, depth, resolution) for name, width, depth, resolution, *_ in efficientnet.VARIANTS)
"""The released EfficientNets (Table 2's models): name, width, depth, resolution."""


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
