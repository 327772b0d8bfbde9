"""Read runs back from MLflow as plain records: finished runs for the leaderboard's sync, searches for its page.

A compound-scaling search is a `scaling-search` parent run with nested `scaling-trial` runs (metric
val_top1_error, param model.gflops) and the family's GFLOPs per phi as the `family_gflops` series; a
NAS is a `nas-search` parent with nested `nas-trial` runs whose metric `reward` traces its progress.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from arena import kinds
from arena.errors import ArenaError, mask_secrets
from arena.kinds import SCALING_SEARCH, TRIAL_OF_SEARCH
from arena.tracking.client import client_for, collector_paused

_PAGE = 10_000  # runs per search request (MLflow allows up to 50,000)
_EXPERIMENTS_PER_SEARCH = 100  # MLflow caps the experiments one run search may name


@dataclass(frozen=True)
class RunRecord:
    """One finished MLflow run: identity, tags, params, final (last-epoch) metrics and its times."""

    run_id: str
    experiment: str
    run_name: str
    status: str
    start_ms: int | None
    end_ms: int | None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def measured_on(self) -> str:
        """`val` or `holdout`: the images this run's val_* metrics were measured on (see `measured_on`)."""
        return measured_on(self.tags, self.params)


def measured_on(tags: dict[str, str], params: dict[str, str]) -> str:
    """`holdout` when a run's val_* metrics come from images held out of train, else `val`.

    The run's own `arena.measured_on` tag decides; runs from before that tag are told by what they
    record: an evaluation or ensemble measures a val/ folder (it copies the evaluated run's params,
    `data.holdout` included, so those do not count), and a training run or trial with
    `data.holdout` > 0 validated on the held-out slice of train.
    """
    tagged = tags.get(kinds.MEASURED_ON_TAG)
    if tagged in kinds.MEASURED_ON:
        return tagged
    if tags.get("arena.kind") in kinds.EVALUATIONS:
        return kinds.VAL
    return kinds.HOLDOUT if (_number(params.get("data.holdout")) or 0) > 0 else kinds.VAL


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
    measured_on: str = kinds.VAL
    """What `val_top1_error` was measured on: `holdout` for a search's trials, which rank on images held out of train."""


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


def list_finished_runs(tracking_uri: str, since_ms: int | None = None) -> list[RunRecord]:
    """Every FINISHED run in the store's active experiments that ended at or after `since_ms`, oldest first."""
    client = client_for(tracking_uri, must_exist=True)
    query = "attributes.status = 'FINISHED'"
    if since_ms is not None:
        query += f" and attributes.end_time >= {int(since_ms)}"
    with _reading(tracking_uri, "runs"):
        experiments = _experiments(client)
        records = [_record(run, experiments) for run in _all_runs(client, list(experiments), query, ViewType.ACTIVE_ONLY)]
    records.sort(key=lambda record: (record.end_ms or 0, record.run_id))
    return records


def list_unranked_run_ids(tracking_uri: str) -> set[str]:
    """Ids of runs the leaderboard must not show: deleted (or in a deleted experiment), or no longer FINISHED."""
    client = client_for(tracking_uri, must_exist=True)
    with _reading(tracking_uri, "runs"):
        ids = list(_experiments(client, ViewType.ALL))
        deleted = _all_runs(client, ids, "", ViewType.DELETED_ONLY)
        unfinished = _all_runs(client, ids, "attributes.status != 'FINISHED'", ViewType.ALL)
        return {run.info.run_id for run in deleted} | {run.info.run_id for run in unfinished}


def experiment_ids(tracking_uri: str) -> dict[str, str]:
    """Every experiment's id by its name (deleted ones too, so old runs still link)."""
    client = client_for(tracking_uri, must_exist=True)
    with _reading(tracking_uri, "experiments"):
        return {name: experiment_id for experiment_id, name in _experiments(client, ViewType.ALL).items()}


def list_searches(tracking_uri: str, limit: int = 3) -> list[Search]:
    """The `limit` newest searches of each kind, with their trials."""
    client = client_for(tracking_uri, must_exist=True)
    with _reading(tracking_uri, "searches"):
        experiments = list(_experiments(client, ViewType.ALL))
        searches = []
        for kind in TRIAL_OF_SEARCH:
            parents = []
            for start in range(0, len(experiments), _EXPERIMENTS_PER_SEARCH):
                parents += client.search_runs(
                    experiments[start : start + _EXPERIMENTS_PER_SEARCH], filter_string=f"tags.`arena.kind` = '{kind}'",
                    run_view_type=ViewType.ACTIVE_ONLY, max_results=limit, order_by=["attributes.start_time DESC"],
                )
            parents.sort(key=lambda run: -(run.info.start_time or 0))
            searches += [_search(client, parent, kind) for parent in parents[:limit]]
        return searches


