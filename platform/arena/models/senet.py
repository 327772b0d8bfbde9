"""Squeeze-and-excitation networks (ILSVRC 2017 winner): channels reweighted from global context."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.models.info import imagenet_input
from arena.models.registry import register
from arena.models.timm_models import create_timm_model

if TYPE_CHECKING:
    from torch import nn

_SENET = dict(
    family="senet",
    year=2017,
    paper_title="Squeeze-and-Excitation Networks",
    paper_authors="Hu, Shen, Albanie, Sun, Wu",
    key_idea=(
        "The SE module squeezes each feature map to its global average, then a two-layer bottleneck MLP "
        "with a sigmoid excites (rescales) every channel: cheap attention over channels that plugs into "
        "any block."
    ),
)
_SE = "y = F(x); y = y * sigmoid(FC(ReLU(FC(avgpool(y))))) (reduction 16); out = ReLU(x + y)"
_SINGLE_CROP = "Paper errors: single model, single 224 crop"


@register(
    "seresnet50",
    **_SENET,
    block=f"ResNet bottleneck with SE: {_SE}",
    input=imagenet_input(224, min_input=1),
    paper_top1_error=23.29,
    paper_top5_error=6.62,
    notes=(
        f"timm's SE-ResNet-50 (downsampling in the 3x3 conv, 4.1 GMACs; the paper's layout gives 3.87). "
        f"{_SINGLE_CROP} (Table 2)."
    ),
)
def seresnet50(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build SE-ResNet-50."""
    return create_timm_model("seresnet50", num_classes, drop_rate, drop_path_rate)


@register(
    "seresnext50_32x4d",
    **_SENET,
    block=f"ResNeXt bottleneck (32 groups) with SE: {_SE}",
    input=imagenet_input(224, min_input=1),
    paper_top1_error=21.10,
    paper_top5_error=5.49,
    notes=f"timm's SE-ResNeXt-50 (32x4d). {_SINGLE_CROP} (Table 2).",
)
def seresnext50_32x4d(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build SE-ResNeXt-50 (32x4d)."""
    return create_timm_model("seresnext50_32x4d", num_classes, drop_rate, drop_path_rate)


@register(
    "senet154",
    **_SENET,
    block=f"SE-ResNeXt bottleneck (64 groups), 3-8-36-3 blocks, a 3-conv stem: {_SE}",
    input=imagenet_input(224, min_input=3),
    paper_top1_error=18.68,
    paper_top5_error=4.47,
    notes=(
        "timm's legacy_senet154, the port of the authors' ILSVRC 2017 model (dropout 0.2 before the "
        "classifier). drop_path_rate is ignored: the model has no stochastic depth. "
        f"{_SINGLE_CROP}; the 2.25% top-5 ILSVRC entry was an ensemble."
    ),
)
def senet154(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build SENet-154; drop_rate is its classifier dropout (0.2), drop_path_rate is ignored."""
    return create_timm_model("legacy_senet154", num_classes, drop_rate, None)
