"""Count a model's parameters and multiply-accumulates."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Return the number of parameters (trainable or not) of `model`."""
    return sum(parameter.numel() for parameter in model.parameters())


def count_gflops(model: nn.Module, resolution: int) -> float:
    """Return the GMACs of one forward pass of a square `resolution` image (the papers' "GFLOPs")."""
    was_training = model.training
    model.eval()
    image = torch.zeros(1, 3, resolution, resolution)
    counter = FlopCounterMode(display=False)
    # The fused attention kernels are invisible to the counter; the math path shows its matmuls.
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
            model(image)
    finally:
        model.train(was_training)
    # FlopCounterMode counts two FLOPs (a multiply and an add) per multiply-accumulate.
    return counter.get_total_flops() / 2 / 1e9
