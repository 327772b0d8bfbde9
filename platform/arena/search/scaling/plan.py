"""`arena search scaling`: grid, price, train as Tune trials, pick the best, grow the family.

The steps (Tan & Le, 2019, section 3.3): enumerate (alpha, beta, gamma) under the constraint; build
and price every candidate at phi = 1 and drop those over budget; train the rest as Tune trials in
one parent MLflow run; take the lowest-error completed trial (ties: fewer GFLOPs); then scale the
base by those coefficients to phi = 1..max_phi and persist each as `scaled:<name>-phi<k>`.
The base is efficientnet_b0, resnet50, or a net `arena search nas` found (`nas:<id>`), whose seven
stages scale like B0's. `run_search` (core.skeleton) runs the steps; `ScalingPlan` supplies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from arena import kinds
from arena.errors import ArenaError, SpecError
from arena.models import get_model_info
from arena.models.scaled import ScaledModel, build_architecture, save_scaled_model
from arena.search.core.pricing import Budget, Price, Priced, describe_dropped, price_candidates, price_model
from arena.search.core.report import status_counts
from arena.search.core.skeleton import Continuation, best_completed, run_search
from arena.search.core.spec import candidate_job_tree
from arena.search.core.trials import VAL_ERROR, Progress, TrialOutcome, TrialRequest, print_progress
from arena.search.scaling import compound
from arena.search.scaling.compound import BaseNetwork, ScaledArchitecture
from arena.search.scaling.report import DroppedRow, FamilyRow, ReleasedRow, ScalingResult, TrialRow
from arena.search.scaling.spec import ScalingSearchSpec, read_scaling_spec
from arena.settings import Settings
from arena.spec import JobSpec, parse_spec
from arena.tracking import search_log
from arena.training.grown_models import publish


def base_resolution(spec: ScalingSearchSpec, base: BaseNetwork) -> int:
    """The phi = 0 resolution: the base job's image size, else the base net's native one."""
    return spec.base.data.image_size or base.resolution


def enumerate_candidates(spec: ScalingSearchSpec, base: BaseNetwork) -> list[ScaledArchitecture]:
    """Every phi = 1 net the grid allows under the constraint (pure)."""
    grid = spec.grid
    coefficients = compound.enumerate_coefficients(
        compound.grid_values(grid.alpha.min, grid.alpha.max, grid.alpha.step),
        compound.grid_values(grid.beta.min, grid.beta.max, grid.beta.step),
        compound.grid_values(grid.gamma.min, grid.gamma.max, grid.gamma.step),
        target=grid.target,
        tolerance=grid.tolerance,
    )
    return [compound.scale(base, c, 1, base_resolution=base_resolution(spec, base)) for c in coefficients]


def price_architectures(
    architectures: Sequence[ScaledArchitecture], spec: ScalingSearchSpec, home: Path
) -> list[Priced[ScaledArchitecture]]:
    """Build each architecture with the budget's classifier size and count it at its resolution."""
    classes = spec.budget.num_classes
    return price_candidates(
        architectures,
        build=lambda a: build_architecture(a.base, a.width_multiplier, a.depth_multiplier, classes, home=home),
        resolution=lambda a: a.resolution,
        budget=Budget(spec.budget.max_params, spec.budget.max_gflops),
    )


def _scaled_model(name: str, spec: ScalingSearchSpec, architecture: ScaledArchitecture, price: Price) -> ScaledModel:
    c = architecture.coefficients
    return ScaledModel(
        name=name, base=architecture.base, width_multiplier=architecture.width_multiplier,
        depth_multiplier=architecture.depth_multiplier, resolution=architecture.resolution, phi=architecture.phi,
        alpha=c.alpha, beta=c.beta, gamma=c.gamma, search=spec.name, params=price.params, gflops=price.gflops,
    )


def candidate_model_name(spec: ScalingSearchSpec, architecture: ScaledArchitecture) -> str:
    """The `scaled:` name a trial trains: the search, the coefficients and phi."""
    return f"scaled:{spec.name}-{architecture.coefficients.id}-phi{architecture.phi}"


