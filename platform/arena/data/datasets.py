"""The data entry points the training and evaluation code call: build, preflight, class names."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor
from torch.utils.data import Dataset

from arena.data.decoding import decode_rgb
from arena.data.digits import digits_root_under, is_prepared, is_replaceable, prepare_digits
from arena.data.imagefolder import (
    ImageFolderDataset,
    find_classes,
    is_image_file,
    split_classes,
)
from arena.data.synthetic import SyntheticImages
from arena.data.transforms import InputContract, build_eval_transform, build_train_transform
from arena.errors import ArenaError, SpecError
from arena.spec import DataSpec

DIGIT_CLASSES = [str(digit) for digit in range(10)]
EMPTY_FOLDERS_NAMED = 5


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


def data_root(data: DataSpec, *, home: Path) -> Path | None:
    """The folder a spec reads: data.root, the default digits folder, or None for synthetic data."""
    if data.root is not None:
        return Path(data.root).expanduser()
    if data.dataset == "digits":
        return digits_root_under(home)
    return None


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
        return Datasets(
            train=SyntheticImages(data.train_size, data.num_classes, image_size, stream=0),
            val=SyntheticImages(data.val_size, data.num_classes, image_size, stream=1),
            num_classes=data.num_classes,
            class_names=class_names,
        )
    root = data_root(data, home=home)
    assert root is not None  # the spec requires data.root for imagefolder; digits has a default
    if data.dataset == "digits":
        prepare_digits(root)
    problems = check_data(data, home=home)
    if problems:
        raise SpecError(problems)
    class_names = split_classes(root)
    splits = {
        "train": build_train_transform(contract, data.augment, image_size),
        "val": build_eval_transform(contract, image_size),
    }
    datasets = {
        split: ImageFolderDataset(
            root / split, class_names, transform, max_bad_fraction=data.max_bad_fraction
        )
        for split, transform in splits.items()
    }
    for split, dataset in datasets.items():
        if len(dataset) == 0:
            raise ArenaError(f"data.root: {root}/{split} holds no images")
    return Datasets(datasets["train"], datasets["val"], len(class_names), class_names)


def check_data(data: DataSpec, *, home: Path) -> list[str]:
    """Cheap preflight of a spec's data: problems naming the field, [] when it looks usable."""
    root = data_root(data, home=home)
    if root is None:
        return []
    if data.dataset == "digits":
        if is_prepared(root) or is_replaceable(root):
            return []
        return [
            f"data.root: {root} exists and is not a digits folder (digits would be written there)"
        ]
    if not root.exists():
        return [f"data.root: {root} does not exist"]
    if not root.is_dir():
        return [f"data.root: {root} is not a folder"]
    missing = [split for split in ("train", "val") if not (root / split).is_dir()]
    if missing:
        return [f"data.root: {root} has no {split}/ folder" for split in missing]
    problems = []
    train_classes = find_classes(root / "train")
    val_classes = find_classes(root / "val")
    for split, classes in (("train", train_classes), ("val", val_classes)):
        if not classes:
            problems.append(f"data.root: {root} has no class folders in {split}/")
    unknown = sorted(set(val_classes) - set(train_classes))
    if train_classes and unknown:
        problems.append(
            f"data.root: {root}/val has {len(unknown)} class folder(s) that train/ lacks: "
            + ", ".join(unknown[:EMPTY_FOLDERS_NAMED])
        )
    empty = [name for name in train_classes if not _holds_an_image(root / "train" / name)]
    if empty:
        problems.append(
            f"data.root: {len(empty)} class folder(s) in {root}/train hold no images: "
            + ", ".join(empty[:EMPTY_FOLDERS_NAMED])
            + (", ..." if len(empty) > EMPTY_FOLDERS_NAMED else "")
        )
    return problems


def _holds_an_image(folder: Path) -> bool:
    # Stops at the first image, so a preflight over ImageNet's 1000 classes stays cheap.
    for _directory, _subfolders, files in os.walk(folder, followlinks=True):
        if any(is_image_file(name) for name in files):
            return True
    return False


def synthetic_class_names(num_classes: int) -> list[str]:
    """Names for synthetic classes: class_0, class_1, ..."""
    return [f"class_{index}" for index in range(num_classes)]


def class_names_of(data: DataSpec, *, home: Path) -> list[str]:
    """The class names of a spec's dataset, in class-index order, without reading any image."""
    if data.dataset == "synthetic":
        return synthetic_class_names(data.num_classes)
    root = data_root(data, home=home)
    assert root is not None  # the spec requires data.root for imagefolder; digits has a default
    if data.dataset == "digits" and not is_prepared(root):
        return list(DIGIT_CLASSES)
    problems = check_data(data, home=home)
    if problems:
        raise SpecError(problems)
    return split_classes(root)


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
