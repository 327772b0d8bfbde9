"""Tiny fake ImageNet sources in the three forms users hold: untarred with the devkit, Kaggle, archives."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from arena.data.imagenet_index import canonical_wnids

WORDS = {"n01440764": "tench, Tinca tinca", "n01443537": "goldfish, Carassius auratus",
         "n01484850": "great white shark, white shark, man-eater"}
CLASSES = sorted(WORDS)
TRAIN_PER_CLASS = 3
VAL_LABELS = ["n01443537", "n01440764", "n01484850", "n01440764", "n01443537", "n01484850"]
"""The class of ILSVRC2012_val_00000001.JPEG, _00000002, ... (the devkit's order)."""


def jpeg_bytes(seed: int, size: int = 12) -> bytes:
    """A small RGB JPEG whose pixels depend on `seed`."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def ilsvrc_id(wnid: str) -> int:
    """The devkit's ILSVRC2012_ID of a wnid: its 1-based place in the sorted 1000."""
    return canonical_wnids().index(wnid) + 1


def write_devkit(folder: Path, val_labels: list[str], words: dict[str, str] = WORDS) -> Path:
    """A devkit folder: data/meta.mat in the devkit's struct layout and the val ground truth."""
    from scipy.io import savemat

    data = folder / "data"
    data.mkdir(parents=True)
    fields = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("gloss", "O"), ("num_children", "O"),
              ("children", "O"), ("wordnet_height", "O"), ("num_train_images", "O")]
    rows = [(ilsvrc_id(wnid), wnid, text, "a gloss", 0, np.zeros((1, 0)), 0, TRAIN_PER_CLASS)
            for wnid, text in sorted(words.items())]
    rows.append((1001, "n00004475", "organism, being", "an inner node", 1, np.array([[1]]), 1, 0))
    synsets = np.array(rows, dtype=fields).reshape(-1, 1)
    savemat(str(data / "meta.mat"), {"synsets": synsets})
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{ilsvrc_id(w)}\n" for w in val_labels))
    return folder


def write_train(folder: Path, classes: list[str] = CLASSES, per_class: int = TRAIN_PER_CLASS) -> None:
    """train/<wnid>/<wnid>_<n>.JPEG images."""
    for label, wnid in enumerate(classes):
        (folder / wnid).mkdir(parents=True)
        for number in range(per_class):
            (folder / wnid / f"{wnid}_{number}.JPEG").write_bytes(jpeg_bytes(100 * label + number))


def write_flat_val(folder: Path, count: int = len(VAL_LABELS)) -> None:
    """A flat val/ of ILSVRC2012_val_0000000N.JPEG."""
    folder.mkdir(parents=True)
    for number in range(1, count + 1):
        (folder / f"ILSVRC2012_val_{number:08d}.JPEG").write_bytes(jpeg_bytes(10_000 + number))


def make_untarred(source: Path, val_labels: list[str] = VAL_LABELS, classes: list[str] = CLASSES) -> Path:
    """Form (b): train/<wnid>/, a flat val/ and ILSVRC2012_devkit_t12/."""
    write_train(source / "train", classes)
    write_flat_val(source / "val", len(val_labels))
    write_devkit(source / "ILSVRC2012_devkit_t12", val_labels)
    return source


def make_kaggle(source: Path, val_labels: list[str] = VAL_LABELS, classes: list[str] = CLASSES) -> Path:
    """Form (c): ILSVRC/Data/CLS-LOC/{train,val}, LOC_val_solution.csv, LOC_synset_mapping.txt."""
    images = source / "ILSVRC" / "Data" / "CLS-LOC"
    write_train(images / "train", classes)
    write_flat_val(images / "val", len(val_labels))
    rows = [f"ILSVRC2012_val_{n:08d},{wnid} 1 2 10 11 {wnid} 3 3 9 9" for n, wnid in enumerate(val_labels, 1)]
    (source / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "\n".join(rows[::-1]) + "\n")
    (source / "LOC_synset_mapping.txt").write_text("".join(f"{w} {WORDS[w]}\n" for w in sorted(WORDS)))
    return source


def _tar(path: Path, members: dict[str, bytes], mode: str = "w") -> None:
    with tarfile.open(path, mode) as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))


def md5_of(path: Path) -> str:
    """The md5 of a file, as torchvision checks it."""
    return hashlib.md5(path.read_bytes()).hexdigest()


def make_archives(source: Path, scratch: Path) -> dict[str, tuple[str, str]]:
    """Form (a): the three official archives; return ARCHIVE_META for them (file name, md5)."""
    source.mkdir(parents=True)
    scratch.mkdir(parents=True, exist_ok=True)
    class_tars = {}
    for label, wnid in enumerate(CLASSES):
        _tar(scratch / f"{wnid}.tar", {f"{wnid}_{n}.JPEG": jpeg_bytes(100 * label + n) for n in range(TRAIN_PER_CLASS)})
        class_tars[f"{wnid}.tar"] = (scratch / f"{wnid}.tar").read_bytes()
    _tar(source / "ILSVRC2012_img_train.tar", class_tars)
    val = {f"ILSVRC2012_val_{n:08d}.JPEG": jpeg_bytes(10_000 + n) for n in range(1, len(VAL_LABELS) + 1)}
    _tar(source / "ILSVRC2012_img_val.tar", val)
    devkit = write_devkit(scratch / "ILSVRC2012_devkit_t12", VAL_LABELS)
    with tarfile.open(source / "ILSVRC2012_devkit_t12.tar.gz", "w:gz") as tar:
        tar.add(devkit, arcname="ILSVRC2012_devkit_t12")
    names = {"train": "ILSVRC2012_img_train.tar", "val": "ILSVRC2012_img_val.tar", "devkit": "ILSVRC2012_devkit_t12.tar.gz"}
    return {key: (name, md5_of(source / name)) for key, name in names.items()}