@contextlib.contextmanager
def _reading(tracking_uri: str, what: str) -> Iterator[None]:
    """Turn MLflow's and the network's errors while reading `what` into an ArenaError naming the store."""
    shown = mask_secrets(tracking_uri)
    try:
        yield
    except MlflowException as error:
        raise ArenaError(f"cannot read {what} from the MLflow tracking store {shown}: {error.message}") from None
    except OSError as error:  # an http:// server that is not there, a store file that vanished
        raise ArenaError(f"cannot reach the MLflow tracking store {shown}: {error}") from None


def _experiments(client: MlflowClient, view: int = ViewType.ACTIVE_ONLY) -> dict[str, str]:
    """Experiments (the active ones unless told otherwise): id -> name."""
    found: dict[str, str] = {}
    token = None
    while True:
        page = client.search_experiments(view_type=view, max_results=1000, page_token=token)
        found.update({experiment.experiment_id: experiment.name for experiment in page})
        token = page.token
        if not token:
            return found


def _all_runs(client: MlflowClient, experiment_ids: list[str], query: str, view: int, order_by: list[str] | None = None) -> list[Run]:
    """Every run one search finds in `experiment_ids`, over all its pages."""
    runs: list[Run] = []
    for start in range(0, len(experiment_ids), _EXPERIMENTS_PER_SEARCH):
        token = None
        while True:
            with collector_paused():
                page = client.search_runs(experiment_ids[start : start + _EXPERIMENTS_PER_SEARCH], filter_string=query,
                                          run_view_type=view, max_results=_PAGE, order_by=order_by, page_token=token)
            runs += page
            token = page.token
            if not token:
                break
    return runs


def _record(run: Run, experiments: dict[str, str]) -> RunRecord:
    """A finished run as a record; its metrics are each one's value at its highest step (MLflow keeps those)."""
    info, data = run.info, run.data
    return RunRecord(
        run_id=info.run_id, experiment=experiments.get(info.experiment_id, info.experiment_id), run_name=info.run_name or "",
        status=info.status, start_ms=info.start_time, end_ms=info.end_time,
        tags=dict(data.tags), params=dict(data.params), metrics=dict(data.metrics),
    )


def _search(client: MlflowClient, parent: Run, kind: str) -> Search:
    """A parent run as a Search, reading its nested trials and its family series."""
    info, data = parent.info, parent.data
    trial_kind = TRIAL_OF_SEARCH[kind]
    children = _all_runs(client, [info.experiment_id], f"tags.mlflow.parentRunId = '{info.run_id}'", ViewType.ACTIVE_ONLY,
                         order_by=["attributes.start_time ASC"])
    trials = [_trial(run) for run in children if run.data.tags.get("arena.kind", trial_kind) == trial_kind]
    family = []
    if kind == SCALING_SEARCH:
        history = client.get_metric_history(info.run_id, "family_gflops")
        family = sorted({int(metric.step): float(metric.value) for metric in history}.items())
    return Search(
        kind=kind, run_id=info.run_id, experiment_id=info.experiment_id, name=info.run_name or info.run_id,
        status=info.status, started_ms=info.start_time, dataset=data.tags.get("arena.dataset"),
        family=data.tags.get("arena.family"), trials=trials, family_gflops=family,
        coefficients={key: data.metrics[key] for key in ("alpha", "beta", "gamma") if key in data.metrics},
    )


def _trial(run: Run) -> Trial:
    """A nested run as a Trial."""
    info, data = run.info, run.data
    return Trial(
        run_id=info.run_id, name=info.run_name or info.run_id, status=info.status, started_ms=info.start_time,
        model=data.tags.get("arena.model") or data.params.get("model"),
        gflops=_number(data.params.get("model.gflops")) or data.metrics.get("gflops"),
        params=_number(data.params.get("model.params")),
        val_top1_error=data.metrics.get("val_top1_error"), reward=data.metrics.get("reward"),
        measured_on=measured_on(data.tags, data.params),
    )


def _number(value: str | None) -> float | None:
    """A param string as a float; None when absent or not a number."""
    try:
        return None if value in (None, "", "None") else float(value)
    except ValueError:
        return None
