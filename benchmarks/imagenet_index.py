"""Loading a prepared ImageNet folder's index against walking its 1.33 M files, as a plain image folder is read.

Writes ILSVRC-2012's shape under a temporary folder: 1000 class folders of empty files (1,281,167
train, 50,000 val; the file count is what a walk pays for, not the bytes) and the index that
`arena data prepare imagenet` would write for them. Then times, in turn, what each data-loading
process does at start: the walk (`find_images` over train/ and val/, what `data.dataset:
imagefolder` does) and the index load (`read_header` + `read_files`, what `data.dataset: imagenet`
does). The folder is deleted afterwards. The walk runs on a warm dentry cache (the files were just
written); on a cold cache or a network filesystem it is slower, the index load is not.

    python benchmarks/imagenet_index.py [--repeats 3] [--scale 1.0] [--root /tmp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from arena.data.imagefolder import find_images
from arena.data.imagenet_index import FULL_COUNTS, IndexHeader, canonical_wnids, read_files, read_header, write_index
from arena.data.layout import split_classes


def per_class_counts(total: int, classes: int) -> list[int]:
    """Spread `total` files over `classes` as evenly as whole numbers allow."""
    base, extra = divmod(total, classes)
    return [base + (1 if index < extra else 0) for index in range(classes)]


def write_fake_imagenet(root: Path, scale: float) -> dict[str, dict[str, list[str]]]:
    """Empty files in ImageNet's layout (names like n01440764_123.JPEG); return the file lists."""
    wnids = canonical_wnids()
    files: dict[str, dict[str, list[str]]] = {}
    for split, total in FULL_COUNTS.items():
        files[split] = {}
        for wnid, count in zip(wnids, per_class_counts(round(total * scale), len(wnids)), strict=True):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            names = [f"{wnid}_{number}.JPEG" for number in range(count)]
            for name in names:
                os.close(os.open(folder / name, os.O_CREAT | os.O_WRONLY, 0o644))
            files[split][wnid] = names
    header = IndexHeader(
        classes=wnids, words=wnids, counts={split: sum(map(len, files[split].values())) for split in files},
        fingerprint="benchmark", source=str(root), form="untarred",
    )
    write_index(root, header, files)
    return files


def walk(root: Path) -> int:
    """What an image-folder dataset does at start: find the classes, then every file of both splits."""
    classes = split_classes(root)
    return len(find_images(root / "train", classes)) + len(find_images(root / "val", classes))


def load_index(root: Path) -> int:
    """What `data.dataset: imagenet` does at start: read the header and the file lists."""
    samples = read_files(root, read_header(root))
    return len(samples["train"]) + len(samples["val"])


def timed(function, root: Path, repeats: int) -> tuple[float, int]:  # noqa: ANN001 - one of the two above
    """Median seconds of `repeats` calls, and what the call counted."""
    seconds, count = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        count = function(root)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of ImageNet's file count")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="arena-index-bench-", dir=args.root))
    try:
        started = time.perf_counter()
        write_fake_imagenet(folder, args.scale)
        written = time.perf_counter() - started
        walk_seconds, walked = timed(walk, folder, args.repeats)
        index_seconds, listed = timed(load_index, folder, args.repeats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert walked == listed, f"the walk found {walked} files, the index lists {listed}"
    print(f"## ImageNet index against a directory walk ({listed:,} files, median of {args.repeats})\n")
    print("| start-up of one data-loading process | seconds |")
    print("|---|---|")
    print(f"| walk train/ and val/ (`imagefolder`) | {walk_seconds:.2f} |")
    print(f"| load the index (`imagenet`) | {index_seconds:.2f} |")
    print(f"\nThe index loads **{walk_seconds / index_seconds:.1f}x** as fast as the walk "
          f"(warm dentry cache; writing the {listed:,} empty files took {written:.0f} s).\n")
    print(f"Reproduce: `.venv/bin/python benchmarks/imagenet_index.py --repeats {args.repeats} --scale {args.scale}`")


if __name__ == "__main__":
    main()
