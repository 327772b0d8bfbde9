"""Readable class names: ImageNet's words for wnid folders (n01440764 -> tench), else the folder name."""

from __future__ import annotations

import re
from functools import cache

WNID = re.compile(r"n\d{8}")


@cache
def imagenet_names() -> dict[str, str]:
    """wnid -> torchvision's short ImageNet-1k name, from metadata that ships with the packages."""
    from timm.data import ImageNetInfo
    from torchvision.models import ResNet50_Weights

    # Both lists follow the ILSVRC class index, which is the sorted order of the 1000 wnids.
    wnids = ImageNetInfo().label_names()
    categories = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(wnids) == len(categories) == 1000
    return dict(zip(wnids, categories, strict=True))


def readable_names(folders: list[str]) -> list[str]:
    """The readable name of each class folder; unchanged unless every folder is a known wnid."""
    if not folders or not all(WNID.fullmatch(folder) for folder in folders):
        return list(folders)
    names = imagenet_names()
    if not all(folder in names for folder in folders):
        return list(folders)
    return [names[folder] for folder in folders]
