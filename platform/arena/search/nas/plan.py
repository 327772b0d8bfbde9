"""`arena search nas`: propose, price, train as Tune trials, reward, keep the best as `nas:<id>`.

The steps (Tan et al., 2019, MnasNet): a Tune Searcher proposes architectures from the factorised
space (TPE, random or regularised evolution); each is built and priced (params, GMACs, or CPU
latency) at the search resolution, dropped when over budget, else persisted as
`nas:<name>-<id>` and trained as a trial nested in one parent MLflow run. Every epoch is scored by
the paper's reward ACC x (cost / T)^w from its val accuracy and the architecture's priced cost, and
ASHA cuts the trials whose reward lags; the highest-reward completed trial wins. `run_search`
(core.skeleton) runs the steps; `NasPlan` supplies them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from arena import kinds
from arena.models.nas import Architecture, NasModel, build_network, load_nas_model, save_nas_model
from arena.search.core.pricing import Budget
from arena.search.core.report import status_counts
from arena.search.core.skeleton import Continuation, best_completed, run_search
from arena.search.core.spec import candidate_job_tree
from arena.search.core.trials import Progress, TrialMetric, TrialOutcome, TrialRequest, print_progress
from arena.search.nas.report import NasBest, NasDroppedRow, NasResult, NasTrialRow
from arena.search.nas.reward import NasPrice, accuracy_of, price_network, reward
from arena.search.nas.searcher import REWARD, Candidate, NasSearcher
from arena.search.nas.spec import NasSearchSpec, ObjectiveSpec, load_nas_spec
from arena.settings import Settings
from arena.tracking import run_log, search_log
from arena.training.grown_models import publish


def model_name(spec: NasSearchSpec, architecture_id: str) -> str:
    """The `nas:` name a trial trains: the search's name and the architecture's hash."""
    return f"nas:{spec.name}-{architecture_id}"


def price_architecture(spec: NasSearchSpec, architecture: Architecture) -> Candidate:
    """Build the architecture with the budget's classifier size, price it and check the budget."""
    price = price_network(build_network(architecture, spec.budget.num_classes), spec.resolution, spec.objective.kind)
    over = Budget(spec.budget.max_params, spec.budget.max_gflops).violations(price.price)
    return Candidate(architecture, price, tuple(over))


def objective_reward(objective: ObjectiveSpec, cost: float, val_top1_error: float) -> float:
    """MnasNet's reward of a net of this cost and error: ACC x (cost / target)^w."""
    return reward(accuracy_of(val_top1_error), cost, objective.target, objective.w, objective.w_over)


def price_reward(spec: NasSearchSpec, price: NasPrice, val_top1_error: float) -> float:
    """The reward of a trained net of this price (GFLOPs or latency, as the objective says)."""
    return objective_reward(spec.objective, price.cost(spec.objective.kind), val_top1_error)


def epoch_reward(objective: ObjectiveSpec, config: dict[str, Any], metrics: dict[str, Any]) -> float:
    """The reward of one epoch of a trial: its val error and the priced cost its trial config carries."""
    return objective_reward(objective, config["cost"], metrics["val_top1_error"])


def trial_metric(spec: NasSearchSpec) -> TrialMetric:
    """What ASHA ranks NAS trials by: each epoch's reward, highest first."""
    return TrialMetric(REWARD, "max", score=partial(epoch_reward, spec.objective))


def candidate_reward(spec: NasSearchSpec, candidate: Candidate, val_top1_error: float) -> float:
    """The reward of a trained candidate (what the searcher learns from)."""
    return price_reward(spec, candidate.price, val_top1_error)


def trial_job_tree(spec: NasSearchSpec, architecture_id: str) -> dict[str, Any]:
    """The base recipe with the candidate's model and name (JSON-ready, as a trial config carries it)."""
    return candidate_job_tree(spec, architecture_id, model_name(spec, architecture_id), spec.resolution)


