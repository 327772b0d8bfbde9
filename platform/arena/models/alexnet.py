"""AlexNet (ILSVRC 2012 winner), torchvision's one-GPU variant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.models.info import imagenet_input
from arena.models.registry import register

if TYPE_CHECKING:
    from torch import nn


@register(
    "alexnet",
    family="alexnet",
    year=2012,
    paper_title="ImageNet Classification with Deep Convolutional Neural Networks",
    paper_authors="Krizhevsky, Sutskever, Hinton",
    key_idea=(
        "The first convolutional ILSVRC winner: five conv and three fully connected layers trained on "
        "GPUs, with ReLU for fast training and dropout plus crop/flip augmentation against overfitting."
    ),
    block="conv11x11/4-96 > pool > conv5x5-256 > pool > conv3x3-384 > conv3x3-384 > conv3x3-256 > pool > FC4096 > FC4096",
    input=imagenet_input(224, min_input=63),
    paper_top1_error=40.7,
    paper_top5_error=18.2,
    notes=(
        "torchvision's single-GPU variant (64-192-384-256-256 conv widths, no local response "
        "normalisation, no grouped convs): 61.1M parameters against the paper's 60M. Paper errors: "
        "one CNN, 10-crop (Table 2); the 15.3% top-5 winning entry was an ensemble of 7."
    ),
)
def alexnet(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build AlexNet; drop_rate is its classifier dropout (0.5), drop_path_rate is ignored."""
    from torchvision.models import alexnet as torchvision_alexnet

    return torchvision_alexnet(weights=None, num_classes=num_classes, dropout=0.5 if drop_rate is None else drop_rate)
