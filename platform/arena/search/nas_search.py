"""`arena search nas`: propose, price, train as Tune trials, reward, keep the best as `nas:<id>`.

The steps (Tan et al., 2019, MnasNet): a Tune Searcher proposes architectures from the factorised
space (TPE, random or regularised evolution); each is built and priced (params, GMACs, or CPU
latency) at the search resolution, dropped when over budget, else persisted as
`nas:<name>-<id>` and trained as a trial nested in one parent MLflow run. Every epoch is scored by
the paper's reward ACC x (cost / T)^w from its val accuracy and the architecture's priced cost, and
ASHA cuts the trials whose reward lags; the highest-reward completed trial wins.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from arena.data.layout import dataset_identity
from arena.errors import RunFailed
from arena.models.nas import Architecture, NasModel, build_network, load_nas_model, save_nas_model
from arena.search.nas_reward import NasPrice, accuracy_of, price_network, reward
from arena.search.nas_report import NasBest, NasDroppedRow, NasResult, NasTrialRow
from arena.search.nas_searcher import REWARD, Candidate, NasSearcher
from arena.search.nas_spec import NasSearchSpec, ObjectiveSpec, load_nas_spec
from arena.search.pricing import Budget
from arena.search.trials import (
    Progress, TrialMetric, TrialOutcome, TrialRequest, closing_parent_run, keep_checkpoint, print_progress, run_trials,
)
from arena.settings import Settings, load_settings
from arena.spec import flatten
from arena.tracking import run_log, search_log
from arena.training import ray_driver
from arena.training.checks import check_job

KIND_SEARCH = "nas-search"
KIND_TRIAL = "nas-trial"


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
    tree = spec.base.model_dump(mode="json")
    tree.update(name=f"{spec.name}-{architecture_id}", model=model_name(spec, architecture_id), experiment=spec.experiment)
    tree["data"]["image_size"] = spec.resolution
    return tree


def trial_config(spec: NasSearchSpec, home: Path, candidate: Candidate) -> dict[str, Any]:
    """Persist the candidate as a `nas:` model (workers know it only by name); return its trial config.

    The config carries the candidate's priced cost, from which each epoch's reward is scored.
    """
    price = candidate.price
    save_nas_model(NasModel(
        name=model_name(spec, candidate.id), architecture=candidate.architecture.to_json(), resolution=spec.resolution,
        search=spec.name, params=price.params, gflops=price.gflops, latency_ms=price.latency_ms,
    ), home)
    return {"candidate": candidate.id, "spec": trial_job_tree(spec, candidate.id), "cost": price.cost(spec.objective.kind)}


def search_nas(
    path: str | Path, overrides: Sequence[str] = (), *, progress: Progress = print_progress, verbose: bool = False
) -> NasResult:
    """`arena search nas SPEC.yaml [--set k=v ...]`: load the spec, run the search, return its result."""
    return run_nas_search(load_nas_spec(path, overrides), progress=progress, verbose=verbose)


def run_nas_search(
    spec: NasSearchSpec, settings: Settings | None = None, *, progress: Progress = print_progress, verbose: bool = False
) -> NasResult:
    """Run the whole search (see the module docstring); progress lines go to `progress` (stderr by default).

    `settings` must be this process's own (`load_settings()`, the default): `nas:` names resolve
    from $ARENA_HOME.
    """
    settings = settings or load_settings()
    check_job(spec.base, settings)
    searcher = NasSearcher(
        spec.tune, evaluate=partial(price_architecture, spec), to_config=partial(trial_config, spec, settings.home),
        reward_of=partial(candidate_reward, spec), progress=progress,
    )
    started_ray = ray_driver.connect(settings, verbose=verbose, dashboard=True)
    try:
        parent = _open_parent(spec, settings)
        progress(f"search {spec.name}: {spec.tune.num_samples} trials ({spec.tune.searcher}) in MLflow run {parent}")
        with closing_parent_run(settings, parent):
            outcomes = run_trials([TrialRequest("template", spec.base)], spec.tune, settings, kind=KIND_TRIAL,
                                  parent_run_id=parent, progress=progress, searcher=searcher, metric=trial_metric(spec),
                                  verbose=verbose)
            rows = [_trial_row(spec, settings, outcome) for outcome in outcomes]
            best = _pick_best(rows)
            for outcome in outcomes:  # the winner alone is then measured on val/
                if outcome.run_id is not None and outcome.run_id == best.run_id:
                    keep_checkpoint(outcome, settings)
            progress(f"best: {best.model} reward {best.reward:.4f} ({best.val_top1_error:.2f}% top-1 error on the held-out train images)")
            dropped = tuple(NasDroppedRow(c.id, c.price.params, c.price.gflops, c.over_budget)
                            for c in searcher.candidates.values() if c.over_budget)
            objective = spec.objective
            result = NasResult(
                name=spec.name, parent_run_id=parent, objective=objective.kind, target=objective.target, w=objective.w,
                w_over=objective.w_over, resolution=spec.resolution, best=best, trials=tuple(rows), dropped=dropped,
                holdout=spec.base.data.holdout,
            )
            _log_parent(settings, result)
        return result
    finally:
        if started_ray:
            ray_driver.disconnect()


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


def _pick_best(rows: Sequence[NasTrialRow]) -> NasBest:
    """The completed trial with the highest reward; ties go to fewer GFLOPs."""
    completed = [row for row in rows if row.status == "completed" and row.reward is not None]
    if not completed:
        raise RunFailed("no trial completed: " + "; ".join(f"{row.model} {row.status}" for row in rows))
    row = max(completed, key=lambda r: (r.reward, -r.gflops))
    assert row.reward is not None and row.val_top1_error is not None
    return NasBest(model=row.model, architecture=row.architecture, params=row.params, gflops=row.gflops,
                   latency_ms=row.latency_ms, val_top1_error=row.val_top1_error, reward=row.reward, run_id=row.run_id)


def _open_parent(spec: NasSearchSpec, settings: Settings) -> str:
    tags = {"arena.kind": KIND_SEARCH, "arena.family": "nas", "arena.dataset": dataset_identity(spec.base.data)}
    params = flatten(spec.model_dump(mode="json", exclude={"base"}))
    run_id = run_log.start_run(settings.tracking_uri, settings.artifact_root, experiment=spec.experiment,
                               run_name=spec.name, tags=tags, params=params)
    run_log.log_text(settings.tracking_uri, run_id, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), "search_spec.yaml")
    return run_id


def chart_points(result: NasResult) -> list[search_log.NasChartPoint]:
    """Every trial as the search's chart draws it (reward and val error against GFLOPs), the best starred."""
    return [search_log.NasChartPoint(t.gflops, t.val_top1_error, t.reward, t.model, completed=t.status == "completed",
                                     best=t.model == result.best.model) for t in result.trials]


def _log_parent(settings: Settings, result: NasResult) -> None:
    best = result.best
    counts = {status: sum(t.status == status for t in result.trials) for status in ("completed", "stopped", "failed")}
    run_log.set_tags(settings.tracking_uri, result.parent_run_id, {"arena.model": best.model})
    search_log.log_search_results(
        settings.tracking_uri, result.parent_run_id,
        params={"best.model": best.model, "best.trial_run_id": best.run_id},
        metrics={"best_reward": best.reward, "best_val_top1_error": best.val_top1_error, "best_gflops": best.gflops,
                 "best_params": best.params, "trials_dropped": len(result.dropped),
                 **{f"trials_{key}": value for key, value in counts.items()}},
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
