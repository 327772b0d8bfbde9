"""What every search spec shares: typed, frozen, validated; `jobs/search/*.yaml` only override these defaults.

A search embeds a JobSpec-shaped `base` job: the recipe every trial trains with. Its `model` is the
base net that is scaled (or the skeleton of a NAS search); each trial replaces it with its candidate.
A search's own spec subclasses `SearchSpec` and adds its sections (`scaling.spec`, `nas.spec`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from arena.errors import SpecError
from arena.spec import JobSpec, describe_validation_errors


class FrozenSpec(BaseModel):
    """A spec section: unknown keys are errors, values never change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_holdout(base: JobSpec) -> JobSpec:
    """Searches rank trials on images held out of train, never on val: base.data.holdout must be set."""
    if base.data.holdout == 0:
        raise ValueError(
            "base.data.holdout: a search ranks its trials on images held out of train, never on val; "
            "set how many (MnasNet and EfficientNet held out 50000 of ImageNet's train images)"
        )
    return base


class BudgetSpec(FrozenSpec):
    """The cost a candidate may have, priced before any trial starts."""

    max_params: int | None = Field(None, ge=1)
    """Parameters; no limit when null."""
    max_gflops: float | None = Field(None, gt=0.0)
    """Multiply-accumulates (GMACs) at the candidate's resolution; no limit when null."""
    num_classes: int = Field(1000, ge=2)
    """Classifier size the models are priced with: ImageNet's 1000, as the zoo and the papers count."""


class TuneSpec(FrozenSpec):
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


class SearchSpec(FrozenSpec):
    """The fields every search has: its name, its MLflow experiment and the trial recipe.

    A search adds its own sections, a `budget` (`BudgetSpec`) and a `tune` (`TuneSpec` or a subclass)
    after them (in the order its YAML and its `search_spec.yaml` artifact show them).
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """The parent MLflow run's name, and the prefix of the models the search saves (`scaled:<name>-...`, `nas:<name>-...`)."""
    experiment: str = "arena"
    """MLflow experiment of the parent run and its trials."""
    base: JobSpec
    """The trial recipe (data, train, resources); each trial swaps in its own model."""


SpecT = TypeVar("SpecT", bound=SearchSpec)


def parse_search_spec(
    spec_class: type[SpecT], tree: Any, source: str = "search spec", *, home: Path | None = None,
) -> SpecT:
    """Validate a nested mapping as `spec_class`, reporting every problem together.

    `home` is the arena home saved models are looked up in (a scaling search's `nas:` base).
    """
    if not isinstance(tree, Mapping):
        raise SpecError([f"expected a mapping of fields, got {type(tree).__name__}"], source)
    try:
        return spec_class.model_validate(dict(tree), context=None if home is None else {"home": home})
    except ValidationError as error:
        raise SpecError(describe_validation_errors(error), source) from None


def candidate_job_tree(spec: SearchSpec, key: str, model: str, image_size: int) -> dict[str, Any]:
    """The base recipe with a candidate's model, name (`<search>-<key>`) and resolution, JSON-ready."""
    tree = spec.base.model_dump(mode="json")
    tree.update(name=f"{spec.name}-{key}", model=model, experiment=spec.experiment)
    tree["data"]["image_size"] = image_size
    return tree
