"""The data entry points the training and evaluation code call: build, preflight, class names."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor
from torch.utils.data import Dataset, Subset

from arena.data.decoding import decode_rgb
from arena.data.digits import prepare_digits
from arena.data.imagefolder import ImageFolderDataset, find_images
from arena.data.imagenet_index import read_files, read_header
from arena.data.layout import check_data, data_root, split_classes, synthetic_class_names
from arena.data.synthetic import SyntheticImages
from arena.data.transforms import InputContract, build_eval_transform, build_train_transform
from arena.errors import ArenaError, SpecError
from arena.spec import DataSpec

@dataclass(frozen=True)
class Datasets:
    """A job's train and val datasets, their classes, and the collate function to load them with."""

    train: Dataset
    val: Dataset
    num_classes: int
    class_names: list[str]
    collate_fn: Callable | None = None
    """None: unreadable images are replaced inside the dataset, so the default collate serves."""

    def end_epoch(self) -> int:
        """Count images skipped as unreadable since the last call; raise ArenaError if too many."""
        skipped = 0
        for split in (self.train, self.val):
            if isinstance(split, ImageFolderDataset):
                skipped += split.end_epoch().skipped
        return skipped


def build_datasets(
    data: DataSpec, contract: InputContract, image_size: int, *, home: Path
) -> Datasets:
    """Build the train and val datasets of a spec, preparing the digits folder when missing."""
    if image_size < contract.min_input:
        raise ArenaError(
            f"data.image_size: {image_size} is smaller than the model's minimum input "
            f"{contract.min_input}"
        )
    if data.dataset == "synthetic":
        class_names = synthetic_class_names(data.num_classes)
        train = SyntheticImages(data.train_size, data.num_classes, image_size, stream=0)
        val: Dataset = SyntheticImages(data.val_size, data.num_classes, image_size, stream=1)
        if data.holdout:
            kept, held = holdout_split(len(train), data.holdout)
            train, val = Subset(train, kept), Subset(train, held)
        return Datasets(train=train, val=val, num_classes=data.num_classes, class_names=class_names)
    root = data_root(data, home=home)
    assert root is not None  # the spec requires data.root for the folders; digits has a default
    if data.dataset == "digits":
        prepare_digits(root)
    problems = check_data(data, home=home)
    if problems:
        raise SpecError(problems)
    listed: dict[str, list[tuple[str, int]]] | dict[str, None] = {"train": None, "val": None}
    if data.dataset == "imagenet":
        header = read_header(root)
        class_names, listed = list(header.classes), read_files(root, header)
    else:
        class_names = split_classes(root)
    splits = {
        "train": build_train_transform(contract, data.augment, image_size),
        "val": build_eval_transform(contract, image_size),
    }
    if data.holdout:
        # The val split stays unread: both datasets are slices of train/ (the held-out one evaluated).
        every = listed["train"] or find_images(root / "train", class_names)
        kept, held = holdout_split(len(every), data.holdout)
        listed = {"train": [every[i] for i in kept], "val": [every[i] for i in held]}
    folders = {"train": root / "train", "val": root / ("train" if data.holdout else "val")}
    datasets = {
        split: ImageFolderDataset(
            folders[split], class_names, transform, max_bad_fraction=data.max_bad_fraction,
            samples=listed[split],
        )
        for split, transform in splits.items()
    }
    for split, dataset in datasets.items():
        if len(dataset) == 0:
            raise ArenaError(f"data.root: {root}/{split} holds no images")
    return Datasets(datasets["train"], datasets["val"], len(class_names), class_names)


HOLDOUT_SEED = 0
"""Fixed, so every trial of a search (and every search) holds out the same images."""


def holdout_split(count: int, holdout: int) -> tuple[list[int], list[int]]:
    """Indices kept for training and indices held out: a deterministic random `holdout` of `count`."""
    if holdout >= count:
        raise ArenaError(f"data.holdout: {holdout} is not below the {count} training images")
    held = sorted(random.Random(HOLDOUT_SEED).sample(range(count), holdout))
    held_set = set(held)
    return [index for index in range(count) if index not in held_set], held


def load_image_tensor(path: Path, contract: InputContract, image_size: int) -> Tensor:
    """Read one image file and apply the evaluation transform: a normalised 3xSxS tensor."""
    path = Path(path)
    if not path.is_file():
        raise ArenaError(f"image not found: {path}")
    try:
        image = decode_rgb(path)
    except Exception as error:  # noqa: BLE001 - decoders raise many types for a corrupt file
        raise ArenaError(f"cannot read image {path}: {error}") from None
    return build_eval_transform(contract, image_size)(image)
