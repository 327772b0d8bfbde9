"""MLflow for searches: the parent run's results, its charts, and trial runs a scheduler cut short.

A search is one parent run with a nested run per trial (docs/mlflow.md). The trials open and close their
own runs through the training path; a trial that the scheduler stops early is killed mid-run, so
the search closes its run here afterwards.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from mlflow.entities import Metric, Param

from arena.tracking.run_log import client_for

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class ChartPoint:
    """One trial on the chart: its cost, its error and a label."""

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


def log_search_results(
    tracking_uri: str,
    run_id: str,
    *,
    params: Mapping[str, object],
    metrics: Mapping[str, float],
    series: Mapping[str, Sequence[tuple[int, float]]] | None = None,
) -> None:
    """Log a search's outcome on its parent run in one call: params (new keys), metrics, and (step, value) series."""
    now = int(time.time() * 1000)
    entries = [Metric(key, float(value), now, 0) for key, value in metrics.items()]
    entries += [Metric(key, float(value), now, step) for key, points in (series or {}).items() for step, value in points]
    client_for(tracking_uri).log_batch(
        run_id, params=[Param(key, str(value)[:6000]) for key, value in params.items()], metrics=entries
    )


def child_runs(tracking_uri: str, parent_run_id: str) -> list[dict[str, object]]:
    """The nested runs of a parent: id, status, tags and latest metrics."""
    client = client_for(tracking_uri)
    parent = client.get_run(parent_run_id)
    runs = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'", max_results=10_000
    )
    return [
        {"run_id": run.info.run_id, "status": run.info.status, "tags": dict(run.data.tags), "metrics": dict(run.data.metrics)}
        for run in runs
    ]


def close_unfinished_children(tracking_uri: str, parent_run_id: str, *, status: str = "KILLED", reason: str) -> list[str]:
    """Mark every nested run still RUNNING as `status` with an `arena.stopped_by` tag; return their ids."""
    client = client_for(tracking_uri)
    closed = []
    for run in child_runs(tracking_uri, parent_run_id):
        if run["status"] == "RUNNING":
            client.set_tag(str(run["run_id"]), "arena.stopped_by", reason)
            client.set_terminated(str(run["run_id"]), status=status)
            closed.append(str(run["run_id"]))
    return closed


def mark_completed(tracking_uri: str, run_id: str) -> None:
    """Close a trial's run that trained every epoch as FINISHED (Tune may end it before the launcher does)."""
    client = client_for(tracking_uri)
    if client.get_run(run_id).info.status != "FINISHED":
        client.set_terminated(run_id, status="FINISHED")


def mark_stopped(tracking_uri: str, run_id: str, *, reason: str) -> None:
    """Close a trial's run that the scheduler cut short as KILLED (stopping it may have looked like a failure)."""
    client = client_for(tracking_uri)
    if client.get_run(run_id).info.status != "KILLED":
        client.set_tag(run_id, "arena.stopped_by", reason)
        client.set_terminated(run_id, status="KILLED")


