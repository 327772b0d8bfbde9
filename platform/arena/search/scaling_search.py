"""`arena search scaling`: grid, price, train as Tune trials, pick the best, grow the family.

The steps (Tan & Le, 2019, section 3.3): enumerate (alpha, beta, gamma) under the constraint; build
and price every candidate at phi = 1 and drop those over budget; train the rest as Tune trials in
one parent MLflow run; take the lowest-error completed trial (ties: fewer GFLOPs); then scale the
base by those coefficients to phi = 1..max_phi and persist each as `scaled:<name>-phi<k>`.
The base is efficientnet_b0, resnet50, or a net `arena search nas` found (`nas:<id>`), whose seven
stages scale like B0's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from arena.data.layout import dataset_identity
from arena.errors import ArenaError, RunFailed, SpecError
from arena.models import get_model_info
from arena.search import scaling
from arena.search.pricing import Budget, Price, Priced, describe_dropped, price_candidates, price_model
from arena.models.scaled import ScaledModel, build_architecture, save_scaled_model
from arena.search.scaling_report import DroppedRow, FamilyRow, ReleasedRow, ScalingResult, TrialRow
from arena.search.spec import ScalingSearchSpec, load_scaling_spec
from arena.search.trials import (
    VAL_ERROR, Progress, TrialOutcome, TrialRequest, closing_parent_run, keep_checkpoint, print_progress, run_trials,
)
from arena.settings import Settings, load_settings
from arena.spec import JobSpec, flatten, parse_spec
from arena.tracking import run_log, search_log
from arena.training import ray_driver
from arena.training.checks import check_job

KIND_SEARCH = "scaling-search"
KIND_TRIAL = "scaling-trial"


def base_resolution(spec: ScalingSearchSpec) -> int:
    """The phi = 0 resolution: the base job's image size, else the base net's native one."""
    return spec.base.data.image_size or spec.base_network().resolution


def enumerate_candidates(spec: ScalingSearchSpec) -> list[scaling.ScaledArchitecture]:
    """Every phi = 1 net the grid allows under the constraint (pure)."""
    grid = spec.grid
    coefficients = scaling.enumerate_coefficients(
        scaling.grid_values(grid.alpha.min, grid.alpha.max, grid.alpha.step),
        scaling.grid_values(grid.beta.min, grid.beta.max, grid.beta.step),
        scaling.grid_values(grid.gamma.min, grid.gamma.max, grid.gamma.step),
        target=grid.target,
        tolerance=grid.tolerance,
    )
    base = spec.base_network()
    return [scaling.scale(base, c, 1, base_resolution=base_resolution(spec)) for c in coefficients]


def price_architectures(
    architectures: Sequence[scaling.ScaledArchitecture], spec: ScalingSearchSpec
) -> list[Priced[scaling.ScaledArchitecture]]:
    """Build each architecture with the budget's classifier size and count it at its resolution."""
    classes = spec.budget.num_classes
    return price_candidates(
        architectures,
        build=lambda a: build_architecture(a.base, a.width_multiplier, a.depth_multiplier, classes),
        resolution=lambda a: a.resolution,
        budget=Budget(spec.budget.max_params, spec.budget.max_gflops),
    )


def _scaled_model(name: str, spec: ScalingSearchSpec, architecture: scaling.ScaledArchitecture, price: Price) -> ScaledModel:
    c = architecture.coefficients
    return ScaledModel(
        name=name, base=architecture.base, width_multiplier=architecture.width_multiplier,
        depth_multiplier=architecture.depth_multiplier, resolution=architecture.resolution, phi=architecture.phi,
        alpha=c.alpha, beta=c.beta, gamma=c.gamma, search=spec.name, params=price.params, gflops=price.gflops,
    )


def candidate_model_name(spec: ScalingSearchSpec, architecture: scaling.ScaledArchitecture) -> str:
    """The `scaled:` name a trial trains: the search, the coefficients and phi."""
    return f"scaled:{spec.name}-{architecture.coefficients.id}-phi{architecture.phi}"


def trial_job(spec: ScalingSearchSpec, architecture: scaling.ScaledArchitecture, model: str) -> JobSpec:
    """The base recipe with the candidate's model, name and resolution."""
    tree = spec.base.model_dump(mode="json")
    tree.update(name=f"{spec.name}-{architecture.coefficients.id}", model=model, experiment=spec.experiment)
    tree["data"]["image_size"] = architecture.resolution
    return parse_spec(tree, source=f"trial {architecture.coefficients.id}")


