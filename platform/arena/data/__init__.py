"""Datasets and transforms: image folders, the built-in digits, synthetic data, and their pipelines.

The training loop calls `build_datasets(spec.data, contract, image_size, home=settings.home)`, loads
`datasets.train` / `datasets.val` with `collate_fn=datasets.collate_fn`, applies
`build_batch_mixer(spec.data.augment, datasets.num_classes)` to each training batch when it is not
None, and calls `datasets.end_epoch()` after each epoch: it returns how many unreadable images were
skipped and raises `ArenaError` when their share is over `data.max_bad_fraction`.
"""

from arena.data.datasets import (
    Datasets,
    build_datasets,
    check_data,
    class_names_of,
    data_root,
    load_image_tensor,
)
from arena.data.digits import default_digits_root, prepare_digits
from arena.data.imagefolder import ImageFolderDataset, SkippedImages
from arena.data.synthetic import SyntheticImages
from arena.data.transforms import (
    InputContract,
    build_batch_mixer,
    build_eval_transform,
    build_train_transform,
)

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
