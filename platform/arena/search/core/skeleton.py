"""The one search sequence: check, price, connect, open the parent run, run the trials, pick the best, log, close.

A search supplies a `SearchPlan`: its candidates (trial requests, or a Tune Searcher that proposes
them), the metric its trials are ranked by, its parent run's tags and artifacts, how it picks the
best trial and how it builds and logs its result. `run_search` does the rest, the same way for
every search, so a third search writes only its own spec, candidates, metric and result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import yaml
from ray.tune.search import Searcher

from arena import kinds
from arena.errors import ArenaError, RunFailed, SpecError
from arena.search.core.spec import SearchSpec, TuneSpec
from arena.search.core.trials import (
    Progress, TrialMetric, TrialOutcome, TrialRequest, can_continue, closing_parent_run, experiment_path, keep_checkpoint,
    print_progress, run_trials,
)
from arena.settings import Settings
from arena.spec import flatten
from arena.tracking import run_log, search_log
from arena.training import ray_driver
from arena.training.checks import check_job, check_resources, name_dataset, refuse_live_driver, resumable_run
from arena.training.resume import DRIVER_TAG, driver_tag


class SearchResult(Protocol):
    """What every search returns: the CLI prints it and measures its winner on val/."""

    parent_run_id: str
    holdout: int
    winner_val_top1_error: float | None

    @property
    def winner_run_id(self) -> str | None: ...

    def to_json(self) -> dict[str, Any]: ...


ResultT = TypeVar("ResultT", bound=SearchResult)


class SearchPlan(Protocol[ResultT]):
    """What one search supplies to `run_search`; the methods run in this order."""

    kind: str
    """The parent run's `arena.kind` (`arena.kinds`); its trials get `kinds.TRIAL_OF_SEARCH[kind]`."""
    spec: SearchSpec
    tuning: TuneSpec
    """How Tune runs the trials: the spec's `tune` section."""
    metric: TrialMetric
    """What the scheduler ranks the trials by, every epoch."""
    searcher: Searcher | None
    """A Tune Searcher that proposes the candidates while the search runs; None for requests known up front."""

    def prepare(self, settings: Settings, progress: Progress) -> list[TrialRequest]:
        """Enumerate and price the candidates, persist those that train; return the trials to run.

        With a searcher, one template request whose job the searcher's configs replace.
        """
        ...

    def describe_trials(self, requests: Sequence[TrialRequest]) -> str:
        """How many trials run, for the progress line (e.g. `3 trials`)."""
        ...

    def parent_tags(self) -> dict[str, str]:
        """The parent run's tags beyond its kind and dataset."""
        ...

    def parent_artifacts(self) -> dict[str, str]:
        """Text files logged on the parent run when it opens, beside `search_spec.yaml`."""
        ...

    def pick_best(self, outcomes: Sequence[TrialOutcome]) -> TrialOutcome:
        """The winning trial; RunFailed when none completed."""
        ...

    def result(self, parent_run_id: str, outcomes: Sequence[TrialOutcome], best: TrialOutcome, settings: Settings,
               progress: Progress) -> ResultT:
        """Build the search's result (and whatever it makes of the winner, e.g. a scaled family)."""
        ...

    def log_result(self, result: ResultT, best: TrialOutcome, settings: Settings) -> None:
        """Log the result on the parent run (params, metrics, charts)."""
        ...


@dataclass(frozen=True)
class Continuation:
    """Continue the search of parent run `run_id` from its Tune state (`--resume RUN_ID [--force]`)."""

    run_id: str
    force: bool = False
    """Continue a parent run MLflow still shows RUNNING, whose driver ran on another host."""


def run_search(
    plan: SearchPlan[ResultT], settings: Settings, *, progress: Progress = print_progress, verbose: bool = False,
    resume: Continuation | None = None,
) -> ResultT:
    """Run a search from its plan, or continue one whose driver died (`resume`); progress lines go to `progress`.

    Every check that can fail on the spec runs before Ray starts or MLflow has a run.
    """
    spec = plan.spec
    check_job(spec.base, settings)
    if resume is not None:
        check_continuation(plan, settings, resume)
    requests = plan.prepare(settings, progress)
    for request in requests:
        if request.spec is not spec.base:
            check_job(request.spec, settings)
    started_ray = ray_driver.connect(settings, verbose=verbose, dashboard=True)
    try:
        check_resources(requests[0].spec, in_trial=True)  # a trial that cannot fit on the nodes: one line, before any run
        parent = reopen_parent(settings, resume.run_id) if resume else open_parent(plan, settings)
        how = "continuing" if resume else "running"
        progress(f"search {spec.name}: {how} {plan.describe_trials(requests)} in MLflow run {parent}")
        with closing_parent_run(settings, parent):
            outcomes = run_trials(
                requests, plan.tuning, settings, kind=kinds.TRIAL_OF_SEARCH[plan.kind], parent_run_id=parent,
                progress=progress, searcher=plan.searcher, metric=plan.metric, verbose=verbose,
                restore=resume is not None,
            )
            name_parent_from_trials(settings, parent)
            best = plan.pick_best(outcomes)
            keep_checkpoint(best, settings)  # the winner alone is then measured on val/
            result = plan.result(parent, outcomes, best, settings, progress)
            plan.log_result(result, best, settings)
        return result
    finally:
        if started_ray:
            ray_driver.disconnect()


