"""Count a model's parameters and multiply-accumulates."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def count_params(model: nn.Module) -> int:
    """Return the number of parameters (trainable or not) of `model`."""
    return sum(parameter.numel() for parameter in model.parameters())


def count_gflops(model: nn.Module, resolution: int) -> float:
    """Return the GMACs of one forward pass of a square `resolution` image (the papers' "GFLOPs")."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    image = torch.zeros(1, 3, resolution, resolution)
    counter = FlopCounterMode(display=False)
    # Fused attention kernels are invisible to the counter: force the math path of
    # scaled_dot_product_attention, and turn off nn.MultiheadAttention's fused eval fast path.
    fastpath_was_enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
            model(image)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath_was_enabled)
        model.train(was_training)
    # FlopCounterMode counts two FLOPs (a multiply and an add) per multiply-accumulate.
    return counter.get_total_flops() / 2 / 1e9