def log_search_chart(
    tracking_uri: str,
    run_id: str,
    *,
    trials: Sequence[ChartPoint],
    family_ratios: Sequence[tuple[int, float]],
    released_ratios: Sequence[tuple[int, float]] = (),
    target: float,
    title: str,
    artifact_file: str = "search_chart.png",
) -> None:
    """Draw val error against GFLOPs for the trials, and each phi's GFLOPs over the base's; log it as a PNG.

    The family panel shows ratios, not GFLOPs, so a family grown from a small demo resolution still
    compares with the released EfficientNets (B_k over B0) and with target^phi.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    figure, (errors, costs) = plt.subplots(1, 2, figsize=(12, 4.8))
    trained = [point for point in trials if point.val_top1_error is not None]
    errors.scatter([p.gflops for p in trained], [p.val_top1_error for p in trained], color="tab:blue")
    for point in trained:
        errors.annotate(point.label, (point.gflops, point.val_top1_error), fontsize=7, xytext=(3, 3), textcoords="offset points")
    errors.set_xlabel("GFLOPs (GMACs) at phi = 1")
    errors.set_ylabel("val top-1 error (%)")
    errors.set_title("trials (alpha/beta/gamma)")
    phis = [phi for phi, _ in family_ratios]
    costs.plot(phis, [ratio for _, ratio in family_ratios], marker="o", label="found family (measured)")
    costs.plot(phis, [target**phi for phi in phis], linestyle=":", color="gray", label=f"{target:g}^phi")
    if released_ratios:
        costs.plot([phi for phi, _ in released_ratios], [ratio for _, ratio in released_ratios], marker="s",
                   linestyle="--", label="released EfficientNet B_phi / B0")
    costs.set_yscale("log")
    costs.xaxis.set_major_locator(MaxNLocator(integer=True))
    costs.set_xlabel("phi")
    costs.set_ylabel("GFLOPs / base GFLOPs (log scale)")
    costs.set_title("family")
    costs.legend()
    figure.suptitle(title)
    _log_figure(tracking_uri, run_id, figure, artifact_file)


def draw_nas_chart(path: Path, *, trials: Sequence[NasChartPoint], target_gflops: float | None, title: str) -> Path:
    """Draw reward and val error against GFLOPs for every trial, the best one starred; write the PNG to `path`.

    `target_gflops` (the reward's T when the objective is FLOPs) is drawn as a dotted line.
    """
    return _save_figure(_nas_figure(trials, target_gflops, title), path)


def log_nas_chart(
    tracking_uri: str, run_id: str, *, trials: Sequence[NasChartPoint], target_gflops: float | None, title: str,
    artifact_file: str = "search_chart.png",
) -> None:
    """Draw the NAS search's chart (see `draw_nas_chart`) and log it as a PNG on its parent run."""
    _log_figure(tracking_uri, run_id, _nas_figure(trials, target_gflops, title), artifact_file)


def _nas_figure(trials: Sequence[NasChartPoint], target_gflops: float | None, title: str) -> Figure:
    """Two panels against GFLOPs: reward (left) and val error (right)."""
    figure, (rewards, errors) = _pyplot().subplots(1, 2, figsize=(12, 4.8))
    _nas_panel(rewards, [(point, point.reward) for point in trials], "reward ACC x (cost / T)^w", target_gflops)
    _nas_panel(errors, [(point, point.val_top1_error) for point in trials], "val top-1 error (%)", target_gflops)
    rewards.set_title("reward (higher is better)")
    errors.set_title("val error (lower is better)")
    figure.suptitle(title)
    return figure


def _nas_panel(panel: Axes, values: Sequence[tuple[NasChartPoint, float | None]], ylabel: str, target_gflops: float | None) -> None:
    """One metric against GFLOPs: completed trials filled, stopped ones hollow, the best a red star."""
    shown = [(point, value) for point, value in values if value is not None]
    completed = [(point, value) for point, value in shown if point.completed and not point.best]
    stopped = [(point, value) for point, value in shown if not point.completed and not point.best]
    if completed:
        panel.scatter([p.gflops for p, _ in completed], [v for _, v in completed], color="tab:blue", label="completed")
    if stopped:
        panel.scatter([p.gflops for p, _ in stopped], [v for _, v in stopped], facecolors="none", edgecolors="tab:gray",
                      label="stopped early")
    for point, value in shown:
        if point.best:
            panel.scatter([point.gflops], [value], marker="*", s=220, color="tab:red", zorder=3, label=f"best: {point.label}")
    if target_gflops is not None:
        panel.axvline(target_gflops, linestyle=":", color="gray", label=f"target {target_gflops:g} GFLOPs")
    panel.set_xlabel("GFLOPs (GMACs) at the search resolution")
    panel.set_ylabel(ylabel)
    panel.legend(fontsize=8)


def _pyplot() -> ModuleType:
    """matplotlib.pyplot on a file-only backend (loaded only when a chart is drawn)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: draw to a file only
    import matplotlib.pyplot as plt

    return plt


def _save_figure(figure: Figure, path: Path) -> Path:
    """Lay out `figure`, write it as a PNG to `path` and close it."""
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    _pyplot().close(figure)
    return path


def _log_figure(tracking_uri: str, run_id: str, figure: Figure, artifact_file: str) -> None:
    """Log `figure` as a PNG on the run under `artifact_file`'s name."""
    with tempfile.TemporaryDirectory(prefix="arena-chart-") as folder:
        path = _save_figure(figure, Path(folder) / Path(artifact_file).name)
        client_for(tracking_uri).log_artifact(run_id, str(path))
