"""Datasets and transforms: image folders, the built-in digits, synthetic data, and their pipelines.

The training loop calls `build_datasets(spec.data, contract, image_size, home=settings.home)`, loads
`datasets.train` / `datasets.val` with `collate_fn=datasets.collate_fn`, applies
`build_batch_mixer(spec.data.augment, datasets.num_classes)` to each training batch when it is not
None, and calls `datasets.end_epoch()` after each epoch: it returns how many unreadable images were
skipped and raises `ArenaError` when their share is over `data.max_bad_fraction`.
"""

import importlib
from typing import Any

# Names load on first use (PEP 562), so `from arena.data.layout import check_data` in the driver
# does not pull torch and torchvision in before Ray starts.
_HOMES = {
    "Datasets": "datasets", "build_datasets": "datasets", "load_image_tensor": "datasets",
    "check_data": "layout", "class_names_of": "layout", "data_root": "layout",
    "default_digits_root": "digits", "prepare_digits": "digits",
    "ImageFolderDataset": "imagefolder", "SkippedImages": "imagefolder",
    "SyntheticImages": "synthetic",
    "InputContract": "transforms", "build_batch_mixer": "transforms",
    "build_eval_transform": "transforms", "build_train_transform": "transforms",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'arena.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"arena.data.{_HOMES[name]}"), name)


__all__ = [
    "Datasets",
    "ImageFolderDataset",
    "InputContract",
    "SkippedImages",
    "SyntheticImages",
    "build_batch_mixer",
    "build_datasets",
    "build_eval_transform",
    "build_train_transform",
    "check_data",
    "class_names_of",
    "data_root",
    "default_digits_root",
    "load_image_tensor",
    "prepare_digits",
]
