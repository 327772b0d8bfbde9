"""The result of `arena search scaling`: its JSON object (docs/commands.md) and its readable tables."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

from arena.search.core.report import holdout_note, number


@dataclass(frozen=True)
class TrialRow:
    """One trained (or tried) candidate at phi = 1."""

    alpha: float
    beta: float
    gamma: float
    model: str
    resolution: int
    params: int
    gflops: float
    val_top1_error: float | None
    status: str
    """completed, stopped (by the scheduler), failed."""
    epochs: int
    run_id: str | None


@dataclass(frozen=True)
class DroppedRow:
    """A candidate priced out before training."""

    alpha: float
    beta: float
    gamma: float
    params: int
    gflops: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ReleasedRow:
    """The released EfficientNet at the same phi, for comparison."""

    model: str
    width_multiplier: float
    depth_multiplier: float
    resolution: int
    gflops: float | None


@dataclass(frozen=True)
class FamilyRow:
    """One member of the family grown from the best coefficients."""

    phi: int
    depth_multiplier: float
    width_multiplier: float
    resolution: int
    params: int
    gflops: float
    gflops_ratio: float
    """Measured GFLOPs over the base net's."""
    target_ratio: float
    """target^phi: what the constraint promises."""
    model: str
    released: ReleasedRow | None = None


@dataclass(frozen=True)
class ScalingResult:
    """Everything a compound-scaling search found."""

    name: str
    parent_run_id: str
    base_model: str
    base_params: int
    base_gflops: float
    target: float
    alpha: float
    beta: float
    gamma: float
    trials: tuple[TrialRow, ...]
    family: tuple[FamilyRow, ...]
    dropped: tuple[DroppedRow, ...] = ()
    holdout: int = 0
    """How many train images the trials were ranked on (held out of train); val/ was not used."""
    winner_val_top1_error: float | None = None
    """The winner's top-1 error on val/, measured once the search has chosen (the only val figure it reports)."""

    @property
    def winner_run_id(self) -> str | None:
        """The MLflow run of the trial whose coefficients won."""
        won = [row for row in self.trials if (row.alpha, row.beta, row.gamma) == (self.alpha, self.beta, self.gamma)]
        return next((row.run_id for row in won if row.run_id), None)

    def to_json(self) -> dict[str, Any]:
        """The `arena search scaling --format json` object (docs/commands.md, plus run ids and the priced-out)."""
        return asdict(self)


def render_scaling_result(result: ScalingResult, width: int = 120) -> str:
    """The result as readable tables: the trials, the priced-out candidates and the family."""
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None, markup=False)
    console.print(
        f"{result.name}: alpha={result.alpha}, beta={result.beta}, gamma={result.gamma} "
        f"(alpha*beta^2*gamma^2 = {result.alpha * result.beta**2 * result.gamma**2:.3f}, target {result.target}); "
        f"base {result.base_model}: {result.base_params:,} params, {result.base_gflops:.4g} GFLOPs; "
        f"MLflow run {result.parent_run_id}"
    )
    trials = Table(title="trials (phi = 1)")
    for column in ("alpha", "beta", "gamma", "px", "params", "GFLOPs", "held-out top-1 err %", "epochs", "status"):
        trials.add_column(column, justify="left" if column == "status" else "right")
    for row in sorted(result.trials, key=lambda r: (r.val_top1_error is None, r.val_top1_error or 0.0, r.gflops)):
        trials.add_row(
            f"{row.alpha:.2f}", f"{row.beta:.2f}", f"{row.gamma:.2f}", str(row.resolution), f"{row.params:,}",
            number(row.gflops, 4), number(row.val_top1_error, 4), str(row.epochs), row.status,
        )
    console.print(trials)
    console.print(holdout_note(result.holdout, result.winner_run_id, result.winner_val_top1_error))
    if result.dropped:
        dropped = Table(title="priced out before training")
        for column in ("alpha", "beta", "gamma", "params", "GFLOPs", "why"):
            dropped.add_column(column, justify="left" if column == "why" else "right")
        for row in result.dropped:
            dropped.add_row(f"{row.alpha:.2f}", f"{row.beta:.2f}", f"{row.gamma:.2f}", f"{row.params:,}",
                            number(row.gflops, 4), "; ".join(row.reasons))
        console.print(dropped)
    family = Table(title="family (released EfficientNet beside it)")
    for column in ("phi", "model", "depth x", "width x", "px", "params", "GFLOPs", "ratio", "target^phi", "released", "w/d/px", "GFLOPs "):
        family.add_column(column, justify="left" if column in ("model", "released") else "right")
    for row in result.family:
        released = row.released
        family.add_row(
            str(row.phi), row.model, f"{row.depth_multiplier:.3f}", f"{row.width_multiplier:.3f}", str(row.resolution),
            f"{row.params:,}", number(row.gflops, 4), f"{row.gflops_ratio:.2f}", f"{row.target_ratio:.0f}",
            released.model if released else "-",
            f"{released.width_multiplier}/{released.depth_multiplier}/{released.resolution}" if released else "-",
            number(released.gflops, 4) if released else "-",
        )
    console.print(family)
    return buffer.getvalue()
