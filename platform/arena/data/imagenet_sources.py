"""Read ImageNet as users hold it, untarred: the devkit layout and Kaggle's CLS-LOC layout.

Each reader returns a `SourcePlan`: the images of every class and split, found and checked, with
nothing written. A subset is defined by train/: the classes it holds are the folder's classes, val
images of other classes are left out (and counted), and every label of a held class must find its
image. Anything inconsistent (a val image with no label, a label with no image, an unknown wnid) is
one ArenaError naming it.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from arena.data.imagenet_index import WNID, canonical_wnids
from arena.data.layout import is_image_file
from arena.errors import ArenaError

Progress = Callable[[str, int, int], None]
"""progress(step, done, total): called as a long step advances."""

VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")
DEVKIT_FOLDER = "ILSVRC2012_devkit_t12"
KAGGLE_IMAGES = Path("ILSVRC") / "Data" / "CLS-LOC"
KAGGLE_LABELS = "LOC_val_solution.csv"
KAGGLE_SYNSETS = "LOC_synset_mapping.txt"
NAMED = 3
"""How many offending files an error line names."""


@dataclass
class SourcePlan:
    """What one ImageNet source holds, checked: images per class and split, and the classes' words."""

    form: str
    source: Path
    words: dict[str, str]
    train: dict[str, list[Path]] = field(default_factory=dict)
    train_tars: dict[str, Path] = field(default_factory=dict)
    """untarred form only: classes whose train images are still in a per-class tar."""
    val: dict[str, list[Path]] = field(default_factory=dict)
    val_left_out: int = 0
    """val images of classes train/ lacks (a subset of classes)."""

    @property
    def classes(self) -> list[str]:
        """The wnids train/ holds, in canonical (sorted) order."""
        return sorted({*self.train, *self.train_tars})


def _first(items: list[str]) -> str:
    return ", ".join(items[:NAMED]) + (", ..." if len(items) > NAMED else "")


def _images_in(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if is_image_file(e.name) and not e.is_dir())


def check_wnids(wnids: list[str], where: str) -> None:
    """Raise when a name is not one of ImageNet-1k's 1000 wnids."""
    known = set(canonical_wnids())
    unknown = sorted(wnid for wnid in wnids if wnid not in known)
    if unknown:
        raise ArenaError(f"SRC: {where} names {len(unknown)} unknown wnid(s): {_first(unknown)}")


def read_train(folder: Path, *, tars_allowed: bool, progress: Progress | None = None) -> tuple[dict[str, list[Path]], dict[str, Path]]:
    """Class folders (and, where allowed, per-class tars) of a train/ folder, checked."""
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if not e.name.startswith("."))
    folders = [name for name in names if (folder / name).is_dir()]
    tars = [name for name in names if tars_allowed and name.endswith(".tar") and WNID.fullmatch(name[:-4])]
    strays = sorted(set(names) - set(folders) - set(tars))
    if strays:
        raise ArenaError(f"SRC: {folder} holds {len(strays)} entries that are not wnid folders: {_first(strays)}")
    check_wnids(folders + [name[:-4] for name in tars], f"{folder}")
    doubled = sorted(set(folders) & {name[:-4] for name in tars})
    if doubled:
        raise ArenaError(f"SRC: {folder} holds both a folder and a tar for {_first(doubled)}")
    train: dict[str, list[Path]] = {}
    for done, wnid in enumerate(folders, 1):
        train[wnid] = _images_in(folder / wnid)
        if progress:
            progress("reading train/", done, len(folders))
    empty = [wnid for wnid, images in train.items() if not images]
    if empty:
        raise ArenaError(f"SRC: {len(empty)} class folder(s) in {folder} hold no images: {_first(empty)}")
    return train, {name[:-4]: folder / name for name in tars}


def assign_val(plan: SourcePlan, labels: dict[str, str], images: dict[str, Path], label_source: str) -> None:
    """Put each val image in its labelled class; raise on an image with no label or a label with no image."""
    unlabelled = sorted(set(images) - set(labels))
    if unlabelled:
        raise ArenaError(f"SRC: {len(unlabelled)} val image(s) have no label in {label_source}: {_first(unlabelled)}")
    check_wnids(sorted(set(labels.values())), label_source)
    held = set(plan.classes)
    missing = sorted(image for image, wnid in labels.items() if wnid in held and image not in images)
    if missing:
        raise ArenaError(
            f"SRC: {len(missing)} label(s) in {label_source} name val images that are missing: {_first(missing)}"
        )
    for image, path in sorted(images.items()):
        wnid = labels[image]
        if wnid in held:
            plan.val.setdefault(wnid, []).append(path)
        else:
            plan.val_left_out += 1


