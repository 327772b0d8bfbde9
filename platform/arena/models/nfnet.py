"""NFNet F0-F3: a ResNet-like net trained at scale without batch normalisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from arena.models.info import imagenet_input
from arena.models.registry import register
from arena.models.timm_models import create_timm_model

if TYPE_CHECKING:
    from torch import nn

DROP_PATH_RATE = 0.25


def _nfnet_builder(timm_name: str, default_drop_rate: float) -> Callable[[int, float | None, float | None], nn.Module]:
    def build_nfnet(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
        """Build the variant; None rates keep the paper's dropout and 0.25 stochastic depth."""
        return create_timm_model(
            timm_name,
            num_classes,
            default_drop_rate if drop_rate is None else drop_rate,
            DROP_PATH_RATE if drop_path_rate is None else drop_path_rate,
        )

    return build_nfnet


# name, timm name, train and test resolution, timm's eval crop, dropout, paper top-1 / top-5 error (Table 3)
_VARIANTS = (
    ("nfnet_f0", "dm_nfnet_f0", 192, 256, 0.9, 0.2, 16.4, 3.2),
    ("nfnet_f1", "dm_nfnet_f1", 224, 320, 0.91, 0.3, 15.3, 2.9),
    ("nfnet_f2", "dm_nfnet_f2", 256, 352, 0.92, 0.4, 14.9, 2.7),
    ("nfnet_f3", "dm_nfnet_f3", 320, 416, 0.94, 0.4, 14.3, 2.5),
)

for _name, _timm_name, _train_resolution, _test_resolution, _crop, _dropout, _top1, _top5 in _VARIANTS:
    register(
        _name,
        family="nfnet",
        year=2021,
        paper_title="High-Performance Large-Scale Image Recognition Without Normalization",
        paper_authors="Brock, De, Smith, Simonyan",
        key_idea=(
            "No batch norm: scaled weight standardisation and residual branches scaled by alpha and "
            "1/beta keep activations well-behaved, and adaptive gradient clipping (clip when "
            "|G|/max(|W|, eps) > lambda) makes large batches and strong augmentation trainable."
        ),
        block="x + alpha * [WSconv1x1 > WSconv3x3 (groups of 128) > WSconv3x3 > WSconv1x1 > SE](x / beta)",
        input=imagenet_input(_test_resolution, min_input=1, crop_pct=_crop, interpolation="bicubic"),
        paper_top1_error=_top1,
        paper_top5_error=_top5,
        notes=(
            f"timm's {_timm_name}, the paper's model. Native resolution is the paper's test resolution "
            f"({_test_resolution} px), where its FLOPs are quoted; the paper trains at {_train_resolution} px. "
            f"Dropout {_dropout} and stochastic depth {DROP_PATH_RATE} by default. Paper errors: single "
            "model, single crop, without SAM (Table 3); the lecture's 13.5% is F6 with SAM."
        ),
    )(_nfnet_builder(_timm_name, _dropout))
