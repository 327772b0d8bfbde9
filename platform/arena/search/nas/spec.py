"""The NAS search spec: typed, frozen, validated; `jobs/search/nas_*.yaml` only override these defaults.

Like the scaling search it embeds a JobSpec-shaped `base` job, the recipe every trial trains with;
its model is left out (each trial trains its own `nas:<id>` net on B0's skeleton).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from arena.search.core.spec import BudgetSpec, FrozenSpec, SearchSpec, TuneSpec, check_holdout, parse_search_spec
from arena.spec import JobSpec, read_yaml_tree

SKELETON_MODEL = "efficientnet_b0"
"""The zoo net whose skeleton the space is factorised around; stands in for base.model."""


class ObjectiveSpec(FrozenSpec):
    """MnasNet's reward ACC * (cost / target)^w: which cost, its target and the exponents."""

    kind: Literal["flops", "latency"] = "flops"
    """flops: GMACs at the search resolution (counted); latency: CPU ms per image at batch 1 (measured)."""
    target: float = Field(gt=0.0)
    """T: GFLOPs (GMACs) or milliseconds, as `kind` says."""
    w: float = Field(-0.07, le=0.0)
    """Exponent at or under the target (the paper's alpha): -0.07 trades ~5% accuracy for 2x cost."""
    w_over: float | None = Field(None, le=0.0)
    """Exponent over the target (the paper's beta); w when null (soft constraint); -1 is a hard-ish cap."""


class NasTuneSpec(TuneSpec):
    """How Ray Tune proposes and runs the architectures."""

    searcher: Literal["tpe", "random", "evolution"] = "tpe"  # type: ignore[assignment]
    """tpe: Optuna's TPE over each stage's choices; random: uniform samples; evolution: regularised evolution."""
    num_samples: int = Field(16, ge=1)
    """How many architectures to train (priced-out ones do not count)."""
    population: int = Field(8, ge=2)
    """evolution: the population size (its first members are random samples)."""
    sample_size: int = Field(3, ge=1)
    """evolution: members drawn per tournament; the best of them is mutated."""

    @model_validator(mode="after")
    def _tournament_fits(self) -> NasTuneSpec:
        if self.sample_size > self.population:
            raise ValueError(f"tune.sample_size ({self.sample_size}) is larger than tune.population ({self.population})")
        return self


class NasSearchSpec(SearchSpec):
    """A MnasNet-style search: the objective, the budget, the trial recipe and how Tune searches."""

    objective: ObjectiveSpec
    budget: BudgetSpec = BudgetSpec()
    """Hard limits checked when a candidate is priced; over-budget ones never train."""
    tune: NasTuneSpec = NasTuneSpec()

    @field_validator("base")
    @classmethod
    def _no_model(cls, base: JobSpec) -> JobSpec:
        if base.model != SKELETON_MODEL:
            raise ValueError(f"base.model: a NAS search trains its own nas:<id> nets; leave it out (got {base.model!r})")
        return check_holdout(base)

    @property
    def resolution(self) -> int:
        """The side every candidate is priced and trained at."""
        return self.base.data.image_size or 224


def parse_nas_spec(tree: Any, source: str = "search spec") -> NasSearchSpec:
    """Validate a nested mapping as a NasSearchSpec, reporting every problem together."""
    if isinstance(tree, dict) and isinstance(tree.get("base"), dict):
        tree = {**tree, "base": {"model": SKELETON_MODEL, **tree["base"]}}
    return parse_search_spec(NasSearchSpec, tree, source)


def load_nas_spec(path: str | Path, overrides: Sequence[str] = ()) -> NasSearchSpec:
    """Read a NAS search spec (YAML), apply `--set` overrides and validate it."""
    return parse_nas_spec(read_yaml_tree(path, overrides), source=str(Path(path)))
