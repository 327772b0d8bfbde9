"""Top-k error, counted one way for the training loop's validation and for `arena eval`."""

from __future__ import annotations

from torch import Tensor

TOP_K = 5
"""ILSVRC's top-5: a prediction counts as right when the label is among the five best classes."""


def top_k_misses(scores: Tensor, labels: Tensor, k: int = TOP_K) -> tuple[Tensor, Tensor]:
    """Per image of N x C `scores`: is the label not the best class (top-1), and not among the `k` best."""
    best = scores.topk(min(k, scores.shape[1]), dim=1).indices
    hits = best.eq(labels.unsqueeze(1))
    return ~hits[:, 0], ~hits.any(dim=1)
