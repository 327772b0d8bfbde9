"""ResNet (ILSVRC 2015 winner) and its kin: pre-activation, wide and ResNeXt, plus width/depth scaling."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.models.info import imagenet_input
from arena.models.registry import register
from arena.models.stage_layout import RESNET50, scaled_layout
from arena.models.timm_models import create_timm_model

if TYPE_CHECKING:
    from torch import nn

_RESNET = dict(
    family="resnet",
    year=2015,
    paper_title="Deep Residual Learning for Image Recognition",
    paper_authors="He, Zhang, Ren, Sun",
    key_idea=(
        "Each block learns a residual F(x) added to an identity shortcut, x + F(x): the shortcut costs "
        "no parameters and carries the gradient, so nets of 100+ layers train better than shallow ones."
    ),
    input=imagenet_input(224, min_input=1),
)
_BASIC_BLOCK = "x + [conv3x3 > BN > ReLU > conv3x3 > BN], then ReLU"
_BOTTLENECK = "x + [conv1x1 (reduce) > conv3x3 > conv1x1 (expand x4)], each with BN, then ReLU"
_V1_5 = (
    "torchvision/timm 'v1.5' layout: a bottleneck downsamples in its 3x3 conv, not in its first 1x1 as "
    "in the paper (about 0.5% better top-1, 4.1 instead of the paper's 3.8 GFLOPs for ResNet-50)."
)
_TEN_CROP = "Paper errors: single model, 10-crop test"


@register("resnet18", **_RESNET, block=_BASIC_BLOCK, paper_top1_error=27.88,
          notes=f"{_TEN_CROP} (Table 2; no top-5 given).")
def resnet18(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build ResNet-18 (timm's, same as torchvision's)."""
    return create_timm_model("resnet18", num_classes, drop_rate, drop_path_rate)


@register("resnet34", **_RESNET, block=_BASIC_BLOCK, paper_top1_error=24.52, paper_top5_error=7.46,
          notes=f"Projection shortcuts where the shape changes (option B). {_TEN_CROP} (Table 3).")
def resnet34(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build ResNet-34 (timm's, same as torchvision's)."""
    return create_timm_model("resnet34", num_classes, drop_rate, drop_path_rate)


@register("resnet50", **_RESNET, block=_BOTTLENECK, paper_top1_error=22.85, paper_top5_error=6.71,
          notes=f"{_V1_5} {_TEN_CROP} (Table 3).")
def resnet50(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build ResNet-50 (timm's, same as torchvision's)."""
    return create_timm_model("resnet50", num_classes, drop_rate, drop_path_rate)


@register("resnet101", **_RESNET, block=_BOTTLENECK, paper_top1_error=21.75, paper_top5_error=6.05,
          notes=f"{_V1_5} {_TEN_CROP} (Table 3).")
def resnet101(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build ResNet-101 (timm's, same as torchvision's)."""
    return create_timm_model("resnet101", num_classes, drop_rate, drop_path_rate)


@register("resnet152", **_RESNET, block=_BOTTLENECK, paper_top1_error=21.43, paper_top5_error=5.71,
          notes=f"{_V1_5} {_TEN_CROP} (Table 3); the 3.57% ILSVRC entry was an ensemble.")
def resnet152(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build ResNet-152 (timm's, same as torchvision's)."""
    return create_timm_model("resnet152", num_classes, drop_rate, drop_path_rate)


@register(
    "preact_resnet50",
    family="resnet",
    year=2016,
    paper_title="Identity Mappings in Deep Residual Networks",
    paper_authors="He, Zhang, Ren, Sun",
    key_idea=(
        "Move BN and ReLU before each convolution so the shortcut path is a pure identity from "
        "block to block: signals and gradients pass unchanged through the whole net."
    ),
    block="x + [BN > ReLU > conv1x1 > BN > ReLU > conv3x3 > BN > ReLU > conv1x1]",
    input=imagenet_input(224, min_input=1),
    notes=(
        "timm's resnetv2_50 (pre-activation bottlenecks, batch norm). The paper reports ImageNet "
        "errors only for its 152- and 200-layer nets; the 2016 winner fused a pre-activation ResNet-200."
    ),
)
def preact_resnet50(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build the pre-activation ResNet-50."""
    return create_timm_model("resnetv2_50", num_classes, drop_rate, drop_path_rate)


@register(
    "wide_resnet50_2",
    family="resnet",
    year=2016,
    paper_title="Wide Residual Networks",
    paper_authors="Zagoruyko, Komodakis",
    key_idea=(
        "Widen residual blocks instead of deepening them: a ResNet-50 with twice the bottleneck "
        "width matches far deeper nets and uses the GPU better."
    ),
    block="x + [conv1x1 > conv3x3 (2x width) > conv1x1], each with BN",
    input=imagenet_input(224, min_input=1),
    paper_top1_error=21.9,
    paper_top5_error=6.03,
    notes="WRN-50-2-bottleneck. Paper errors: single model, single crop (ImageNet table).",
)
def wide_resnet50_2(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build Wide ResNet-50-2."""
    return create_timm_model("wide_resnet50_2", num_classes, drop_rate, drop_path_rate)


@register(
    "resnext50_32x4d",
    family="resnet",
    year=2016,
    paper_title="Aggregated Residual Transformations for Deep Neural Networks",
    paper_authors="Xie, Girshick, Dollar, Tu, He",
    key_idea=(
        "Split the bottleneck's 3x3 into 32 parallel paths (a grouped conv): more paths ('cardinality') "
        "beat more width or depth at the same cost."
    ),
    block="x + [conv1x1 > grouped conv3x3 (32 groups of 4) > conv1x1], each with BN",
    input=imagenet_input(224, min_input=1),
    paper_top1_error=22.2,
    notes="Paper error: single model, single 224 crop (Table 3; no top-5 given).",
)
def resnext50_32x4d(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build ResNeXt-50 (32x4d)."""
    return create_timm_model("resnext50_32x4d", num_classes, drop_rate, drop_path_rate)


def build_scaled_resnet(
    width_multiplier: float,
    depth_multiplier: float,
    num_classes: int = 1000,
    drop_rate: float = 0.0,
    drop_path_rate: float = 0.0,
) -> nn.Module:
    """Build a ResNet-50-style bottleneck net with depths ceil(d*[3,4,6,3]) and widths w*[64..512] rounded to 8."""
    from timm.models.resnet import Bottleneck, ResNet

    # Only the stages scale: timm's plain stem stays at 64 channels (its stem_width only sizes a deep
    # stem), and the head is no layer of its own but the last stage's 4x expansion.
    layout = scaled_layout(RESNET50, width_multiplier, depth_multiplier)
    return ResNet(
        block=Bottleneck,
        layers=layout.stage_depths,
        channels=layout.stage_widths,
        num_classes=num_classes,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
    )
