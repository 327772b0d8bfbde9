"""MnasNet's reward and the costs it weighs: GFLOPs counted, or CPU latency measured.

Tan et al. (2019), equation 2: reward(m) = ACC(m) * [cost(m) / T]^w, with w = alpha when cost <= T
and w = beta otherwise. alpha = beta = -0.07 is the paper's soft constraint: a model twice the
target must be about 5% more accurate to score the same; a smaller one earns a matching bonus.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from arena.search.core.pricing import Price, price_model

if TYPE_CHECKING:
    from torch import nn

Objective = Literal["flops", "latency"]


def accuracy_of(val_top1_error: float) -> float:
    """ACC(m): top-1 accuracy as a fraction, from the error in percent."""
    return 1.0 - val_top1_error / 100.0


def reward(accuracy: float, cost: float, target: float, w: float, w_over: float | None = None) -> float:
    """ACC * (cost / target)^w, with `w_over` (w when None) for costs above the target."""
    if cost <= 0 or target <= 0:
        raise ValueError(f"cost and target must be positive, got cost={cost}, target={target}")
    exponent = w if cost <= target or w_over is None else w_over
    return accuracy * (cost / target) ** exponent


def measure_latency_ms(model: nn.Module, resolution: int, repeats: int = 5, warmup: int = 2) -> float:
    """Median CPU milliseconds of a forward pass on one image (batch 1), after `warmup` passes."""
    import torch

    was_training = model.training
    model.eval()
    image = torch.zeros(1, 3, resolution, resolution)
    timings = []
    try:
        with torch.inference_mode():
            for index in range(warmup + repeats):
                start = time.perf_counter()
                model(image)
                if index >= warmup:
                    timings.append((time.perf_counter() - start) * 1000.0)
    finally:
        model.train(was_training)
    return statistics.median(timings)


@dataclass(frozen=True)
class NasPrice:
    """A candidate's size and the cost the reward weighs (GFLOPs or milliseconds)."""

    params: int
    gflops: float
    latency_ms: float | None = None

    def cost(self, objective: Objective) -> float:
        """The number the reward compares with its target."""
        if objective == "latency":
            if self.latency_ms is None:
                raise ValueError("latency was not measured for this candidate")
            return self.latency_ms
        return self.gflops

    @property
    def price(self) -> Price:
        """The shared pricing's view (params and GFLOPs), for budgets."""
        return Price(self.params, self.gflops)


def price_network(model: nn.Module, resolution: int, objective: Objective) -> NasPrice:
    """Count params and GMACs at `resolution`; also time it when the objective is latency."""
    price = price_model(model, resolution)
    latency = measure_latency_ms(model, resolution) if objective == "latency" else None
    return NasPrice(price.params, price.gflops, latency)
