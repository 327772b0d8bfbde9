"""MLflow for searches: the parent run's results, its chart (drawn by arena.charts), and trial runs a scheduler cut short.

A search is one parent run with a nested run per trial (docs/mlflow.md). The trials open and close their
own runs through the training path; a trial that the scheduler stops early is killed mid-run, so
the search closes its run here afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlflow.entities import Metric, Param

from arena.charts.searches import ChartPoint, NasChartPoint, nas_search_chart, scaling_search_chart
from arena.tracking.client import client_for

CHART_ARTIFACT = "search_chart.svg"  # SVG: MLflow's artifact viewer shows it as an image


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
    artifact_file: str = CHART_ARTIFACT,
) -> None:
    """Log a compound-scaling search's chart (`charts.searches.scaling_search_chart`) as an SVG on its parent run."""
    svg = scaling_search_chart(trials, family_ratios, released_ratios, target, title)
    client_for(tracking_uri).log_text(run_id, svg, artifact_file)


def draw_nas_chart(path: Path, *, trials: Sequence[NasChartPoint], target_gflops: float | None, title: str) -> Path:
    """Write the NAS search's chart (`charts.searches.nas_search_chart`) as an SVG file at `path`."""
    path.write_text(nas_search_chart(trials, target_gflops, title), encoding="utf-8")
    return path


def log_nas_chart(
    tracking_uri: str, run_id: str, *, trials: Sequence[NasChartPoint], target_gflops: float | None, title: str,
    artifact_file: str = CHART_ARTIFACT,
) -> None:
    """Log the NAS search's chart (`charts.searches.nas_search_chart`) as an SVG on its parent run."""
    client_for(tracking_uri).log_text(run_id, nas_search_chart(trials, target_gflops, title), artifact_file)
