"""EfficientNet B0-B7: a searched MBConv base net grown by compound scaling."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from arena.models.info import imagenet_input
from arena.models.registry import register

if TYPE_CHECKING:
    from torch import nn

DROP_PATH_RATE = 0.2


def build_scaled_efficientnet(
    width_multiplier: float,
    depth_multiplier: float,
    num_classes: int = 1000,
    drop_rate: float = 0.2,
    drop_path_rate: float = DROP_PATH_RATE,
) -> nn.Module:
    """Build EfficientNet-B0 with its widths times `width_multiplier` and depths times `depth_multiplier`."""
    if width_multiplier <= 0 or depth_multiplier <= 0:
        raise ValueError(
            f"width_multiplier and depth_multiplier must be positive, got {width_multiplier}, {depth_multiplier}"
        )
    from timm.models.efficientnet import _gen_efficientnet

    # timm's public create_model does not take the multipliers; its private generator is the one
    # place that does, so every scaled EfficientNet in arena comes through here.
    return _gen_efficientnet(
        "efficientnet_b0",
        channel_multiplier=width_multiplier,
        depth_multiplier=depth_multiplier,
        num_classes=num_classes,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
    )


def _efficientnet_builder(
    width_multiplier: float, depth_multiplier: float, default_drop_rate: float
) -> Callable[[int, float | None, float | None], nn.Module]:
    def build_efficientnet(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
        """Build the variant; None rates keep the paper's dropout and 0.2 stochastic depth."""
        return build_scaled_efficientnet(
            width_multiplier,
            depth_multiplier,
            num_classes=num_classes,
            drop_rate=default_drop_rate if drop_rate is None else drop_rate,
            drop_path_rate=DROP_PATH_RATE if drop_path_rate is None else drop_path_rate,
        )

    return build_efficientnet


VARIANTS = (
    # name, width multiplier, depth multiplier, resolution, dropout, paper top-1 / top-5 error (Table 2)
    ("efficientnet_b0", 1.0, 1.0, 224, 0.2, 22.9, 6.7),
    ("efficientnet_b1", 1.0, 1.1, 240, 0.2, 20.9, 5.6),
    ("efficientnet_b2", 1.1, 1.2, 260, 0.3, 19.9, 5.1),
    ("efficientnet_b3", 1.2, 1.4, 300, 0.3, 18.4, 4.3),
    ("efficientnet_b4", 1.4, 1.8, 380, 0.4, 17.1, 3.6),
    ("efficientnet_b5", 1.6, 2.2, 456, 0.4, 16.4, 3.3),
    ("efficientnet_b6", 1.8, 2.6, 528, 0.5, 16.0, 3.2),
    ("efficientnet_b7", 2.0, 3.1, 600, 0.5, 15.7, 3.0),
)
"""The released B0-B7: hand-picked multipliers and resolutions, not computed from alpha, beta, gamma.

B0's stage table is `stage_layout.EFFICIENTNET_B0`; timm builds it (and rounds its widths the same way).
"""

for _name, _width, _depth, _resolution, _dropout, _top1, _top5 in VARIANTS:
    register(
        _name,
        family="efficientnet",
        year=2019,
        paper_title="EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
        paper_authors="Tan, Le",
        key_idea=(
            "A NAS-found base net (B0) of MBConv blocks, then compound scaling: depth, width and "
            "resolution grow together as alpha^phi, beta^phi, gamma^phi with alpha*beta^2*gamma^2 ~ 2."
        ),
        block="x + [conv1x1 (expand x6) > depthwise kxk > SE > conv1x1 (project)] (MBConv, inverted bottleneck)",
        # TensorFlow's evaluation resizes to resolution + 32 before the centre crop.
        input=imagenet_input(_resolution, min_input=1, crop_pct=round(_resolution / (_resolution + 32), 3),
                             interpolation="bicubic"),
        paper_top1_error=_top1,
        paper_top5_error=_top5,
        notes=(
            f"Width x{_width}, depth x{_depth} of B0 at {_resolution} px; dropout {_dropout} and "
            f"stochastic depth {DROP_PATH_RATE} by default. timm's model, the same as torchvision's. "
            "Paper errors: single model, single crop (Table 2)."
        ),
    )(_efficientnet_builder(_width, _depth, _dropout))
