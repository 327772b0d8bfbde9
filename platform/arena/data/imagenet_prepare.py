"""`arena data prepare imagenet SRC --out DIR`: ImageNet as users hold it, in arena's layout, by linking.

SRC is one of three forms: the official archives (unpacked by torchvision's routines, since a tar's
members cannot be linked), the archives untarred with the devkit, or Kaggle's CLS-LOC layout. For the
last two, DIR/train/<wnid>/ and DIR/val/<wnid>/ hold symbolic links to the source's files, so a
150 GB dataset is not stored twice (per-class train tars are unpacked into DIR, their one copy as
files). Everything is checked before anything is written; DIR is built in a hidden sibling and
renamed into place last, so a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from arena.atomic_files import fsync_folder
from arena.data.imagenet_archives import archive_names, unpack_official
from arena.data.imagenet_index import (
    FULL_CLASSES, FULL_COUNTS, SPLITS, IndexHeader, content_fingerprint, write_index,
)
from arena.data.imagenet_sources import (
    KAGGLE_IMAGES, KAGGLE_LABELS, KAGGLE_SYNSETS, Progress, SourcePlan, check_wnids, find_devkit, read_kaggle, read_untarred,
)
from arena.data.layout import is_image_file
from arena.errors import ArenaError

FORMS = (
    "the official archives (ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar, ILSVRC2012_devkit_t12.tar.gz)",
    "the archives untarred (train/<wnid>/, a flat val/, the devkit folder with data/meta.mat)",
    f"Kaggle's layout ({KAGGLE_IMAGES}/{{train,val}}, {KAGGLE_LABELS}, {KAGGLE_SYNSETS})",
)


@dataclass(frozen=True)
class Prepared:
    """A prepared folder and its index header; `left_out` val images were of classes train lacks."""

    root: Path
    header: IndexHeader
    left_out: int

    def describe(self) -> list[str]:
        """What `arena data prepare imagenet` prints: the folder and its counts, then what a subset lacks."""
        header, counts = self.header, self.header.counts
        lines = [f"{self.root}: {len(header.classes)} classes, {counts['train']:,} train and {counts['val']:,} val "
                 f"images ({header.form}; runs are tagged {header.dataset})"]
        if header.is_subset:
            lines.append(f"a subset of ImageNet-1k: {len(header.classes)} of {FULL_CLASSES} classes, "
                         f"{counts['train']:,} of {FULL_COUNTS['train']:,} train and {counts['val']:,} of "
                         f"{FULL_COUNTS['val']:,} val images")
        if self.left_out:
            lines.append(f"left out {self.left_out:,} val images of classes train/ does not hold")
        return lines


def detect_form(source: Path) -> str:
    """Which of the three forms SRC is: kaggle, untarred or official-archives; else an ArenaError."""
    if not source.is_dir():
        raise ArenaError(f"SRC: {source} is not a folder")
    if (source / KAGGLE_IMAGES).is_dir():
        missing = [name for name in (KAGGLE_LABELS, KAGGLE_SYNSETS) if not (source / name).is_file()]
        if missing:
            raise ArenaError(f"SRC: {source} looks like Kaggle's layout but lacks {', '.join(missing)}")
        return "kaggle"
    if (source / "train").is_dir() or (source / "val").is_dir():
        lacking = [f"{split}/" for split in SPLITS if not (source / split).is_dir()]
        if find_devkit(source) is None:
            lacking.append("the devkit folder (ILSVRC2012_devkit_t12 with data/meta.mat)")
        if lacking:
            raise ArenaError(f"SRC: {source} looks like untarred ImageNet but lacks {', '.join(lacking)}")
        return "untarred"
    archives = archive_names()
    present = [name for name in archives.values() if (source / name).is_file()]
    if present:
        missing = [name for name in archives.values() if name not in present]
        if missing:
            raise ArenaError(f"SRC: {source} holds ImageNet's archives but lacks {', '.join(missing)}")
        return "official-archives"
    raise ArenaError(f"SRC: {source} is none of ImageNet's forms: " + "; ".join(FORMS))


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ArenaError(f"--out: {out} exists and is not an empty folder; choose another")


def _link_plan(plan: SourcePlan, staging: Path, progress: Progress | None) -> None:
    """Link every planned image into staging/<split>/<wnid>/ and unpack the per-class train tars."""
    total = sum(map(len, plan.train.values())) + sum(map(len, plan.val.values()))
    done = 0
    for split, classes in (("train", plan.train), ("val", plan.val)):
        for wnid, images in classes.items():
            folder = staging / split / wnid
            folder.mkdir(parents=True)
            for image in images:
                os.symlink(image, folder / image.name)  # absolute: SRC was resolved
            done += len(images)
            if progress:
                progress("linking images", done, total)
    for count, (wnid, archive) in enumerate(sorted(plan.train_tars.items()), 1):
        with tarfile.open(archive) as tar:
            tar.extractall(staging / "train" / wnid, filter="data")
        if progress:
            progress("unpacking per-class train tars", count, len(plan.train_tars))


def _list_files(staging: Path, classes: list[str]) -> tuple[dict[str, dict[str, list[str]]], list[tuple[str, str, str, int]]]:
    """Per split and class, the image names in the staging folder, and (split, wnid, name, size) rows."""
    files: dict[str, dict[str, list[str]]] = {split: {} for split in SPLITS}
    rows = []
    for split in SPLITS:
        for wnid in classes:
            folder = staging / split / wnid
            if not folder.is_dir():
                continue
            with os.scandir(folder) as entries:
                # stat() follows the link: the size is the source image's.
                sized = sorted((e.name, e.stat().st_size) for e in entries if is_image_file(e.name))
            files[split][wnid] = [name for name, _size in sized]
            rows += [(split, wnid, name, size) for name, size in sized]
    return files, rows


def prepare_imagenet(source: Path, out: Path, *, progress: Progress | None = None) -> Prepared:
    """Check SRC, then write DIR/train, DIR/val and the index; nothing is written when SRC is wrong."""
    source, out = Path(source).expanduser().resolve(), Path(out).expanduser().resolve()
    _check_out(out)
    form = detect_form(source)
    plan: SourcePlan | None = None
    if form == "kaggle":
        plan = read_kaggle(source, progress)
    elif form == "untarred":
        devkit = find_devkit(source)
        assert devkit is not None  # detect_form checked it
        plan = read_untarred(source, devkit, progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        if plan is None:
            words = unpack_official(source, staging, progress)
            classes = sorted(path.name for path in (staging / "train").iterdir() if path.is_dir())
            check_wnids(classes, f"{source}'s train archive")
            left_out = 0
        else:
            _link_plan(plan, staging, progress)
            words, classes, left_out = plan.words, plan.classes, plan.val_left_out
        files, rows = _list_files(staging, classes)
        header = IndexHeader(
            classes=tuple(classes), words=tuple(words.get(wnid, wnid) for wnid in classes),
            counts={split: sum(map(len, files[split].values())) for split in SPLITS},
            fingerprint=content_fingerprint(rows), source=str(source), form=form,
        )
        write_index(staging, header, files)
        fsync_folder(staging)
        if out.exists():
            out.rmdir()  # checked empty above
        staging.rename(out)
        fsync_folder(out.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Prepared(out, header, left_out)
