"""Synthetic ImageNet-shaped data: seeded, deterministic per index, and nearly free to produce.

Throughput runs must time the model, not the generator, so no image is drawn per sample: a small
pool of normalised noise images is drawn once per process, and sample `i` is one pool image plus a
per-class colour shift, both picked by a hash of (seed, i). The same index gives the same sample in
every process, and the class shift leaves a learnable signal for smoke tests that expect the loss
to fall.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

POOL_SIZE = 16
"""Distinct noise images per dataset; enough variety for BatchNorm, small enough to stay cheap."""

CLASS_SHIFT_SCALE = 0.5
"""Standard deviation of the per-class, per-channel shift that carries the label."""

_MASK_64 = (1 << 64) - 1


def mix64(value: int) -> int:
    """SplitMix64's finaliser: a well-spread 64-bit hash that is the same in every process."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK_64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK_64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK_64
    return value ^ (value >> 31)


class SyntheticImages(Dataset):
    """`size` normalised 3xSxS float images, labels in [0, num_classes), fixed by seed and index."""

    def __init__(
        self, size: int, num_classes: int, image_size: int, *, seed: int = 0, stream: int = 0
    ) -> None:
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.seed = seed
        self.stream = stream
        """Which split this is (train 0, val 1): the samples differ, the class signal is shared."""
        self._pool: Tensor | None = None
        self._class_shift: Tensor | None = None

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} synthetic images")
        pool, class_shift = self._tables()
        key = mix64(mix64((self.seed << 8) ^ self.stream) ^ index)
        label = key % self.num_classes
        image = pool[(key >> 32) % POOL_SIZE] + class_shift[label]
        return image, label

    def _tables(self) -> tuple[Tensor, Tensor]:
        # Drawn lazily, so each DataLoader worker builds the same tables from the seed.
        if self._pool is None or self._class_shift is None:
            generator = torch.Generator().manual_seed(self.seed)
            shape = (POOL_SIZE, 3, self.image_size, self.image_size)
            self._pool = torch.randn(shape, generator=generator)
            shift = torch.randn((self.num_classes, 3, 1, 1), generator=generator)
            self._class_shift = shift * CLASS_SHIFT_SCALE
        return self._pool, self._class_shift

    def __getstate__(self) -> dict[str, Any]:
        # The tables are rebuilt from the seed; shipping them to workers would cost more.
        return {**self.__dict__, "_pool": None, "_class_shift": None}