def check_continuation(plan: SearchPlan[Any], settings: Settings, resume: Continuation) -> None:
    """Raise ArenaError unless the search of run `resume.run_id` can be continued with this spec, here and now."""
    run_id = resume.run_id
    summary = resumable_run(settings, run_id)
    kind, name = summary["tags"].get("arena.kind"), summary["run_name"]
    if kind != plan.kind:
        raise SpecError([f"run {run_id} is a {kind or 'non-arena'} run, not a {plan.kind} search's"], "--resume")
    if name != plan.spec.name:
        raise SpecError([f"name: {plan.spec.name!r} differs from the search of run {run_id} ({name!r})"], "--resume")
    if summary["status"] == "FINISHED":
        raise ArenaError(f"--resume {run_id}: the search already finished; nothing is left to continue")
    refuse_live_driver(summary, force=resume.force)
    if not can_continue(settings, run_id):
        raise ArenaError(
            f"--resume {run_id}: no Tune state of this search in ARENA_STORAGE={settings.storage} "
            f"(looked for {experiment_path(settings, run_id)}); start the search again instead, or point "
            "ARENA_STORAGE where its state is"
        )


def reopen_parent(settings: Settings, run_id: str) -> str:
    """Mark a search's parent run RUNNING again under this driver; its trials' runs the dead driver left open are KILLED."""
    search_log.close_unfinished_children(settings.tracking_uri, run_id, status="KILLED", reason="search driver died")
    run_log.set_status(settings.tracking_uri, run_id, "RUNNING")
    run_log.set_tags(settings.tracking_uri, run_id, {DRIVER_TAG: driver_tag()})
    return run_id


def open_parent(plan: SearchPlan[Any], settings: Settings) -> str:
    """Start the search's parent MLflow run: tags, the spec flattened as params, the spec and the plan's files."""
    spec = plan.spec
    dataset = name_dataset(spec.base, settings)  # on the worker hosts when on a cluster: the driver's may lack the data
    tags = {"arena.kind": plan.kind, **plan.parent_tags(), **({"arena.dataset": dataset} if dataset else {}),
            DRIVER_TAG: driver_tag()}
    params = flatten(spec.model_dump(mode="json", exclude={"base"}))
    run_id = run_log.start_run(settings.tracking_uri, settings.artifact_root, experiment=spec.experiment,
                               run_name=spec.name, tags=tags, params=params)
    run_log.log_text(settings.tracking_uri, run_id, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), "search_spec.yaml")
    for name, text in plan.parent_artifacts().items():
        run_log.log_text(settings.tracking_uri, run_id, text, name)
    return run_id


def name_parent_from_trials(settings: Settings, parent_run_id: str) -> None:
    """Give the search's parent and its trials' runs one dataset name: the parent's, or the one its trials named.

    A parent opened before any worker host was up (an autoscaler's) takes its trials' name; a trial's run
    closed before it trained (its search's driver died) takes the parent's.
    """
    parent = run_log.get_run_summary(settings.tracking_uri, parent_run_id)["tags"].get("arena.dataset")
    children = search_log.child_runs(settings.tracking_uri, parent_run_id)
    named = sorted({str(run["tags"]["arena.dataset"]) for run in children if "arena.dataset" in run["tags"]})
    name = parent or (named[0] if named else None)
    if name is None:
        return
    if parent is None:
        run_log.set_tags(settings.tracking_uri, parent_run_id, {"arena.dataset": name})
    for run in children:
        if "arena.dataset" not in run["tags"]:
            run_log.set_tags(settings.tracking_uri, str(run["run_id"]), {"arena.dataset": name})


def best_completed(outcomes: Sequence[TrialOutcome], rank: Callable[[TrialOutcome], Any]) -> TrialOutcome:
    """The completed trial that `rank` puts first (lowest); RunFailed naming every trial when none completed."""
    completed = [o for o in outcomes if o.status == "completed" and o.val_top1_error is not None]
    if not completed:
        raise RunFailed("no trial completed: " + "; ".join(f"{o.id} {o.status}" + (f" ({o.error})" if o.error else "") for o in outcomes))
    return min(completed, key=rank)