def pick_best(outcomes: Sequence[TrialOutcome], gflops: dict[str, float]) -> TrialOutcome:
    """The completed trial with the lowest val error; ties go to fewer GFLOPs."""
    completed = [o for o in outcomes if o.status == "completed" and o.val_top1_error is not None]
    if not completed:
        raise RunFailed("no trial completed: " + "; ".join(f"{o.id} {o.status}" + (f" ({o.error})" if o.error else "") for o in outcomes))
    return min(completed, key=lambda o: (o.val_top1_error, gflops[o.id]))


def build_family(
    spec: ScalingSearchSpec, coefficients: scaling.Coefficients, base_price: Price, settings: Settings
) -> list[FamilyRow]:
    """Scale the base to phi = 1..max_phi, price and persist each member; compare with the released nets."""
    base = spec.base_network()
    members = scaling.scale_family(base, coefficients, range(1, spec.max_phi + 1), base_resolution=base_resolution(spec))
    released = scaling.RELEASED_EFFICIENTNETS if base.family == "efficientnet" else ()
    rows = []
    for priced in price_architectures(members, spec):
        member, price = priced.candidate, priced.price
        name = f"scaled:{spec.name}-phi{member.phi}"
        save_scaled_model(_scaled_model(name, spec, member, price), settings.home)
        reference = None
        if member.phi < len(released):
            model, width, depth, resolution = released[member.phi]
            reference = ReleasedRow(model, width, depth, resolution, get_model_info(model).gflops)
        rows.append(FamilyRow(
            phi=member.phi, depth_multiplier=member.depth_multiplier, width_multiplier=member.width_multiplier,
            resolution=member.resolution, params=price.params, gflops=price.gflops,
            gflops_ratio=price.gflops / base_price.gflops, target_ratio=spec.grid.target**member.phi,
            model=name, released=reference,
        ))
    return rows


def search_scaling(
    path: str | Path, overrides: Sequence[str] = (), *, progress: Progress = print_progress, verbose: bool = False
) -> ScalingResult:
    """`arena search scaling SPEC.yaml [--set k=v ...]`: load the spec, run the search, return its result."""
    return run_scaling_search(load_scaling_spec(path, overrides), progress=progress, verbose=verbose)


def run_scaling_search(
    spec: ScalingSearchSpec, settings: Settings | None = None, *, progress: Progress = print_progress, verbose: bool = False
) -> ScalingResult:
    """Run the whole search (see the module docstring); progress lines go to `progress` (stderr by default).

    `settings` must be this process's own (`load_settings()`, the default): `scaled:` names
    resolve from $ARENA_HOME.
    """
    settings = settings or load_settings()
    check_job(spec.base, settings)
    architectures = enumerate_candidates(spec)
    if not architectures:
        raise SpecError([f"grid: no (alpha, beta, gamma) has alpha*beta^2*gamma^2 within {spec.grid.tolerance:g} of {spec.grid.target:g}"])
    progress(f"pricing {len(architectures)} candidates at phi = 1 ...")
    priced = price_architectures(architectures, spec)
    for line in describe_dropped(priced):
        progress(f"dropped {line}")
    kept = [item for item in priced if item.within_budget]
    if not kept:
        raise ArenaError(f"every candidate is over the budget: {'; '.join(describe_dropped(priced))}")
    requests = []
    for item in kept:
        model = candidate_model_name(spec, item.candidate)
        # Persist before any trial starts: the trial's workers know the model only by name.
        save_scaled_model(_scaled_model(model, spec, item.candidate, item.price), settings.home)
        requests.append(TrialRequest(item.candidate.coefficients.id, trial_job(spec, item.candidate, model)))
    for request in requests:
        check_job(request.spec, settings)
    base_price = price_model(build_architecture(spec.base.model, 1.0, 1.0, spec.budget.num_classes), base_resolution(spec))
    started_ray = ray_driver.connect(settings, verbose=verbose, dashboard=True)
    try:
        parent = _open_parent(spec, settings, priced)
        progress(f"search {spec.name}: {len(requests)} trials in MLflow run {parent}")
        with closing_parent_run(settings, parent):
            outcomes = run_trials(requests, spec.tune, settings, kind=KIND_TRIAL, parent_run_id=parent, progress=progress,
                                  metric=VAL_ERROR, verbose=verbose)
            by_id = {item.candidate.coefficients.id: item for item in kept}
            best = pick_best(outcomes, {key: item.price.gflops for key, item in by_id.items()})
            winner = by_id[best.id].candidate.coefficients
            keep_checkpoint(best, settings)  # the winner alone is then measured on val/
            progress(f"best: {best.id} ({best.val_top1_error:.2f}% top-1 error on the held-out train images); building phi = 1..{spec.max_phi}")
            family = build_family(spec, winner, base_price, settings)
            result = _result(spec, parent, base_price, winner, outcomes, by_id, priced, family)
            _log_parent(settings, result, best)
        return result
    finally:
        if started_ray:
            ray_driver.disconnect()