def trial_job(spec: ScalingSearchSpec, architecture: ScaledArchitecture, model: str) -> JobSpec:
    """The base recipe with the candidate's model, name and resolution."""
    key = architecture.coefficients.id
    return parse_spec(candidate_job_tree(spec, key, model, architecture.resolution), source=f"trial {key}")


def build_family(
    spec: ScalingSearchSpec, base: BaseNetwork, coefficients: compound.Coefficients, base_price: Price, home: Path
) -> list[FamilyRow]:
    """Scale the base to phi = 1..max_phi, price and persist each member; compare with the released nets."""
    members = compound.scale_family(base, coefficients, range(1, spec.max_phi + 1), base_resolution=base_resolution(spec, base))
    released = compound.RELEASED_EFFICIENTNETS if base.family == "efficientnet" else ()
    rows = []
    for priced in price_architectures(members, spec, home):
        member, price = priced.candidate, priced.price
        name = f"scaled:{spec.name}-phi{member.phi}"
        save_scaled_model(_scaled_model(name, spec, member, price), home)
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


class ScalingPlan:
    """The compound-scaling search as `run_search` runs it: a grid of priced candidates known up front."""

    kind = kinds.SCALING_SEARCH
    metric = VAL_ERROR
    searcher = None

    def __init__(self, spec: ScalingSearchSpec, base: BaseNetwork) -> None:
        self.spec = spec
        self.base = base
        """The net the search grows (`spec.base_network(home)`)."""
        self.tuning = spec.tune
        self.priced: list[Priced[ScaledArchitecture]] = []
        self.kept: dict[str, Priced[ScaledArchitecture]] = {}
        """The candidates within budget, by trial id."""
        self.base_price: Price | None = None
        """The base net's own price, to compare the family with."""

    def prepare(self, settings: Settings, progress: Progress) -> list[TrialRequest]:
        """Enumerate and price the grid at phi = 1, persist the candidates within budget as `scaled:` models."""
        spec = self.spec
        architectures = enumerate_candidates(spec, self.base)
        if not architectures:
            raise SpecError([f"grid: no (alpha, beta, gamma) has alpha*beta^2*gamma^2 within {spec.grid.tolerance:g} of {spec.grid.target:g}"])
        progress(f"pricing {len(architectures)} candidates at phi = 1 ...")
        self.priced = price_architectures(architectures, spec, settings.home)
        for line in describe_dropped(self.priced):
            progress(f"dropped {line}")
        self.kept = {item.candidate.coefficients.id: item for item in self.priced if item.within_budget}
        if not self.kept:
            raise ArenaError(f"every candidate is over the budget: {'; '.join(describe_dropped(self.priced))}")
        requests = []
        for key, item in self.kept.items():
            model = candidate_model_name(spec, item.candidate)
            # Persist before any trial starts: the trial's workers know the model only by name.
            save_scaled_model(_scaled_model(model, spec, item.candidate, item.price), settings.home)
            requests.append(TrialRequest(key, trial_job(spec, item.candidate, model)))
        publish([request.spec.model for request in requests], settings)  # so that a trial on any host finds it
        base_net = build_architecture(spec.base.model, 1.0, 1.0, spec.budget.num_classes, home=settings.home)
        self.base_price = price_model(base_net, base_resolution(spec, self.base))
        return requests

    def describe_trials(self, requests: Sequence[TrialRequest]) -> str:
        """The number of candidates within budget."""
        return f"{len(requests)} trials"

    def parent_tags(self) -> dict[str, str]:
        """The base net and its family."""
        return {"arena.model": self.spec.base.model, "arena.family": self.base.family}

    def parent_artifacts(self) -> dict[str, str]:
        """`pricing.tsv`: every candidate's price and whether it was kept."""
        lines = [f"{item.candidate.coefficients.id}\tparams {item.price.params}\tgflops {item.price.gflops:.6g}\t"
                 + ("kept" if item.within_budget else "dropped: " + "; ".join(item.over_budget)) for item in self.priced]
        return {"pricing.tsv": "\n".join(lines) + "\n"}

    def pick_best(self, outcomes: Sequence[TrialOutcome]) -> TrialOutcome:
        """The completed trial with the lowest val error; ties go to fewer GFLOPs."""
        return best_completed(outcomes, lambda o: (o.val_top1_error, self.kept[o.id].price.gflops))

    def result(self, parent_run_id: str, outcomes: Sequence[TrialOutcome], best: TrialOutcome, settings: Settings,
               progress: Progress) -> ScalingResult:
        """Grow the winner's family to phi = max_phi and gather the trials, the priced-out and the family."""
        spec, base_price = self.spec, self.base_price
        assert base_price is not None, "prepare() prices the base"
        winner = self.kept[best.id].candidate.coefficients
        progress(f"best: {best.id} ({best.val_top1_error:.2f}% top-1 error on the held-out train images); building phi = 1..{spec.max_phi}")
        family = build_family(spec, self.base, winner, base_price, settings.home)
        publish([row.model for row in family], settings)
        trials = []
        for outcome in outcomes:
            item = self.kept[outcome.id]
            c = item.candidate.coefficients
            trials.append(TrialRow(
                alpha=c.alpha, beta=c.beta, gamma=c.gamma, model=candidate_model_name(spec, item.candidate),
                resolution=item.candidate.resolution, params=item.price.params, gflops=item.price.gflops,
                val_top1_error=outcome.val_top1_error, status=outcome.status, epochs=outcome.epochs, run_id=outcome.run_id,
            ))
        dropped = tuple(
            DroppedRow(alpha=i.candidate.coefficients.alpha, beta=i.candidate.coefficients.beta,
                       gamma=i.candidate.coefficients.gamma, params=i.price.params, gflops=i.price.gflops,
                       reasons=i.over_budget)
            for i in self.priced if not i.within_budget
        )
        return ScalingResult(
            name=spec.name, parent_run_id=parent_run_id, base_model=spec.base.model, base_params=base_price.params,
            base_gflops=base_price.gflops, target=spec.grid.target, alpha=winner.alpha, beta=winner.beta,
            gamma=winner.gamma, trials=tuple(trials), family=tuple(family), dropped=dropped,
            holdout=spec.base.data.holdout,
        )

    def log_result(self, result: ScalingResult, best: TrialOutcome, settings: Settings) -> None:
        """The coefficients, the family's GFLOPs and the search's chart."""
        search_log.log_search_results(
            settings.tracking_uri, result.parent_run_id,
            params={"best.alpha": result.alpha, "best.beta": result.beta, "best.gamma": result.gamma, "best.trial_run_id": best.run_id},
            metrics={"alpha": result.alpha, "beta": result.beta, "gamma": result.gamma,
                     "flops_factor": result.alpha * result.beta**2 * result.gamma**2,
                     "best_val_top1_error": best.val_top1_error or 0.0, **status_counts(t.status for t in result.trials)},
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


def search_scaling(
    path: str | Path, overrides: Sequence[str], settings: Settings, *, progress: Progress = print_progress,
    verbose: bool = False, resume: Continuation | None = None,
) -> ScalingResult:
    """`arena search scaling SPEC.yaml [--set k=v ...]`: load the spec, run the search, return its result."""
    spec = read_scaling_spec(path, overrides, settings)
    return run_scaling_search(spec, settings, progress=progress, verbose=verbose, resume=resume)


def run_scaling_search(
    spec: ScalingSearchSpec, settings: Settings, *, progress: Progress = print_progress, verbose: bool = False,
    resume: Continuation | None = None,
) -> ScalingResult:
    """Run the whole search (see the module docstring); progress lines go to `progress` (stderr by default)."""
    plan = ScalingPlan(spec, spec.base_network(settings.home))
    return run_search(plan, settings, progress=progress, verbose=verbose, resume=resume)
