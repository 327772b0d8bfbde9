"""The ImageNet folder layout, read without torch: what `arena train` checks before anything starts.

`root/train/<class>/*.jpg` and `root/val/<class>/*.jpg`; digits and synthetic data have their own
defaults. The driver preflights a job with `check_data` before Ray starts, so this module keeps
torch and torchvision out of the driver's start-up.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from arena.data.digits import digits_root_under, is_prepared, is_replaceable
from arena.data.imagenet_index import content_fingerprint, has_index, read_header
from arena.errors import ArenaError, SpecError
from arena.spec import DataSpec

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp")
"""File endings an image folder is scanned for (compared lower-cased)."""

DIGIT_CLASSES = [str(digit) for digit in range(10)]
EMPTY_FOLDERS_NAMED = 5


def find_classes(folder: Path) -> list[str]:
    """The sorted names of the class folders (non-hidden subfolders) of a split folder."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def is_image_file(name: str) -> bool:
    """True when the file name ends like an image the decoders read."""
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def split_classes(root: Path) -> list[str]:
    """The class list of an image folder root; val/ must hold no class that train/ lacks."""
    train_classes = find_classes(root / "train")
    if not train_classes:
        raise ArenaError(f"data.root: {root} has no class folders in train/")
    unknown = sorted(set(find_classes(root / "val")) - set(train_classes))
    if unknown:
        shown = ", ".join(unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        raise ArenaError(
            f"data.root: {root}/val has {len(unknown)} class folder(s) that train/ lacks: {shown}"
        )
    return train_classes


def data_root(data: DataSpec, *, home: Path) -> Path | None:
    """The folder a spec reads: data.root, the default digits folder, or None for synthetic data."""
    if data.root is not None:
        return Path(data.root).expanduser()
    if data.dataset == "digits":
        return digits_root_under(home)
    return None


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
    if data.dataset == "imagenet":
        try:
            read_header(root)  # the index lists every file: no walk, no per-class check needed
        except ArenaError as error:
            return [str(error)]
        return []
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
    if data.dataset == "imagenet":
        return list(read_header(root).classes)
    return split_classes(root)


def folder_identity(root: Path) -> str:
    """The dataset name of an image folder: its index's (imagenet-1k...) or imagefolder-<fingerprint>.

    The fingerprint hashes every train/ and val/ file name with its size, so two different folders
    never share a name (and never rank together on the leaderboard). A folder that is not on this
    host is an ArenaError, never the name of an empty folder: the name is computed where the data is.
    """
    root = Path(root).expanduser()
    if has_index(root):
        return read_header(root).dataset
    if not any((root / split).is_dir() for split in ("train", "val")):
        where = "does not exist" if not root.exists() else "has neither train/ nor val/"
        raise ArenaError(f"data.root: {root} {where} on {socket.gethostname()}, so the data cannot be named here")
    rows = []
    for split in ("train", "val"):
        for directory, subfolders, files in os.walk(root / split, followlinks=True):
            subfolders.sort()
            relative = Path(directory).relative_to(root / split).as_posix()
            rows += [(split, relative, name, os.stat(Path(directory) / name).st_size)
                     for name in files if is_image_file(name)]
    return f"imagefolder-{content_fingerprint(rows)}"


def dataset_identity(data: DataSpec) -> str:
    """The `arena.dataset` tag of a spec's data: digits, synthetic, imagenet-1k[-sub<N>-<hex>] or imagefolder-<fp>.

    Call it where the data is read (a worker host, the node checks, the machine that evaluates):
    an image folder missing here is an ArenaError.
    """
    if data.dataset in ("digits", "synthetic") or data.root is None:
        return data.dataset
    return folder_identity(Path(data.root))


def check_and_name(data: DataSpec, *, home: Path) -> tuple[list[str], str | None]:
    """What a host that may train sees of a spec's data: its problems, and its name when there are none."""
    problems = check_data(data, home=home)
    if problems:
        return problems, None
    try:
        return [], dataset_identity(data)
    except ArenaError as error:  # a folder that looked usable and then could not be named
        return [str(error)], None
