"""The network a `nas:` architecture describes: B0's 7-stage skeleton with per-stage block choices.

MnasNet (Tan et al., 2019) factorises the net into stages; each stage repeats one block whose kind,
kernel, expansion, squeeze-and-excitation, skip, width and depth the search picks. The stem (32
filters, stride 2), the stage strides and the 1280-filter head stay fixed, as in EfficientNet-B0;
only compound scaling (a `scaled:` model grown from a `nas:` one) widens the stem and head too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from arena.models.nas_stages import HEAD_FILTERS, SKELETON, STEM_FILTERS, Stage


class SqueezeExcite(nn.Module):
    """Channel attention: pool, squeeze to `reduced` channels, excite, scale the input."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(channels, reduced, 1)
        self.excite = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.excite(torch.relu(self.squeeze(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(scale)


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Conv (same padding, no bias), batch norm, and ReLU unless `act` is False."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Block(nn.Module):
    """One layer of a stage: conv, sepconv or mbconv, optional SE, optional identity residual."""

    def __init__(self, stage: Stage, in_channels: int, stride: int, drop_path_rate: float) -> None:
        super().__init__()
        out, k = stage.filters, stage.kernel
        # The SE bottleneck is a fraction of the block input, as in MnasNet and EfficientNet.
        reduced = max(1, int(in_channels * stage.se_ratio))
        se: list[nn.Module]
        if stage.op == "conv":
            se = [SqueezeExcite(out, reduced)] if stage.se_ratio else []
            body = [conv_bn(in_channels, out, k, stride), *se]
        elif stage.op == "sepconv":
            se = [SqueezeExcite(in_channels, reduced)] if stage.se_ratio else []
            body = [conv_bn(in_channels, in_channels, k, stride, groups=in_channels), *se,
                    conv_bn(in_channels, out, 1, act=False)]
        else:
            hidden = in_channels * stage.expansion
            expand = [conv_bn(in_channels, hidden, 1)] if stage.expansion > 1 else []
            se = [SqueezeExcite(hidden, reduced)] if stage.se_ratio else []
            body = [*expand, conv_bn(hidden, hidden, k, stride, groups=hidden), *se, conv_bn(hidden, out, 1, act=False)]
        self.body = nn.Sequential(*body)
        self.residual = stage.skip == "identity" and stride == 1 and in_channels == out
        self.drop_path = StochasticDepth(drop_path_rate, "row") if self.residual and drop_path_rate else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + self.drop_path(y) if self.residual else y


class NasNetwork(nn.Module):
    """Stem, the seven searched stages, a 1x1 head, global pooling, dropout and the classifier.

    The stem and head keep B0's widths unless compound scaling widens them with the stages.
    """

    def __init__(
        self, stages: Sequence[Stage], num_classes: int = 1000, drop_rate: float = 0.2, drop_path_rate: float = 0.0,
        stem_filters: int = STEM_FILTERS, head_filters: int = HEAD_FILTERS,
    ) -> None:
        super().__init__()
        if len(stages) != len(SKELETON):
            raise ValueError(f"expected {len(SKELETON)} stages, got {len(stages)}")
        self.stem = conv_bn(3, stem_filters, 3, stride=2)
        total = sum(stage.layers for stage in stages)
        blocks, channels, index = [], stem_filters, 0
        for stage, fixed in zip(stages, SKELETON):
            for layer in range(stage.layers):
                # Stochastic depth grows linearly with depth, as in EfficientNet.
                rate = drop_path_rate * index / max(total - 1, 1)
                blocks.append(Block(stage, channels, fixed.stride if layer == 0 else 1, rate))
                channels, index = stage.filters, index + 1
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(channels, head_filters, 1)
        self.dropout = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(head_filters, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(torch.flatten(x.mean((2, 3)), 1)))