def _open_parent(spec: ScalingSearchSpec, settings: Settings, priced: Sequence[Priced[scaling.ScaledArchitecture]]) -> str:
    info = get_model_info(spec.base.model)
    tags = {"arena.kind": KIND_SEARCH, "arena.model": spec.base.model, "arena.family": info.family,
            "arena.dataset": dataset_identity(spec.base.data)}
    params = flatten(spec.model_dump(mode="json", exclude={"base"}))
    run_id = run_log.start_run(settings.tracking_uri, settings.artifact_root, experiment=spec.experiment,
                               run_name=spec.name, tags=tags, params=params)
    import yaml

    run_log.log_text(settings.tracking_uri, run_id, yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False), "search_spec.yaml")
    lines = [f"{item.candidate.coefficients.id}\tparams {item.price.params}\tgflops {item.price.gflops:.6g}\t"
             + ("kept" if item.within_budget else "dropped: " + "; ".join(item.over_budget)) for item in priced]
    run_log.log_text(settings.tracking_uri, run_id, "\n".join(lines) + "\n", "pricing.tsv")
    return run_id


def _result(
    spec: ScalingSearchSpec, parent: str, base_price: Price, winner: scaling.Coefficients,
    outcomes: Sequence[TrialOutcome], by_id: dict[str, Priced[scaling.ScaledArchitecture]],
    priced: Sequence[Priced[scaling.ScaledArchitecture]], family: Sequence[FamilyRow],
) -> ScalingResult:
    trials = []
    for outcome in outcomes:
        item = by_id[outcome.id]
        c = item.candidate.coefficients
        trials.append(TrialRow(
            alpha=c.alpha, beta=c.beta, gamma=c.gamma, model=candidate_model_name(spec, item.candidate),
            resolution=item.candidate.resolution, params=item.price.params, gflops=item.price.gflops,
            val_top1_error=outcome.val_top1_error, status=outcome.status, epochs=outcome.epochs, run_id=outcome.run_id,
        ))
    dropped = tuple(
        DroppedRow(i.candidate.coefficients.alpha, i.candidate.coefficients.beta, i.candidate.coefficients.gamma,
                   i.price.params, i.price.gflops, i.over_budget)
        for i in priced if not i.within_budget
    )
    return ScalingResult(
        name=spec.name, parent_run_id=parent, base_model=spec.base.model, base_params=base_price.params,
        base_gflops=base_price.gflops, target=spec.grid.target, alpha=winner.alpha, beta=winner.beta,
        gamma=winner.gamma, trials=tuple(trials), family=tuple(family), dropped=dropped,
        holdout=spec.base.data.holdout,
    )


def _log_parent(settings: Settings, result: ScalingResult, best: TrialOutcome) -> None:
    counts = {status: sum(t.status == status for t in result.trials) for status in ("completed", "stopped", "failed")}
    search_log.log_search_results(
        settings.tracking_uri, result.parent_run_id,
        params={"best.alpha": result.alpha, "best.beta": result.beta, "best.gamma": result.gamma, "best.trial_run_id": best.run_id},
        metrics={"alpha": result.alpha, "beta": result.beta, "gamma": result.gamma,
                 "flops_factor": result.alpha * result.beta**2 * result.gamma**2,
                 "best_val_top1_error": best.val_top1_error or 0.0, **{f"trials_{k}": v for k, v in counts.items()}},
        series={"family_gflops": [(row.phi, row.gflops) for row in result.family],
                "family_gflops_ratio": [(row.phi, row.gflops_ratio) for row in result.family]},
    )
    b0_gflops = get_model_info("efficientnet_b0").gflops
    released = [(row.phi, row.released.gflops / b0_gflops) for row in result.family
                if row.released is not None and row.released.gflops and b0_gflops]
    search_log.log_search_chart(
        settings.tracking_uri, result.parent_run_id,
        trials=[search_log.ChartPoint(t.gflops, t.val_top1_error, f"{t.alpha:.2f}/{t.beta:.2f}/{t.gamma:.2f}") for t in result.trials],
        family_ratios=[(row.phi, row.gflops_ratio) for row in result.family],
        released_ratios=released,
        target=result.target,
        title=f"{result.name}: alpha={result.alpha}, beta={result.beta}, gamma={result.gamma}",
    )
