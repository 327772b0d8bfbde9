"""ImageNet's official archives, checked and unpacked by torchvision's own ImageNet routines.

torchvision's `parse_val_archive` and `parse_train_archive` verify each archive's md5 before they
extract it (into arena's staging folder, not the source), and torchvision's `parse_devkit_archive` checks and reads the devkit; it writes a `meta.bin` beside
the archive, so it is given a temporary folder holding a link to the archive, never the source.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from arena.data.imagenet_sources import Progress, check_wnids
from arena.errors import ArenaError

ARCHIVE_KEYS = ("train", "val", "devkit")


def archive_names() -> dict[str, str]:
    """The official archive file names, as torchvision's ImageNet knows them."""
    from torchvision.datasets.imagenet import ARCHIVE_META

    return {key: ARCHIVE_META[key][0] for key in ARCHIVE_KEYS}


def _checksum_error(source: Path, key: str) -> ArenaError:
    from torchvision.datasets.imagenet import ARCHIVE_META

    name, md5 = ARCHIVE_META[key]
    return ArenaError(f"SRC: {source / name} fails its md5 check (torchvision expects {md5}); the archive is corrupt or not ILSVRC-2012's")


def read_devkit_archive(source: Path) -> tuple[dict[str, str], list[str]]:
    """wnid -> first lemma and the val images' wnids, through torchvision's `parse_devkit_archive`."""
    from torchvision.datasets import imagenet

    name = imagenet.ARCHIVE_META["devkit"][0]
    # parse_devkit_archive writes its meta.bin beside the archive: give it a folder of its own.
    with tempfile.TemporaryDirectory(prefix="arena-devkit-") as folder:
        os.symlink(source / name, Path(folder) / name)
        try:
            imagenet.parse_devkit_archive(folder)
        except RuntimeError:  # torchvision's _verify_archive: an md5 mismatch
            raise _checksum_error(source, "devkit") from None
        except (KeyError, ValueError, IndexError) as error:
            raise ArenaError(f"SRC: cannot read the devkit archive {source / name}: {error!r}") from None
        wnid_to_classes, val_wnids = imagenet.load_meta_file(folder)
    return {wnid: classes[0] for wnid, classes in wnid_to_classes.items()}, list(val_wnids)


def unpack_official(source: Path, staging: Path, progress: Progress | None = None) -> dict[str, str]:
    """Check and unpack the three archives into staging/train and staging/val; return wnid -> words."""
    from torchvision.datasets import imagenet

    if progress:
        progress("checking and reading the devkit", 0, 3)
    words, val_wnids = read_devkit_archive(source)
    check_wnids(sorted(set(val_wnids)), f"{source}'s devkit")
    # Each call verifies its archive's md5 first (minutes for the 138 GB train tar), then extracts.
    steps = (
        ("val", lambda: imagenet.parse_val_archive(str(source), wnids=val_wnids, folder=str(staging / "val"))),
        ("train", lambda: imagenet.parse_train_archive(str(source), folder=str(staging / "train"))),
    )
    for done, (key, unpack) in enumerate(steps, 1):
        if progress:
            progress(f"checking and unpacking the {key} archive", done, 3)
        try:
            unpack()
        except RuntimeError:  # torchvision's _verify_archive: missing or an md5 mismatch
            raise _checksum_error(source, key) from None
    return words