def find_devkit(source: Path) -> Path | None:
    """The devkit folder (holding data/meta.mat) at SRC, SRC/ILSVRC2012_devkit_t12, or one level down."""
    for candidate in (source, source / DEVKIT_FOLDER, *sorted(source.glob(f"*/{DEVKIT_FOLDER}"))):
        if (candidate / "data" / "meta.mat").is_file():
            return candidate
    return None


def read_devkit(devkit: Path) -> tuple[dict[int, str], dict[str, str], list[int]]:
    """idx -> wnid, wnid -> first lemma and the val ground truth of an untarred devkit folder.

    The same reading as torchvision's `parse_devkit_archive` (which only takes the archive): the
    synsets of meta.mat without children are the 1000 classes.
    """
    from scipy.io import loadmat

    truth = devkit / "data" / "ILSVRC2012_validation_ground_truth.txt"
    if not truth.is_file():
        raise ArenaError(f"SRC: the devkit {devkit} has no data/{truth.name}")
    try:
        synsets = loadmat(str(devkit / "data" / "meta.mat"), squeeze_me=True)["synsets"]
        leaves = [synset for synset in synsets if int(synset[4]) == 0]
        idx_to_wnid = {int(synset[0]): str(synset[1]) for synset in leaves}
        words = {str(synset[1]): str(synset[2]).split(", ")[0] for synset in leaves}
        val_indices = [int(line) for line in truth.read_text().split()]
    except (ValueError, KeyError, IndexError, OSError) as error:
        raise ArenaError(f"SRC: cannot read the devkit {devkit}: {error}") from None
    return idx_to_wnid, words, val_indices


def read_flat_val(folder: Path) -> dict[str, Path]:
    """image id (ILSVRC2012_val_00000001) -> file, for a flat val/ folder; other entries are errors."""
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if not e.name.startswith("."))
    strays = [name for name in names if not VAL_NAME.fullmatch(name)]
    if strays:
        raise ArenaError(f"SRC: {folder} holds {len(strays)} entries that are not ILSVRC2012_val_*.JPEG: {_first(strays)}")
    return {name.removesuffix(".JPEG"): folder / name for name in names}


def read_untarred(source: Path, devkit: Path, progress: Progress | None = None) -> SourcePlan:
    """train/<wnid>/ (or train/<wnid>.tar), a flat val/ and the devkit's labels."""
    idx_to_wnid, words, val_indices = read_devkit(devkit)
    plan = SourcePlan("untarred", source, words)
    plan.train, plan.train_tars = read_train(source / "train", tars_allowed=True, progress=progress)
    truth = devkit / "data" / "ILSVRC2012_validation_ground_truth.txt"
    labels = {}
    for number, idx in enumerate(val_indices, 1):
        if idx not in idx_to_wnid:
            raise ArenaError(f"SRC: {truth} line {number} names class index {idx}, which meta.mat lacks")
        labels[f"ILSVRC2012_val_{number:08d}"] = idx_to_wnid[idx]
    assign_val(plan, labels, read_flat_val(source / "val"), str(truth))
    return plan


def read_kaggle(source: Path, progress: Progress | None = None) -> SourcePlan:
    """Kaggle's ILSVRC/Data/CLS-LOC/{train,val} with LOC_val_solution.csv and LOC_synset_mapping.txt."""
    words = {}
    for number, line in enumerate((source / KAGGLE_SYNSETS).read_text().splitlines(), 1):
        wnid, _, text = line.strip().partition(" ")
        if not WNID.fullmatch(wnid):
            raise ArenaError(f"SRC: {source / KAGGLE_SYNSETS} line {number} does not start with a wnid")
        words[wnid] = text.split(",")[0].strip()
    check_wnids(sorted(words), str(source / KAGGLE_SYNSETS))
    plan = SourcePlan("kaggle", source, words)
    plan.train, _ = read_train(source / KAGGLE_IMAGES / "train", tars_allowed=False, progress=progress)
    labels = {}
    with (source / KAGGLE_LABELS).open(newline="") as handle:
        for row in csv.DictReader(handle):
            image, boxes = row.get("ImageId"), (row.get("PredictionString") or "").split()
            if not image or not boxes:
                raise ArenaError(f"SRC: {source / KAGGLE_LABELS} has a row without ImageId or PredictionString")
            labels[image] = boxes[0]
    assign_val(plan, labels, read_flat_val(source / KAGGLE_IMAGES / "val"), str(source / KAGGLE_LABELS))
    return plan
