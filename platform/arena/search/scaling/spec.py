"""The compound-scaling search spec: typed, frozen, validated; `jobs/search/compound_scaling*.yaml` only override it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from arena.errors import SpecError, UnknownNameError
from arena.models.nas import PREFIX as NAS_PREFIX
from arena.models.nas import load_nas_model, nas_model_names, parse_architecture
from arena.search.core.spec import BudgetSpec, FrozenSpec, SearchSpec, TuneSpec, check_holdout, parse_search_spec
from arena.search.scaling.compound import BASE_NETWORKS, BaseNetwork, nas_base_network
from arena.settings import Settings
from arena.spec import JobSpec, read_yaml_tree


def scalable_base(model: str, home: Path | None) -> BaseNetwork:
    """The net a scaling search grows: efficientnet_b0, resnet50, or a nas:<id> saved under `home`.

    Anything else raises ValueError naming base.model and the valid choices.
    """
    if model in BASE_NETWORKS:
        return BASE_NETWORKS[model]
    if not model.startswith(NAS_PREFIX + ":"):
        raise ValueError(
            f"base.model: {model!r} cannot be scaled; choose one of {', '.join(BASE_NETWORKS)} or a nas:<id> saved by `arena search nas`"
        )
    if home is None:
        raise ValueError(f"base.model: {model} is read from an arena home, and none was given")
    saved = load_nas_model(model, home)
    if saved is None:
        raise ValueError(f"base.model: {UnknownNameError('NAS model', model, nas_model_names(home))}")
    try:
        architecture = parse_architecture(saved.architecture, source=model)
    except SpecError as error:
        raise ValueError(f"base.model: the saved {model} is not a valid architecture: {'; '.join(error.problems)}") from None
    return nas_base_network(model, architecture, saved.resolution)


class RangeSpec(FrozenSpec):
    """Grid values minimum, minimum + step, ... up to maximum (inclusive)."""

    min: float = Field(1.0, ge=1.0)
    """Coefficients below 1 would shrink the base net; compound scaling only grows it."""
    max: float = Field(ge=1.0)
    step: float = Field(0.05, gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> RangeSpec:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class GridSpec(FrozenSpec):
    """The phi = 1 grid of (alpha, beta, gamma) and the constraint alpha * beta^2 * gamma^2 ~ target."""

    alpha: RangeSpec = RangeSpec(min=1.0, max=1.4, step=0.05)
    """Depth growth per step of phi."""
    beta: RangeSpec = RangeSpec(min=1.0, max=1.3, step=0.05)
    """Width growth per step of phi."""
    gamma: RangeSpec = RangeSpec(min=1.0, max=1.3, step=0.05)
    """Resolution growth per step of phi."""
    target: float = Field(2.0, gt=1.0)
    """FLOPs multiple per step of phi: 2 in the paper, so phi = k costs about 2^k times the base."""
    tolerance: float = Field(0.05, gt=0.0, lt=1.0)
    """Relative slack around the target; 0.05 keeps the paper's 1.2 * 1.1^2 * 1.15^2 = 1.92."""


class ScalingSearchSpec(SearchSpec):
    """A compound-scaling search: the grid, the budget, the trial recipe and the family to build.

    base.model is the net to scale: efficientnet_b0, resnet50 or a saved nas:<id>. The budget
    applies at phi = 1 (the candidates' GMACs at their phi = 1 resolution).
    """

    grid: GridSpec = GridSpec()
    budget: BudgetSpec = BudgetSpec()
    tune: TuneSpec = TuneSpec()
    max_phi: int = Field(7, ge=1, le=12)
    """The family built from the winner: phi = 1..max_phi (B1..B7 in the paper)."""

    @field_validator("base")
    @classmethod
    def _scalable_base(cls, base: JobSpec, info: ValidationInfo) -> JobSpec:
        # A field validator (not a model one) so this problem is reported beside the others. A nas:
        # base is looked up in the arena home the loader was given, where `arena search nas` saved it.
        scalable_base(base.model, (info.context or {}).get("home"))
        return check_holdout(base)

    def base_network(self, home: Path | None) -> BaseNetwork:
        """The net this search grows; a nas: base is read from `home`."""
        return scalable_base(self.base.model, home)


def base_model_of(tree: Any) -> str:
    """The `base.model` a search spec tree names, before it is validated ("" when it names none)."""
    base = tree.get("base") if isinstance(tree, dict) else None
    model = base.get("model") if isinstance(base, dict) else None
    return model if isinstance(model, str) else ""


def parse_scaling_spec(tree: Any, source: str = "search spec", *, home: Path | None = None) -> ScalingSearchSpec:
    """Validate a nested mapping as a ScalingSearchSpec, reporting every problem together."""
    return parse_search_spec(ScalingSearchSpec, tree, source, home=home)


def load_scaling_spec(path: str | Path, overrides: Sequence[str] = (), *, home: Path | None = None) -> ScalingSearchSpec:
    """Read a compound-scaling search spec (YAML), apply `--set` overrides and validate it against `home`."""
    return parse_scaling_spec(read_yaml_tree(path, overrides), source=str(Path(path)), home=home)


def read_scaling_spec(path: str | Path, overrides: Sequence[str], settings: Settings) -> ScalingSearchSpec:
    """Read a compound-scaling search spec and validate it on this host: a `nas:` base defined in MLflow is
    brought into the arena home first (`arena search scaling`, and `arena submit` before it sends one)."""
    from arena.training.grown_models import make_resolvable

    tree = read_yaml_tree(path, overrides)
    make_resolvable([base_model_of(tree)], tracking_uri=settings.tracking_uri, home=settings.home)
    return parse_scaling_spec(tree, source=str(Path(path)), home=settings.home)
