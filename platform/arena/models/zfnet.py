"""ZFNet (ILSVRC 2013): AlexNet retuned after looking inside it with a deconvnet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.models.info import imagenet_input
from arena.models.registry import register

if TYPE_CHECKING:
    from torch import nn


@register(
    "zfnet",
    family="zfnet",
    year=2013,
    paper_title="Visualizing and Understanding Convolutional Networks",
    paper_authors="Zeiler, Fergus",
    key_idea=(
        "A deconvnet projects feature activations back to pixels; what it showed (aliasing, dead "
        "first-layer filters) led to smaller first-layer filters and strides than AlexNet's."
    ),
    block="conv7x7/2-96 > pool > conv5x5/2-256 > pool > conv3x3-384 > conv3x3-384 > conv3x3-256 > pool > FC4096 > FC4096",
    input=imagenet_input(224, min_input=53),
    paper_top1_error=38.4,
    paper_top5_error=16.5,
    notes=(
        "Written for arena from the paper's Figure 3 without its contrast normalisation of layers 1-2; "
        "an adaptive pool before the classifier accepts small inputs. Paper errors: one net "
        "(Table 2); the 11.2% top-5 ILSVRC 2013 entry was an ensemble. The paper gives no parameter "
        "or FLOP count."
    ),
)
def zfnet(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build ZFNet; drop_rate is its classifier dropout (0.5), drop_path_rate is ignored."""
    from arena.models.zfnet_network import ZFNet

    return ZFNet(num_classes=num_classes, dropout=0.5 if drop_rate is None else drop_rate)
