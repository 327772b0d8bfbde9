"""The search specs: typed, frozen, validated; `jobs/search/*.yaml` only override these defaults.

A search embeds a JobSpec-shaped `base` job: the recipe every trial trains with. Its `model` is the
base net that is scaled (or the seed of a NAS search); each trial replaces it with its candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from arena.errors import SpecError, UnknownNameError
from arena.models.nas import PREFIX as NAS_PREFIX
from arena.models.nas import load_nas_model, nas_model_names, parse_architecture
from arena.search.scaling import BASE_NETWORKS, BaseNetwork, nas_base_network
from arena.settings import load_settings
from arena.spec import JobSpec, describe_validation_errors, read_yaml_tree


def check_holdout(base: JobSpec) -> JobSpec:
    """Searches rank trials on images held out of train, never on val: base.data.holdout must be set."""
    if base.data.holdout == 0:
        raise ValueError(
            "base.data.holdout: a search ranks its trials on images held out of train, never on val; "
            "set how many (MnasNet and EfficientNet held out 50000 of ImageNet's train images)"
        )
    return base


def scalable_base(model: str, home: Path) -> BaseNetwork:
    """The net a scaling search grows: efficientnet_b0, resnet50, or a nas:<id> saved under `home`.

    Anything else raises ValueError naming base.model and the valid choices.
    """
    if model in BASE_NETWORKS:
        return BASE_NETWORKS[model]
    if not model.startswith(NAS_PREFIX + ":"):
        raise ValueError(
            f"base.model: {model!r} cannot be scaled; choose one of {', '.join(BASE_NETWORKS)} or a nas:<id> saved by `arena search nas`"
        )
    saved = load_nas_model(model, home)
    if saved is None:
        raise ValueError(f"base.model: {UnknownNameError('NAS model', model, nas_model_names(home))}")
    try:
        architecture = parse_architecture(saved.architecture, source=model)
    except SpecError as error:
        raise ValueError(f"base.model: the saved {model} is not a valid architecture: {'; '.join(error.problems)}") from None
    return nas_base_network(model, architecture, saved.resolution)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RangeSpec(_Frozen):
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


class GridSpec(_Frozen):
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


class BudgetSpec(_Frozen):
    """The cost a candidate may have at phi = 1, priced before any trial starts."""

    max_params: int | None = Field(None, ge=1)
    """Parameters; no limit when null."""
    max_gflops: float | None = Field(None, gt=0.0)
    """Multiply-accumulates (GMACs) at the candidate's phi = 1 resolution; no limit when null."""
    num_classes: int = Field(1000, ge=2)
    """Classifier size the models are priced with: ImageNet's 1000, as the zoo and the papers count."""


class TuneSpec(_Frozen):
    """How Ray Tune runs the trials."""

    searcher: Literal["grid", "tpe"] = "grid"
    """grid: every candidate once; tpe: Optuna's TPE picks num_samples of them."""
    num_samples: int = Field(8, ge=1)
    """tpe only: how many trials to run."""
    scheduler: Literal["asha", "fifo"] = "asha"
    """asha stops trials that fall behind at each rung; fifo trains every trial to the end."""
    grace_period: int = Field(1, ge=1)
    """asha: epochs every trial gets before it can be stopped."""
    reduction_factor: float = Field(3.0, gt=1.0)
    """asha: only the best 1/reduction_factor of the trials at a rung go on."""
    max_concurrent: int | None = Field(None, ge=1)
    """Trials at once; as many as the cluster's CPUs (or GPUs) hold when null."""
    seed: int = 0
    """tpe: sampler seed."""


class ScalingSearchSpec(_Frozen):
    """A compound-scaling search: the grid, the budget, the trial recipe and the family to build."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """The parent MLflow run's name, and the prefix of the `scaled:<name>-...` models."""
    experiment: str = "arena"
    """MLflow experiment of the parent run and its trials."""
    base: JobSpec
    """The trial recipe; base.model is the net to scale (efficientnet_b0, resnet50 or a saved nas:<id>)."""
    grid: GridSpec = GridSpec()
    budget: BudgetSpec = BudgetSpec()
    tune: TuneSpec = TuneSpec()
    max_phi: int = Field(7, ge=1, le=12)
    """The family built from the winner: phi = 1..max_phi (B1..B7 in the paper)."""

    @field_validator("base")
    @classmethod
    def _scalable_base(cls, base: JobSpec) -> JobSpec:
        # A field validator (not a model one) so this problem is reported beside the others. A nas:
        # base is looked up in this process's $ARENA_HOME, where `arena search nas` saved it.
        scalable_base(base.model, load_settings().home)
        return check_holdout(base)

    def base_network(self) -> BaseNetwork:
        """The net this search grows; a nas: base is read from this process's $ARENA_HOME."""
        return scalable_base(self.base.model, load_settings().home)


def parse_scaling_spec(tree: Any, source: str = "search spec") -> ScalingSearchSpec:
    """Validate a nested mapping as a ScalingSearchSpec, reporting every problem together."""
    if not isinstance(tree, dict):
        raise SpecError([f"expected a mapping of fields, got {type(tree).__name__}"], source)
    try:
        return ScalingSearchSpec.model_validate(tree)
    except ValidationError as error:
        raise SpecError(describe_validation_errors(error), source) from None


def load_scaling_spec(path: str | Path, overrides: Sequence[str] = ()) -> ScalingSearchSpec:
    """Read a compound-scaling search spec (YAML), apply `--set` overrides and validate it."""
    return parse_scaling_spec(read_yaml_tree(path, overrides), source=str(Path(path)))
