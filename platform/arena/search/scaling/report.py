"""The result of `arena search scaling`: its JSON object (docs/commands.md) and its readable tables."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from arena.search.core.report import PricedOut, TrialEnd, WinnerOnVal, holdout_note, number, render_text, table


@dataclass(frozen=True, kw_only=True)
class TrialRow(TrialEnd):
    """One trained (or tried) candidate at phi = 1."""

    alpha: float
    beta: float
    gamma: float
    model: str
    resolution: int
    params: int
    gflops: float
    val_top1_error: float | None


@dataclass(frozen=True, kw_only=True)
class DroppedRow(PricedOut):
    """A candidate priced out before training."""

    alpha: float
    beta: float
    gamma: float


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


@dataclass(frozen=True, kw_only=True)
class ScalingResult(WinnerOnVal):
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
    header = (
        f"{result.name}: alpha={result.alpha}, beta={result.beta}, gamma={result.gamma} "
        f"(alpha*beta^2*gamma^2 = {result.alpha * result.beta**2 * result.gamma**2:.3f}, target {result.target}); "
        f"base {result.base_model}: {result.base_params:,} params, {result.base_gflops:.4g} GFLOPs; "
        f"MLflow run {result.parent_run_id}"
    )
    trials = table(
        "trials (phi = 1)", ("alpha", "beta", "gamma", "px", "params", "GFLOPs", "held-out top-1 err %", "epochs", "status"),
        ("status",),
        ((f"{row.alpha:.2f}", f"{row.beta:.2f}", f"{row.gamma:.2f}", str(row.resolution), f"{row.params:,}",
          number(row.gflops), number(row.val_top1_error), str(row.epochs), row.status)
         for row in sorted(result.trials, key=lambda r: (r.val_top1_error is None, r.val_top1_error or 0.0, r.gflops))),
    )
    dropped = table(
        "priced out before training", ("alpha", "beta", "gamma", "params", "GFLOPs", "why"), ("why",),
        ((f"{row.alpha:.2f}", f"{row.beta:.2f}", f"{row.gamma:.2f}", f"{row.params:,}", number(row.gflops),
          "; ".join(row.reasons)) for row in result.dropped),
    ) if result.dropped else None
    family = table(
        "family (released EfficientNet beside it)",
        ("phi", "model", "depth x", "width x", "px", "params", "GFLOPs", "ratio", "target^phi", "released", "w/d/px", "GFLOPs "),
        ("model", "released"), (_family_cells(row) for row in result.family),
    )
    note = holdout_note(result.holdout, result.winner_run_id, result.winner_val_top1_error)
    return render_text((header, trials, note, dropped, family), width)


def _family_cells(row: FamilyRow) -> tuple[str, ...]:
    released = row.released
    return (
        str(row.phi), row.model, f"{row.depth_multiplier:.3f}", f"{row.width_multiplier:.3f}", str(row.resolution),
        f"{row.params:,}", number(row.gflops), f"{row.gflops_ratio:.2f}", f"{row.target_ratio:.0f}",
        released.model if released else "-",
        f"{released.width_multiplier}/{released.depth_multiplier}/{released.resolution}" if released else "-",
        number(released.gflops) if released else "-",
    )
