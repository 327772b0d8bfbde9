"""GoogLeNet and its Inception descendants (ILSVRC 2014 winner, then v3, v4, Inception-ResNet)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.models.info import imagenet_input, inception_input
from arena.models.registry import register
from arena.models.timm_models import create_timm_model

if TYPE_CHECKING:
    from torch import nn

_INCEPTION_V4_PAPER = "Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning"
_INCEPTION_V4_AUTHORS = "Szegedy, Ioffe, Vanhoucke, Alemi"


@register(
    "googlenet",
    family="inception",
    year=2014,
    paper_title="Going Deeper with Convolutions",
    paper_authors="Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke, Rabinovich",
    key_idea=(
        "The Inception module runs 1x1, 3x3 and 5x5 convolutions and a 3x3 max-pool side by side and "
        "concatenates them; 1x1 reductions keep the 22-layer net at a twelfth of AlexNet's parameters."
    ),
    block="concat[1x1, 1x1>3x3, 1x1>5x5, maxpool3x3>1x1]",
    input=imagenet_input(224, min_input=15),
    paper_top1_error=None,
    paper_top5_error=10.07,
    notes=(
        "torchvision's GoogLeNet with batch norm after each conv and without the two auxiliary "
        "classifiers (they only add a training loss; dropping them gives 6.6M parameters instead of "
        "13M). Paper error: single model, one crop (Table 3); the 6.67% winning entry was 7 models x "
        "144 crops. The paper reports no top-1."
    ),
)
def googlenet(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build GoogLeNet; drop_rate is its classifier dropout (0.2), drop_path_rate is ignored."""
    from torchvision.models import googlenet as torchvision_googlenet

    return torchvision_googlenet(
        weights=None,
        num_classes=num_classes,
        aux_logits=False,
        init_weights=True,
        dropout=0.2 if drop_rate is None else drop_rate,
    )


@register(
    "inception_v3",
    family="inception",
    year=2015,
    paper_title="Rethinking the Inception Architecture for Computer Vision",
    paper_authors="Szegedy, Vanhoucke, Ioffe, Shlens, Wojna",
    key_idea=(
        "Factorise convolutions: a 5x5 becomes two 3x3s and an nxn becomes 1xn then nx1, grid "
        "reduction runs pooling and strided convs in parallel, and label smoothing regularises."
    ),
    block="concat[1x1, 1x1>1x7>7x1, 1x1>7x1>1x7>7x1>1x7, pool>1x1] (the 17x17 module)",
    input=inception_input(299, min_input=75),
    paper_top1_error=21.2,
    paper_top5_error=5.6,
    notes=(
        "timm's Inception-v3 without the auxiliary classifier (23.8M parameters; 27.2M with it). "
        "Paper errors: single model, single crop (Table 3)."
    ),
)
def inception_v3(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build Inception-v3; drop_rate is its classifier dropout, drop_path_rate is ignored."""
    return create_timm_model("inception_v3", num_classes, drop_rate, None)


@register(
    "inception_v4",
    family="inception",
    year=2016,
    paper_title=_INCEPTION_V4_PAPER,
    paper_authors=_INCEPTION_V4_AUTHORS,
    key_idea=(
        "A uniform, deeper Inception with dedicated reduction blocks and a simplified stem, "
        "to test whether residual connections are needed to train very deep Inception nets."
    ),
    block="stem > 4x Inception-A > Reduction-A > 7x Inception-B > Reduction-B > 3x Inception-C",
    input=inception_input(299, min_input=75),
    paper_top1_error=20.0,
    paper_top5_error=5.0,
    notes="timm's port of the paper's model. Paper errors: single model, single crop (Table 2).",
)
def inception_v4(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build Inception-v4; drop_rate is its classifier dropout, drop_path_rate is ignored."""
    return create_timm_model("inception_v4", num_classes, drop_rate, None)


@register(
    "inception_resnet_v2",
    family="inception",
    year=2016,
    paper_title=_INCEPTION_V4_PAPER,
    paper_authors=_INCEPTION_V4_AUTHORS,
    key_idea=(
        "Inception branches whose concatenation, projected by a 1x1 conv and scaled down (x0.1-0.3) "
        "for stability, is added to a residual shortcut: Inception's width with ResNet's easy training."
    ),
    block="x + scale * 1x1(concat[1x1, 1x1>3x3, 1x1>3x3>3x3])",
    input=inception_input(299, min_input=75),
    paper_top1_error=19.9,
    paper_top5_error=4.9,
    notes="timm's port of the paper's model. Paper errors: single model, single crop (Table 2).",
)
def inception_resnet_v2(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build Inception-ResNet-v2; drop_rate is its classifier dropout, drop_path_rate is ignored."""
    return create_timm_model("inception_resnet_v2", num_classes, drop_rate, None)
