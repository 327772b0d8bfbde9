"""The result of `arena search nas`: its JSON object (docs/commands.md) and its readable tables."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from arena.search.core.report import PricedOut, TrialEnd, WinnerOnVal, holdout_note, number, render_text, table


@dataclass(frozen=True, kw_only=True)
class NasTrialRow(TrialEnd):
    """One trained (or tried) architecture."""

    model: str
    architecture: dict[str, Any]
    params: int
    gflops: float
    latency_ms: float | None
    val_top1_error: float | None
    accuracy: float | None
    reward: float | None


@dataclass(frozen=True, kw_only=True)
class NasDroppedRow(PricedOut):
    """An architecture priced out before training."""

    id: str


@dataclass(frozen=True)
class NasBest:
    """The highest-reward completed trial, saved as a `nas:<id>` model."""

    model: str
    architecture: dict[str, Any]
    params: int
    gflops: float
    latency_ms: float | None
    val_top1_error: float
    reward: float
    run_id: str | None


@dataclass(frozen=True, kw_only=True)
class NasResult(WinnerOnVal):
    """Everything a NAS search found."""

    name: str
    parent_run_id: str
    objective: str
    """flops or latency: the cost the reward weighs."""
    target: float
    w: float
    w_over: float | None
    resolution: int
    best: NasBest
    trials: tuple[NasTrialRow, ...]
    dropped: tuple[NasDroppedRow, ...] = ()

    @property
    def winner_run_id(self) -> str | None:
        """The MLflow run of the best trial."""
        return self.best.run_id

    def to_json(self) -> dict[str, Any]:
        """The `arena search nas --format json` object (docs/commands.md, plus the objective, run ids and the priced-out)."""
        payload = asdict(self)
        payload["target_gflops"] = self.target if self.objective == "flops" else None
        payload["target_latency_ms"] = self.target if self.objective == "latency" else None
        return payload


def render_nas_result(result: NasResult, width: int = 120) -> str:
    """The result as readable text: the best architecture's stages, the trials and the priced-out."""
    from arena.models.nas import describe_stage, parse_architecture

    unit = "GFLOPs" if result.objective == "flops" else "ms"
    best = result.best
    header = (
        f"{result.name}: best {best.model} reward {best.reward:.4f} (held-out top-1 error {best.val_top1_error:.2f}%, "
        f"{best.params:,} params, {best.gflops:.4g} GFLOPs"
        + (f", {best.latency_ms:.3g} ms" if best.latency_ms is not None else "")
        + f"); reward = ACC x (cost / {result.target:g} {unit})^{result.w:g}"
        + (f" (over target: ^{result.w_over:g})" if result.w_over is not None else "")
        + f" at {result.resolution} px; MLflow run {result.parent_run_id}"
    )
    stages = table(
        f"{best.model}: stages", ("stage", "block", "kernel", "SE", "skip", "filters", "layers"), ("block", "skip"),
        ((str(index), describe_stage(stage).split(" k")[0], str(stage.kernel), f"{stage.se_ratio:g}", stage.skip,
          str(stage.filters), str(stage.layers))
         for index, stage in enumerate(parse_architecture(best.architecture).stages, start=1)),
    )
    trials = table(
        "trials (best reward first)", ("model", "params", "GFLOPs", "ms", "held-out top-1 err %", "reward", "epochs", "status"),
        ("model", "status"),
        ((row.model, f"{row.params:,}", number(row.gflops), number(row.latency_ms, 3), number(row.val_top1_error),
          number(row.reward), str(row.epochs), row.status)
         for row in sorted(result.trials, key=lambda r: (r.reward is None, -(r.reward or 0.0)))),
    )
    dropped = table(
        "priced out before training", ("id", "params", "GFLOPs", "why"), ("id", "why"),
        ((row.id, f"{row.params:,}", number(row.gflops), "; ".join(row.reasons)) for row in result.dropped),
    ) if result.dropped else None
    note = holdout_note(result.holdout, result.winner_run_id, result.winner_val_top1_error)
    return render_text((header, stages, trials, note, dropped), width)
