"""Read what the dashboard shows from MLflow: experiment ids for run links, and searches with their trials.

A compound-scaling search is a `scaling-search` parent run with nested `scaling-trial` runs (metric
val_top1_error, param model.gflops) and the family's GFLOPs per phi as the `family_gflops` series; a
NAS is a `nas-search` parent with nested `nas-trial` runs whose metric `reward` traces its progress.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from arena.errors import ArenaError, mask_secrets

# MLflow 3 sends usage telemetry unless told not to; arena keeps it off unless the user opts in.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow.entities import ViewType  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

SEARCH_KINDS = {"scaling-search": "scaling-trial", "nas-search": "nas-trial"}


@dataclass(frozen=True)
class Trial:
    """One nested trial run of a search."""

    run_id: str
    name: str
    status: str
    started_ms: int | None
    model: str | None
    gflops: float | None
    params: float | None
    val_top1_error: float | None
    reward: float | None


@dataclass(frozen=True)
class Search:
    """One search parent run with its trials (oldest first) and, for compound scaling, the family's GFLOPs per phi."""

    kind: str
    run_id: str
    experiment_id: str
    name: str
    status: str
    started_ms: int | None
    dataset: str | None
    family: str | None
    trials: list[Trial] = field(default_factory=list)
    family_gflops: list[tuple[int, float]] = field(default_factory=list)
    coefficients: dict[str, float] = field(default_factory=dict)


def experiment_ids(tracking_uri: str) -> dict[str, str]:
    """Every experiment's id by its name (deleted ones too, so old runs still link)."""
    client = _client(tracking_uri)
    found: dict[str, str] = {}
    token = None
    try:
        while True:
            page = client.search_experiments(view_type=ViewType.ALL, max_results=1000, page_token=token)
            found.update({experiment.name: experiment.experiment_id for experiment in page})
            token = page.token
            if not token:
                return found
    except (MlflowException, OSError) as error:
        raise ArenaError(f"cannot read experiments from the MLflow tracking store {mask_secrets(tracking_uri)}: {error}") from None


def list_searches(tracking_uri: str, limit: int = 3) -> list[Search]:
    """The `limit` newest searches of each kind, with their trials."""
    client = _client(tracking_uri)
    try:
        experiments = list(experiment_ids(tracking_uri).values())
        searches = []
        for kind in SEARCH_KINDS:
            parents = []
            for start in range(0, len(experiments), 100):  # MLflow caps the experiments one search may name
                parents += client.search_runs(
                    experiments[start : start + 100], filter_string=f"tags.`arena.kind` = '{kind}'",
                    run_view_type=ViewType.ACTIVE_ONLY, max_results=limit, order_by=["attributes.start_time DESC"],
                )
            parents.sort(key=lambda run: -(run.info.start_time or 0))
            searches += [_search(client, parent, kind) for parent in parents[:limit]]
        return searches
    except (MlflowException, OSError) as error:
        raise ArenaError(f"cannot read searches from the MLflow tracking store {mask_secrets(tracking_uri)}: {error}") from None


def _search(client: MlflowClient, parent, kind: str) -> Search:  # noqa: ANN001 - an mlflow Run
    """A parent run as a Search, reading its nested trials and its family series."""
    info, data = parent.info, parent.data
    trial_kind = SEARCH_KINDS[kind]
    children = client.search_runs(
        [info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{info.run_id}'",
        run_view_type=ViewType.ACTIVE_ONLY, max_results=10_000, order_by=["attributes.start_time ASC"],
    )
    trials = [_trial(run) for run in children if run.data.tags.get("arena.kind", trial_kind) == trial_kind]
    family = []
    if kind == "scaling-search":
        history = client.get_metric_history(info.run_id, "family_gflops")
        family = sorted({int(metric.step): float(metric.value) for metric in history}.items())
    return Search(
        kind=kind, run_id=info.run_id, experiment_id=info.experiment_id, name=info.run_name or info.run_id,
        status=info.status, started_ms=info.start_time, dataset=data.tags.get("arena.dataset"),
        family=data.tags.get("arena.family"), trials=trials, family_gflops=family,
        coefficients={key: data.metrics[key] for key in ("alpha", "beta", "gamma") if key in data.metrics},
    )


def _trial(run) -> Trial:  # noqa: ANN001 - an mlflow Run
    """A nested run as a Trial."""
    info, data = run.info, run.data
    return Trial(
        run_id=info.run_id, name=info.run_name or info.run_id, status=info.status, started_ms=info.start_time,
        model=data.tags.get("arena.model") or data.params.get("model"),
        gflops=_number(data.params.get("model.gflops")) or data.metrics.get("gflops"),
        params=_number(data.params.get("model.params")),
        val_top1_error=data.metrics.get("val_top1_error"), reward=data.metrics.get("reward"),
    )


def _client(tracking_uri: str) -> MlflowClient:
    """A client for an existing store; a missing SQLite file is an ArenaError, never a new empty store."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        raise ArenaError(f"no MLflow tracking store at {tracking_uri.removeprefix('sqlite:///')} yet")
    try:
        return MlflowClient(tracking_uri=tracking_uri)
    except Exception as error:  # an unknown scheme or a broken database raises assorted errors
        raise ArenaError(f"cannot open the MLflow tracking store {mask_secrets(tracking_uri)}: {error}") from None


def _number(value: str | None) -> float | None:
    """A param string as a float; None when absent or not a number."""
    try:
        return None if value in (None, "", "None") else float(value)
    except ValueError:
        return None
