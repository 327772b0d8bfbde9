"""Fuse several models' per-image predictions, as Trimps-Soushen fused five nets to win ILSVRC 2016.

Each method returns N x C scores, higher meaning more likely, ranked like a single model's output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from arena.errors import ArenaError

METHODS = ("mean", "weighted", "vote")


def resolve_weights(method: str, weights: Sequence[float] | None, members: int) -> list[float] | None:
    """Normalised weights for `method` (None unless weighted); ArenaError for a bad method or weights."""
    if method not in METHODS:
        raise ArenaError(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    if method != "weighted":
        if weights is not None:
            raise ArenaError(f"--weights: the {method} method takes no weights; use --method weighted")
        return None
    if weights is None:
        raise ArenaError("--weights: the weighted method needs one weight per run")
    if len(weights) != members:
        raise ArenaError(f"--weights: {len(weights)} weight(s) for {members} runs; give one per run")
    if any(not math.isfinite(weight) or weight < 0 for weight in weights):
        raise ArenaError(f"--weights: {list(weights)} must be finite and non-negative")
    total = float(sum(weights))
    if total <= 0:
        raise ArenaError("--weights: at least one weight must be above 0")
    return [float(weight) / total for weight in weights]


def fuse(log_probs: Sequence[Tensor], method: str, weights: Sequence[float] | None = None) -> Tensor:
    """Fuse members' N x C log-probabilities: mean or weighted mean of probabilities, or majority vote."""
    stacked = torch.stack(list(log_probs))  # members x N x C
    members = stacked.shape[0]
    if method == "vote":
        return _vote(stacked)
    if method == "weighted":
        assert weights is not None and len(weights) == members
        log_weights = torch.log(torch.tensor(weights, dtype=stacked.dtype))
    else:
        log_weights = torch.full((members,), -math.log(members), dtype=stacked.dtype)
    # log of sum_m w_m p_m, computed without leaving log space
    return torch.logsumexp(stacked + log_weights.view(-1, 1, 1), dim=0)


def _vote(stacked: Tensor) -> Tensor:
    """Votes for each member's top-1 class; ties (and the ranking below the top) go by summed probability."""
    members, _, classes = stacked.shape
    votes = torch.nn.functional.one_hot(stacked.argmax(dim=2), classes).sum(dim=0).to(stacked.dtype)
    summed = stacked.exp().sum(dim=0)
    # Summed probability never reaches members + 1, so one vote outweighs any probability.
    return votes * (members + 1) + summed
