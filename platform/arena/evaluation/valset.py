"""The val set a run is evaluated on: its own, or another image folder's val/, centre- or 10-cropped."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms import v2 as transforms

from arena import models
from arena.data import (
    ImageFolderDataset,
    InputContract,
    SyntheticImages,
    build_eval_transform,
    data_root,
    prepare_digits,
)
from arena.data.imagenet_index import has_index, read_files, read_header
from arena.data.layout import find_classes
from arena.data.transforms import eval_resize_size, interpolation_of, to_normalised_tensor
from arena.errors import ArenaError
from arena.evaluation.loading import TrainedRun

CROP_CHOICES = (1, 10)
CLASSES_NAMED = 5


class TenCrop:
    """Resize as for the centre crop, then the four corners and the centre and their mirror images.

    The AlexNet and VGG papers averaged the softmax over these ten views; the result is 10x3xSxS.
    """

    def __init__(self, contract: InputContract, image_size: int) -> None:
        self.views = transforms.Compose(
            [
                transforms.Resize(eval_resize_size(contract, image_size), interpolation=interpolation_of(contract)),
                transforms.TenCrop(image_size),
            ]
        )
        self.to_tensor = transforms.Compose(to_normalised_tensor(contract))

    def __call__(self, image: object) -> Tensor:
        return torch.stack([self.to_tensor(view) for view in self.views(image)])


def build_val_set(run: TrainedRun, *, home: Path, data_root_override: Path | None, crops: int) -> Dataset:
    """The val images of `run` (or of `data_root_override`/val), labelled with the run's class indices."""
    if crops not in CROP_CHOICES:
        raise ArenaError(f"--crops: {crops} is not one of {', '.join(map(str, CROP_CHOICES))}")
    data = run.spec.data
    contract = models.get_model_info(run.recipe.model_name, home).input
    if data.dataset == "synthetic" and data_root_override is None:
        if crops != 1:
            raise ArenaError(f"run {run.run_id}: synthetic images are made at the crop size; use --crops 1")
        return SyntheticImages(data.val_size, data.num_classes, run.image_size, stream=1)
    root = Path(data_root_override).expanduser() if data_root_override else data_root(data, home=home)
    assert root is not None  # only synthetic data has no folder
    source = "--data" if data_root_override else f"run {run.run_id}"
    if data.dataset == "digits" and data_root_override is None:
        prepare_digits(root)  # training prepared it once; a fresh ARENA_HOME has to again
    val = root / "val"
    if not val.is_dir():
        raise ArenaError(f"{source}: {root} has no val/ folder")
    listed = _indexed_val(root, run) if has_index(root) else None
    unknown = sorted(set(find_classes(val)) - set(run.class_names))
    if unknown:
        shown = ", ".join(unknown[:CLASSES_NAMED]) + (", ..." if len(unknown) > CLASSES_NAMED else "")
        raise ArenaError(
            f"{source}: {val} has {len(unknown)} class folder(s) that run {run.run_id}'s model was not "
            f"trained on: {shown}"
        )
    transform = TenCrop(contract, run.image_size) if crops == 10 else build_eval_transform(contract, run.image_size)
    dataset = ImageFolderDataset(
        val, run.class_names, transform, max_bad_fraction=data.max_bad_fraction, samples=listed
    )
    if len(dataset) == 0:
        raise ArenaError(f"{source}: {val} holds no images")
    return dataset


def _indexed_val(root: Path, run: TrainedRun) -> list[tuple[str, int]] | None:
    """A prepared ImageNet folder's val files from its index, labelled with the run's class indices."""
    header = read_header(root)
    if not set(header.classes) <= set(run.class_names):
        return None  # the folder check below names the classes the run lacks
    position = {name: index for index, name in enumerate(run.class_names)}
    return [(path, position[header.classes[label]]) for path, label in read_files(root, header)["val"]]


def val_set_identity(run: TrainedRun, *, home: Path, data_root_override: Path | None) -> str:
    """What names a run's val set (its resolved folder, or the synthetic set's shape), for ensembles."""
    data = run.spec.data
    if data.dataset == "synthetic" and data_root_override is None:
        return f"synthetic data ({data.val_size} val images, {data.num_classes} classes)"
    root = Path(data_root_override).expanduser() if data_root_override else data_root(data, home=home)
    assert root is not None
    return str(root.resolve())
