"""VGG (ILSVRC 2014 runner-up): deep stacks of 3x3 convolutions, with and without batch norm."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from arena.models.info import imagenet_input
from arena.models.registry import register

if TYPE_CHECKING:
    from torch import nn

_PAPER = dict(
    family="vgg",
    year=2014,
    paper_title="Very Deep Convolutional Networks for Large-Scale Image Recognition",
    paper_authors="Simonyan, Zisserman",
    key_idea=(
        "Only 3x3 convolutions: two stacked equal one 5x5 and three one 7x7 in receptive field, with "
        "fewer parameters and more non-linearities, so depth grows to 16-19 weight layers."
    ),
    block="[conv3x3 > ReLU] x n > maxpool2x2, five stages 64-128-256-512-512, then FC4096 > FC4096",
    input=imagenet_input(224, min_input=32),
)
_PAPER_ERRORS = "Paper errors: single-scale test, scale-jittered training where the paper has it (Table 3)."
_BATCH_NORM_NOTE = (
    "The paper predates batch normalisation; torchvision's _bn variant adds BatchNorm after every "
    "conv, so there is no paper error for it."
)


def _vgg_builder(torchvision_name: str) -> Callable[[int, float | None, float | None], nn.Module]:
    def build_vgg(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
        """Build the VGG variant; drop_rate is its classifier dropout (0.5), drop_path_rate is ignored."""
        from torchvision import models as torchvision_models

        constructor = getattr(torchvision_models, torchvision_name)
        return constructor(weights=None, num_classes=num_classes, dropout=0.5 if drop_rate is None else drop_rate)

    build_vgg.__name__ = torchvision_name
    return build_vgg


# name, paper configuration, paper top-1 / top-5 error (Table 3)
_VARIANTS = (
    ("vgg11", "A", 29.6, 10.4),
    ("vgg13", "B", 28.7, 9.9),
    ("vgg16", "D", 25.6, 8.1),
    ("vgg19", "E", 25.5, 8.0),
)

for _name, _configuration, _top1, _top5 in _VARIANTS:
    register(
        _name,
        **_PAPER,
        paper_top1_error=_top1,
        paper_top5_error=_top5,
        notes=f"Configuration {_configuration}. {_PAPER_ERRORS}",
    )(_vgg_builder(_name))
    register(
        f"{_name}_bn",
        **_PAPER,
        notes=f"Configuration {_configuration} with batch norm. {_BATCH_NORM_NOTE}",
    )(_vgg_builder(f"{_name}_bn"))
