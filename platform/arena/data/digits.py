"""The built-in real dataset: scikit-learn's handwritten digits as an ImageNet-layout folder.

`load_digits()` ships inside scikit-learn (1797 8x8 grayscale images, 10 classes), so nothing is
downloaded. The folder is written into a temporary sibling and renamed into place with a marker
file inside, so a crash never leaves a folder that looks complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from arena.errors import ArenaError
from arena.settings import Settings

COMPLETE_MARKER = ".complete"
"""Written last: its presence tells a finished digits folder from a half-written one."""

VAL_FRACTION = 0.2
DIGITS_MAX_VALUE = 16
"""load_digits() pixel values run from 0 to 16."""


def digits_root_under(home: Path) -> Path:
    """Where the digits folder lives under an arena home."""
    return home / "data" / "digits"


def default_digits_root(settings: Settings) -> Path:
    """The default digits folder: $ARENA_HOME/data/digits."""
    return digits_root_under(settings.home)


def is_prepared(root: Path) -> bool:
    """True when `root` is a completely written digits folder."""
    return (root / COMPLETE_MARKER).is_file()


def is_replaceable(root: Path) -> bool:
    """True when `root` is absent, empty, or holds only train/ and val/ (half-written digits)."""
    if not root.exists():
        return True
    if not root.is_dir():
        return False
    return all(child.name in {"train", "val"} for child in root.iterdir())


def prepare_digits(out: Path, *, seed: int = 0) -> Path:
    """Write the digits as out/train/<class>/*.png and out/val/<class>/*.png; return `out`."""
    out = Path(out).expanduser().resolve()
    if is_prepared(out):
        return out
    if not is_replaceable(out):
        # Never delete a folder that arena did not write.
        raise ArenaError(
            f"data.root: {out} exists and is not a digits folder; choose another --out"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        counts = _write_split_images(staging, seed)
        marker = {"source": "sklearn.datasets.load_digits", "seed": seed, "images": counts}
        (staging / COMPLETE_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        _move_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_split_images(folder: Path, seed: int) -> dict[str, int]:
    # scikit-learn takes about a second to import and only preparing needs it.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = np.rint(digits.images * (255 / DIGITS_MAX_VALUE)).clip(0, 255).astype(np.uint8)
    indices = np.arange(len(digits.target))
    train, val = train_test_split(
        indices, test_size=VAL_FRACTION, stratify=digits.target, random_state=seed
    )
    for split, chosen in (("train", train), ("val", val)):
        for index in sorted(chosen):
            class_folder = folder / split / str(digits.target[index])
            class_folder.mkdir(parents=True, exist_ok=True)
            image = Image.fromarray(pixels[index])  # a 2-D uint8 array gives 8-bit grayscale "L"
            image.save(class_folder / f"{index:04d}.png")
    return {"train": len(train), "val": len(val)}


def _move_into_place(staging: Path, out: Path) -> None:
    if is_prepared(out):
        return  # another process (a second Ray worker on this node) finished first
    if out.exists():
        shutil.rmtree(out)  # half-written: the caller checked that it holds only train/ and val/
    try:
        staging.rename(out)
    except OSError:
        # Another process renamed its folder into place between our check and our rename.
        if not is_prepared(out):
            raise