def trial_config(spec: NasSearchSpec, settings: Settings, candidate: Candidate) -> dict[str, Any]:
    """Save and publish the candidate as a `nas:` model (trials on any host know it by name); return its trial config.

    The config carries the candidate's priced cost, from which each epoch's reward is scored.
    """
    price = candidate.price
    name = model_name(spec, candidate.id)
    save_nas_model(NasModel(
        name=name, architecture=candidate.architecture.to_json(), resolution=spec.resolution,
        search=spec.name, params=price.params, gflops=price.gflops, latency_ms=price.latency_ms,
    ), settings.home)
    publish([name], settings)
    return {"candidate": candidate.id, "spec": trial_job_tree(spec, candidate.id), "cost": price.cost(spec.objective.kind)}


class NasPlan:
    """The NAS search as `run_search` runs it: a Tune Searcher proposes and prices the candidates as it goes."""

    kind = kinds.NAS_SEARCH

    def __init__(self, spec: NasSearchSpec) -> None:
        self.spec = spec
        self.tuning = spec.tune
        self.metric = trial_metric(spec)
        self.searcher: NasSearcher | None = None

    def prepare(self, settings: Settings, progress: Progress) -> list[TrialRequest]:
        """Make the searcher (it prices and persists each proposal); the trials share the base job."""
        self.searcher = NasSearcher(
            self.spec.tune, evaluate=partial(price_architecture, self.spec),
            to_config=partial(trial_config, self.spec, settings), reward_of=partial(candidate_reward, self.spec),
            progress=progress,
        )
        return [TrialRequest("template", self.spec.base)]

    def describe_trials(self, requests: Sequence[TrialRequest]) -> str:
        """How many architectures the searcher proposes, and how."""
        return f"{self.spec.tune.num_samples} trials ({self.spec.tune.searcher})"

    def parent_tags(self) -> dict[str, str]:
        """The family; the winner's model is tagged once it is known."""
        return {"arena.family": "nas"}

    def parent_artifacts(self) -> dict[str, str]:
        """None before the trials (the proposals are priced as the search runs)."""
        return {}

    def _candidate(self, outcome: TrialOutcome) -> Candidate:
        assert self.searcher is not None, "prepare() makes the searcher"
        return self.searcher.candidates[outcome.id]

    def pick_best(self, outcomes: Sequence[TrialOutcome]) -> TrialOutcome:
        """The completed trial with the highest reward; ties go to fewer GFLOPs."""
        def rank(outcome: TrialOutcome) -> tuple[float, float]:
            candidate = self._candidate(outcome)
            assert outcome.val_top1_error is not None
            return -candidate_reward(self.spec, candidate, outcome.val_top1_error), candidate.price.gflops

        return best_completed(outcomes, rank)

    def result(self, parent_run_id: str, outcomes: Sequence[TrialOutcome], best: TrialOutcome, settings: Settings,
               progress: Progress) -> NasResult:
        """Score every trial (on its saved model and its MLflow run) and gather them with the priced-out."""
        spec = self.spec
        rows = [_trial_row(spec, settings, outcome) for outcome in outcomes]
        publish([row.model for row in rows if row.reward is not None], settings)  # with their rewards
        row = next(row for row in rows if row.model == model_name(spec, best.id))
        assert row.reward is not None and row.val_top1_error is not None
        winner = NasBest(model=row.model, architecture=row.architecture, params=row.params, gflops=row.gflops,
                         latency_ms=row.latency_ms, val_top1_error=row.val_top1_error, reward=row.reward, run_id=row.run_id)
        progress(f"best: {winner.model} reward {winner.reward:.4f} ({winner.val_top1_error:.2f}% top-1 error on the held-out train images)")
        assert self.searcher is not None
        dropped = tuple(NasDroppedRow(id=c.id, params=c.price.params, gflops=c.price.gflops, reasons=c.over_budget)
                        for c in self.searcher.candidates.values() if c.over_budget)
        objective = spec.objective
        return NasResult(
            name=spec.name, parent_run_id=parent_run_id, objective=objective.kind, target=objective.target, w=objective.w,
            w_over=objective.w_over, resolution=spec.resolution, best=winner, trials=tuple(rows), dropped=dropped,
            holdout=spec.base.data.holdout,
        )

    def log_result(self, result: NasResult, best: TrialOutcome, settings: Settings) -> None:
        """The winner's model and architecture, the rewards, the search's chart and every trial's price."""
        _log_parent(settings, result)


