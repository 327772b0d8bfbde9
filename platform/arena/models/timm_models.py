"""Create timm architectures with fresh weights, passing only the rates a caller chose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


def create_timm_model(
    timm_name: str,
    num_classes: int,
    drop_rate: float | None,
    drop_path_rate: float | None,
    **kwargs: Any,
) -> nn.Module:
    """Return timm's `timm_name` without pretrained weights; a None rate keeps timm's default."""
    import timm

    rates = {"drop_rate": drop_rate, "drop_path_rate": drop_path_rate}
    kwargs.update({key: value for key, value in rates.items() if value is not None})
    return timm.create_model(timm_name, pretrained=False, num_classes=num_classes, **kwargs)
