"""A dataset over an ImageNet-layout folder that skips unreadable images instead of crashing.

Layout: `root/train/<class>/**/<image>` and `root/val/<class>/**/<image>`; class indices follow the
sorted names of train/'s class folders, and val/ must not hold a class that train/ lacks.

Unreadable images: when a file fails to decode, the dataset counts it and returns the next readable
image of the folder order instead (usually the same class), so batches keep their size and no epoch
crashes. The counts live in shared memory, so DataLoader worker processes add to the same totals the
training process reads. After each pass the training loop calls `end_epoch()`, which logs how many
were skipped, naming the first few, and raises `ArenaError` when the skipped fraction is over
`data.max_bad_fraction`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.context import get_spawning_popen
from pathlib import Path
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

from arena.data.decoding import DEFAULT_DECODER, DecoderName, decode_rgb
from arena.data.layout import is_image_file
from arena.errors import ArenaError

logger = logging.getLogger(__name__)

FILES_NAMED = 5
"""How many unreadable files a warning names."""

SUBSTITUTE_ATTEMPTS = 32
"""How far past an unreadable image to look for a readable one before giving up on the folder."""


def find_images(folder: Path, class_names: list[str]) -> list[tuple[Path, int]]:
    """Every image under the class folders present in `folder`, with its class index, sorted."""
    samples = []
    for label, name in enumerate(class_names):
        class_folder = folder / name
        if not class_folder.is_dir():
            continue  # a val/ split may leave out classes that train/ has
        for directory, subfolders, files in os.walk(class_folder, followlinks=True):
            subfolders.sort()
            samples += [(Path(directory) / f, label) for f in sorted(files) if is_image_file(f)]
    return samples


def _new_shared_array(values: list[int]) -> Any:
    # A lock made in the fork context cannot reach spawned or forkserver DataLoader workers; one
    # made in the spawn context serves forked workers as well.
    return multiprocessing.get_context("spawn").Array("q", values)


class SharedCounts:
    """Images read and images found unreadable since the last reset, shared across processes."""

    def __init__(self) -> None:
        # [read, unreadable, index of the first unreadable files...]; -1 marks an empty slot.
        self._slots = _new_shared_array([0, 0] + [-1] * FILES_NAMED)

    def record(self, index: int, readable: bool) -> None:
        """Count one image read, and remember its index among the first unreadable ones."""
        with self._slots.get_lock():
            self._slots[0] += 1
            if not readable:
                if self._slots[1] < FILES_NAMED:
                    self._slots[2 + self._slots[1]] = index
                self._slots[1] += 1

    def take(self) -> tuple[int, int, list[int]]:
        """Return (read, unreadable, first unreadable indices) and start counting from zero."""
        with self._slots.get_lock():
            values = list(self._slots)
            self._slots[:] = [0, 0] + [-1] * FILES_NAMED
        return values[0], values[1], [index for index in values[2:] if index >= 0]

    def __getstate__(self) -> dict[str, Any]:
        # A DataLoader worker being started gets the shared memory itself; any other pickle (a Ray
        # task shipping the dataset) gets its own counts, since shared memory cannot travel there.
        if get_spawning_popen() is not None:
            return {"slots": self._slots}
        return {"values": list(self._slots)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "slots" in state:
            self._slots = state["slots"]
        else:
            self._slots = _new_shared_array(state["values"])


@dataclass(frozen=True)
class SkippedImages:
    """How many images of one folder were unreadable and skipped during one pass."""

    folder: Path
    read: int
    skipped: int
    first_files: list[Path] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """The share of images read that were skipped."""
        return self.skipped / self.read if self.read else 0.0


class ImageFolderDataset(Dataset):
    """(image, class index) pairs from one split folder; unreadable files are counted, skipped."""

    def __init__(
        self,
        folder: Path,
        class_names: list[str],
        transform: Callable[..., Tensor],
        *,
        max_bad_fraction: float,
        decoder: DecoderName = DEFAULT_DECODER,
        samples: list[tuple[str, int]] | None = None,
    ) -> None:
        self.folder = folder
        self.class_names = class_names
        self.transform = transform
        self.max_bad_fraction = max_bad_fraction
        self.decoder: DecoderName = decoder
        # An ImageNet index lists the files; any other folder is walked once, here.
        self.samples: list[tuple[Path | str, int]] = (
            list(samples) if samples is not None else list(find_images(folder, class_names))
        )
        self.counts = SharedCounts()
        self._warned = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path, label = self.samples[index]
        image = self._decode(path)
        self.counts.record(index, readable=image is not None)
        for step in range(1, SUBSTITUTE_ATTEMPTS + 1):
            if image is not None:
                return self.transform(image), label
            # Substitutes go uncounted: an unreadable file counts once, when its own index is read.
            path, label = self.samples[(index + step) % len(self.samples)]
            image = self._decode(path)
        raise ArenaError(
            f"data: {SUBSTITUTE_ATTEMPTS + 1} images in a row could not be read in {self.folder}, "
            f"from {self.samples[index][0]} on"
        )

    def _decode(self, path: Path | str) -> Any:
        try:
            return decode_rgb(path, self.decoder)
        except Exception as error:  # noqa: BLE001 - decoders raise many types for a corrupt file
            if self._warned < FILES_NAMED:
                self._warned += 1
                logger.warning("skipping unreadable image %s (%s)", path, error)
            return None

    def end_epoch(self) -> SkippedImages:
        """Report the images skipped since the last call; raise ArenaError when too many were."""
        read, skipped, first = self.counts.take()
        report = SkippedImages(self.folder, read, skipped, [Path(self.samples[i][0]) for i in first])
        if not skipped:
            return report
        names = ", ".join(str(path) for path in report.first_files)
        summary = (
            f"{skipped} of {read} images in {self.folder} could not be read "
            f"({report.fraction:.2%}); first: {names}"
        )
        if report.fraction > self.max_bad_fraction:
            raise ArenaError(
                f"data: {summary}; "
                f"that is more than data.max_bad_fraction = {self.max_bad_fraction}"
            )
        logger.warning("skipped %s", summary)
        return report
