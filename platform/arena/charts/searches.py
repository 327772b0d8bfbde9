"""The searches' charts, one SVG file per search parent run: what each trial cost against what it scored.

A compound-scaling search draws its trials' val error against GFLOPs, and each phi's GFLOPs over the
base's (ratios, so a family grown from a small demo resolution still compares with the released
EfficientNets, B_k over B0, and with target^phi). A NAS draws reward and val error against GFLOPs,
completed trials filled, stopped ones hollow, the best a red diamond.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from arena.charts.svg import Point, Series, figure, scatter_chart


@dataclass(frozen=True)
class ChartPoint:
    """One compound-scaling trial on the chart: its cost, its error and a label."""

    gflops: float
    val_top1_error: float | None
    label: str


@dataclass(frozen=True)
class NasChartPoint:
    """One NAS trial on the chart: its cost, its error and reward (None when it never finished an epoch)."""

    gflops: float
    val_top1_error: float | None
    reward: float | None
    label: str
    completed: bool
    """False when the scheduler stopped it (drawn hollow) or it failed."""
    best: bool = False


def scaling_search_chart(
    trials: Sequence[ChartPoint],
    family_ratios: Sequence[tuple[int, float]],
    released_ratios: Sequence[tuple[int, float]],
    target: float,
    title: str,
) -> str:
    """Val error against GFLOPs for the trials, and each phi's GFLOPs over the base's, as one SVG document."""
    trained = [
        Point(point.gflops, point.val_top1_error, label=point.label,
              title=f"{point.label}: {point.val_top1_error:.2f}% at {point.gflops:.3g} GFLOPs")
        for point in trials if point.val_top1_error is not None
    ]
    errors = scatter_chart([Series("trials", "trial", trained, labels=True)], "GFLOPs (GMACs) at phi = 1",
                           "val top-1 error (%)", "search-trials", log_x=False, empty="no trial has finished")
    family = [
        Series("found family (measured)", "family", _ratios(family_ratios), line="solid"),
        Series(f"{target:g}^phi", "target", _ratios([(phi, target**phi) for phi, _ in family_ratios]), marker="none",
               line="dotted"),
    ]
    if released_ratios:
        family.append(Series("released EfficientNet B_phi / B0", "paper", _ratios(released_ratios), marker="square",
                             line="dashed"))
    costs = scatter_chart(family, "phi", "GFLOPs / base GFLOPs (log scale)", "search-family", log_x=False, log_y=True)
    return figure(title, [("trials (alpha/beta/gamma)", errors), ("family", costs)])


def nas_search_chart(trials: Sequence[NasChartPoint], target_gflops: float | None, title: str) -> str:
    """Reward and val error against GFLOPs for every trial, the best marked, as one SVG document.

    `target_gflops` (the reward's T when the objective is FLOPs) is drawn as a dotted line.
    """
    rewards = _nas_panel([(point, point.reward) for point in trials], "reward ACC x (cost / T)^w", target_gflops, "nas-reward")
    errors = _nas_panel([(point, point.val_top1_error) for point in trials], "val top-1 error (%)", target_gflops, "nas-error")
    return figure(title, [("reward (higher is better)", rewards), ("val error (lower is better)", errors)])


def _nas_panel(
    values: Sequence[tuple[NasChartPoint, float | None]], y_label: str, target_gflops: float | None, chart_id: str
) -> str:
    """One metric against GFLOPs: completed trials filled, stopped ones hollow, the best in red."""
    shown = [(point, value) for point, value in values if value is not None]

    def points(keep: Callable[[NasChartPoint], bool]) -> list[Point]:
        return [Point(point.gflops, value, title=f"{point.label}: {value:.4g} at {point.gflops:.3g} GFLOPs", label=point.label)
                for point, value in shown if keep(point)]

    series = [
        Series("completed", "trial", points(lambda p: p.completed and not p.best)),
        Series("stopped early", "stopped", points(lambda p: not p.completed and not p.best)),
    ]
    best = points(lambda p: p.best)
    if best:
        series.append(Series(f"best: {best[0].label}", "winner", best, marker="diamond"))
    if target_gflops is not None and shown:
        low, high = min(value for _, value in shown), max(value for _, value in shown)
        line = [Point(target_gflops, low, title="target"), Point(target_gflops, high, title="target")]
        series.append(Series(f"target {target_gflops:g} GFLOPs", "target", line, marker="none", line="dotted"))
    return scatter_chart(series, "GFLOPs (GMACs) at the search resolution", y_label, chart_id, log_x=False,
                         empty="no trial has reported yet")


def _ratios(values: Sequence[tuple[int, float]]) -> list[Point]:
    """(phi, ratio) pairs as points."""
    return [Point(phi, ratio, title=f"phi {phi}: {ratio:.3g}x the base") for phi, ratio in values]