def search_nas(
    path: str | Path, overrides: Sequence[str], settings: Settings, *, progress: Progress = print_progress,
    verbose: bool = False, resume: Continuation | None = None,
) -> NasResult:
    """`arena search nas SPEC.yaml [--set k=v ...]`: load the spec, run the search, return its result."""
    return run_nas_search(load_nas_spec(path, overrides), settings, progress=progress, verbose=verbose, resume=resume)


def run_nas_search(
    spec: NasSearchSpec, settings: Settings, *, progress: Progress = print_progress, verbose: bool = False,
    resume: Continuation | None = None,
) -> NasResult:
    """Run the whole search (see the module docstring); progress lines go to `progress` (stderr by default)."""
    return run_search(NasPlan(spec), settings, progress=progress, verbose=verbose, resume=resume)


def _trial_row(spec: NasSearchSpec, settings: Settings, outcome: TrialOutcome) -> NasTrialRow:
    """Score one trial, record its reward on its persisted model and its MLflow run."""
    name = model_name(spec, outcome.id)
    model = load_nas_model(name, settings.home)
    assert model is not None and model.params is not None and model.gflops is not None, f"{name} was not persisted"
    accuracy = score = None
    if outcome.val_top1_error is not None:
        accuracy = accuracy_of(outcome.val_top1_error)
        score = price_reward(spec, NasPrice(model.params, model.gflops, model.latency_ms), outcome.val_top1_error)
        save_nas_model(replace(model, reward=score, val_top1_error=outcome.val_top1_error), settings.home)
    if outcome.run_id is not None:
        run_log.log_text(settings.tracking_uri, outcome.run_id, json.dumps(model.architecture, indent=2) + "\n", "architecture.json")
        metrics = {"gflops": model.gflops, **({"latency_ms": model.latency_ms} if model.latency_ms is not None else {}),
                   **({"accuracy": accuracy, "reward": score} if score is not None else {})}
        search_log.log_search_results(settings.tracking_uri, outcome.run_id, params={}, metrics=metrics)
    return NasTrialRow(
        model=name, architecture=model.architecture, params=model.params, gflops=model.gflops, latency_ms=model.latency_ms,
        val_top1_error=outcome.val_top1_error, accuracy=accuracy, reward=score, status=outcome.status,
        epochs=outcome.epochs, run_id=outcome.run_id,
    )


def chart_points(result: NasResult) -> list[search_log.NasChartPoint]:
    """Every trial as the search's chart draws it (reward and val error against GFLOPs), the best starred."""
    return [search_log.NasChartPoint(t.gflops, t.val_top1_error, t.reward, t.model, completed=t.status == "completed",
                                     best=t.model == result.best.model) for t in result.trials]


def _log_parent(settings: Settings, result: NasResult) -> None:
    best = result.best
    run_log.set_tags(settings.tracking_uri, result.parent_run_id, {"arena.model": best.model})
    search_log.log_search_results(
        settings.tracking_uri, result.parent_run_id,
        params={"best.model": best.model, "best.trial_run_id": best.run_id},
        metrics={"best_reward": best.reward, "best_val_top1_error": best.val_top1_error, "best_gflops": best.gflops,
                 "best_params": best.params, "trials_dropped": len(result.dropped),
                 **status_counts(t.status for t in result.trials)},
        series={"trial_reward": [(step, t.reward) for step, t in enumerate(result.trials, 1) if t.reward is not None]},
    )
    run_log.log_text(settings.tracking_uri, result.parent_run_id, json.dumps(best.architecture, indent=2) + "\n", "best_architecture.json")
    unit = "GFLOPs" if result.objective == "flops" else "ms"
    search_log.log_nas_chart(
        settings.tracking_uri, result.parent_run_id, trials=chart_points(result),
        target_gflops=result.target if result.objective == "flops" else None,
        title=f"{result.name}: reward = ACC x (cost / {result.target:g} {unit})^{result.w:g}; best {best.model}",
    )
    lines = [f"{t.model}\tparams {t.params}\tgflops {t.gflops:.6g}\treward {t.reward}\t{t.status}" for t in result.trials]
    lines += [f"nas:{d.id}\tparams {d.params}\tgflops {d.gflops:.6g}\tdropped: {'; '.join(d.reasons)}" for d in result.dropped]
    run_log.log_text(settings.tracking_uri, result.parent_run_id, "\n".join(lines) + "\n", "trials.tsv")
