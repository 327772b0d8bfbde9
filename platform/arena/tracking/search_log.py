"""MLflow for searches: the parent run's results, its chart, and trial runs a scheduler cut short.

A search is one parent run with a nested run per trial (DESIGN.md). The trials open and close their
own runs through the training path; a trial that the scheduler stops early is killed mid-run, so
the search closes its run here afterwards.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Metric, Param

from arena.tracking.run_log import client_for


@dataclass(frozen=True)
class ChartPoint:
    """One trial on the chart: its cost, its error and a label."""

    gflops: float
    val_top1_error: float | None
    label: str


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
    import matplotlib

    matplotlib.use("Agg")  # no display: draw to a file only
    import matplotlib.pyplot as plt
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
    figure.tight_layout()
    with tempfile.TemporaryDirectory(prefix="arena-chart-") as folder:
        path = Path(folder) / Path(artifact_file).name
        figure.savefig(path, dpi=110)
        plt.close(figure)
        client_for(tracking_uri).log_artifact(run_id, str(path))
