"""The index `arena data prepare imagenet` writes, and the dataset identity it proves; torch-free.

A prepared folder holds `train/<wnid>/` and `val/<wnid>/` (links to the source's files) and two
index files: `arena-index.json`, the small header (classes in ImageNet's canonical order with their
words, counts, fingerprint, identity) that the driver reads before a run, and `arena-files.json`,
one compact list of file names per class and split, that the workers read instead of walking 1.28 M
files. The class index is the position of a wnid among the folder's classes in canonical order (the
sorted wnids, which is also the devkit's ILSVRC2012_ID order), so a 1000-way head means the same
thing in every run.

The fingerprint hashes every split/wnid/file name with its size: reading 150 GB of pixels to name a
dataset would take hours, and a changed, added or removed image changes a name or a size.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from arena.atomic_files import write_text_atomically
from arena.errors import ArenaError

HEADER_FILE = "arena-index.json"
FILES_FILE = "arena-files.json"
FORMAT = "arena-imagenet-index/1"
SPLITS = ("train", "val")

FULL_NAME = "imagenet-1k"
FULL_CLASSES = 1000
FULL_COUNTS = {"train": 1_281_167, "val": 50_000}
"""ILSVRC-2012's classification set: only a folder with exactly these counts is `imagenet-1k`."""

SUBSET_FINGERPRINT_DIGITS = 8
"""Hex digits of the content fingerprint a subset's name carries."""

WNID = re.compile(r"n\d{8}")


@cache
def canonical_wnids() -> tuple[str, ...]:
    """ImageNet-1k's 1000 wnids in class-index order, from the synset list timm ships (offline)."""
    spec = find_spec("timm")  # locating the package does not import it (and torch with it)
    if spec is None or spec.origin is None:
        raise ArenaError("imagenet: the timm package, which ships ImageNet's class list, is not installed")
    synsets = Path(spec.origin).parent / "data" / "_info" / "imagenet_synsets.txt"
    wnids = tuple(line.strip() for line in synsets.read_text().splitlines() if line.strip())
    assert len(wnids) == FULL_CLASSES and list(wnids) == sorted(wnids), "timm's list is the sorted 1000"
    return wnids


@dataclass(frozen=True)
class IndexHeader:
    """What a prepared ImageNet folder holds: classes, counts, fingerprint, and the source it came from."""

    classes: tuple[str, ...]
    """wnids in canonical order; a class's position is its label."""
    words: tuple[str, ...]
    """Each class's first lemma ("tench"), from the source's own metadata."""
    counts: dict[str, int]
    fingerprint: str
    source: str
    form: str
    """official-archives | untarred | kaggle."""

    @property
    def dataset(self) -> str:
        """The `arena.dataset` tag: imagenet-1k only for the full ILSVRC-2012 set, else a subset name.

        A subset is `imagenet-1k-sub<classes>-<8 hex>`: the hex digits start the content fingerprint
        (every file name and size), so two subsets never share a name, even with the same number of
        classes (ten different classes, or the same thousand with fewer images each).
        """
        if len(self.classes) == FULL_CLASSES and all(self.counts[s] == n for s, n in FULL_COUNTS.items()):
            return FULL_NAME
        return f"{FULL_NAME}-sub{len(self.classes)}-{self.fingerprint[:SUBSET_FINGERPRINT_DIGITS]}"

    @property
    def is_subset(self) -> bool:
        """True when the folder holds fewer classes or images than ILSVRC-2012."""
        return self.dataset != FULL_NAME


def content_fingerprint(entries: Iterable[tuple[str, str, str, int]]) -> str:
    """sha256 over sorted (split, wnid, file name, size) lines: 16 hex digits."""
    digest = hashlib.sha256()
    for split, wnid, name, size in sorted(entries):
        digest.update(f"{split}/{wnid}/{name}\t{size}\n".encode())
    return digest.hexdigest()[:16]


def write_index(folder: Path, header: IndexHeader, files: dict[str, dict[str, list[str]]]) -> None:
    """Write the per-class file lists, then the header, into `folder` (compact JSON, fast to load).

    Each file is written whole or not at all (a temp name, fsynced, renamed), and the header last: a
    header on disk always has its file lists beside it.
    """
    body = {
        "format": FORMAT, "dataset": header.dataset, "classes": list(header.classes),
        "words": list(header.words), "counts": header.counts, "fingerprint": header.fingerprint,
        "source": header.source, "form": header.form,
    }
    lists = {split: [files[split].get(wnid, []) for wnid in header.classes] for split in SPLITS}
    write_text_atomically(folder / FILES_FILE, json.dumps({"format": FORMAT, **lists}, separators=(",", ":")))
    write_text_atomically(folder / HEADER_FILE, json.dumps(body, indent=1) + "\n")


def has_index(root: Path) -> bool:
    """True when `root` holds an index that `arena data prepare imagenet` wrote."""
    return (Path(root) / HEADER_FILE).is_file()


def read_header(root: Path) -> IndexHeader:
    """Read a prepared folder's header; a missing or foreign file is an ArenaError naming data.root."""
    path = Path(root) / HEADER_FILE
    if not path.is_file():
        raise ArenaError(
            f"data.root: {root} has no {HEADER_FILE}; write one with `arena data prepare imagenet SRC --out {root}`"
        )
    try:
        body = json.loads(path.read_text())
        if body.get("format") != FORMAT:
            raise ValueError(f"format {body.get('format')!r}, expected {FORMAT!r}")
        return IndexHeader(
            classes=tuple(body["classes"]), words=tuple(body["words"]),
            counts={split: int(body["counts"][split]) for split in SPLITS},
            fingerprint=str(body["fingerprint"]), source=str(body["source"]), form=str(body["form"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ArenaError(f"data.root: {path} is not an arena ImageNet index ({error})") from None


def read_files(root: Path, header: IndexHeader) -> dict[str, list[tuple[str, int]]]:
    """Every split's (path, label) pairs from the index, in class order, without touching the images."""
    path = Path(root) / FILES_FILE
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ArenaError(f"data.root: cannot read {path} ({error})") from None
    samples: dict[str, list[tuple[str, int]]] = {}
    for split in SPLITS:
        lists = body.get(split)
        if not isinstance(lists, list) or len(lists) != len(header.classes):
            raise ArenaError(f"data.root: {path} does not list {split} files for its {len(header.classes)} classes")
        split_samples: list[tuple[str, int]] = []
        for label, (wnid, names) in enumerate(zip(header.classes, lists, strict=True)):
            # Strings, not Path objects: building 1.28 M Paths would cost more than the JSON parse.
            folder = f"{root}/{split}/{wnid}/"
            split_samples += [(folder + name, label) for name in names]
        samples[split] = split_samples
    return samples
