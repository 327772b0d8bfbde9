"""Price search candidates before they train: build each, count params and GMACs, check the budget.

Shared by every search: a candidate is anything with an `id`; the search says how to build it and
at which resolution to count it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from arena.models import count_gflops, count_params

if TYPE_CHECKING:
    from torch import nn


class Candidate(Protocol):
    """What pricing needs of a candidate: a name to report it by."""

    @property
    def id(self) -> str: ...


CandidateT = TypeVar("CandidateT", bound=Candidate)


@dataclass(frozen=True)
class Price:
    """A built model's size: parameters and multiply-accumulates at its resolution."""

    params: int
    gflops: float


@dataclass(frozen=True)
class Budget:
    """The most a candidate may cost; None means no limit."""

    max_params: int | None = None
    max_gflops: float | None = None

    def violations(self, price: Price) -> list[str]:
        """Return why `price` is over budget, one reason a limit ([] when within budget)."""
        reasons = []
        if self.max_params is not None and price.params > self.max_params:
            reasons.append(f"params {price.params:,} > max_params {self.max_params:,}")
        if self.max_gflops is not None and price.gflops > self.max_gflops:
            reasons.append(f"gflops {price.gflops:.4g} > max_gflops {self.max_gflops:.4g}")
        return reasons


@dataclass(frozen=True)
class Priced(Generic[CandidateT]):
    """A candidate with its price and the budget's verdict."""

    candidate: CandidateT
    price: Price
    over_budget: tuple[str, ...] = ()
    """Why it was dropped; empty when it may train."""

    @property
    def within_budget(self) -> bool:
        """True when the candidate may train."""
        return not self.over_budget


def price_model(model: nn.Module, resolution: int) -> Price:
    """Count a built model's params and GMACs at `resolution`."""
    return Price(params=count_params(model), gflops=count_gflops(model, resolution))


def price_candidates(
    candidates: Sequence[CandidateT],
    build: Callable[[CandidateT], nn.Module],
    resolution: Callable[[CandidateT], int],
    budget: Budget,
) -> list[Priced[CandidateT]]:
    """Build and count every candidate, marking those over `budget` with the reasons."""
    priced = []
    for candidate in candidates:
        price = price_model(build(candidate), resolution(candidate))
        priced.append(Priced(candidate, price, tuple(budget.violations(price))))
    return priced


def describe_dropped(priced: Sequence[Priced[CandidateT]]) -> list[str]:
    """One line per candidate over budget: its id and why."""
    return [f"{item.candidate.id}: {'; '.join(item.over_budget)}" for item in priced if not item.within_budget]
