"""Image file decoding: PIL and torchvision's libjpeg/libpng decoders, both giving RGB.

The default is PIL. `benchmarks/input_pipeline.py` times both (decode alone, and decode plus the
training transform); the measured numbers and the reasons for the choice are in BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_image

Decoded = Image.Image | torch.Tensor
"""A decoded RGB image: a PIL image, or a 3xHxW uint8 tensor; the v2 transforms take either."""

DecoderName = Literal["pil", "torchvision"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp")
"""File endings an image folder is scanned for (compared lower-cased)."""


def decode_with_pil(path: Path) -> Image.Image:
    """Decode an image file with PIL into RGB, loading the pixels now so that errors surface here."""
    with Image.open(path) as image:
        # convert() forces the full decode: a truncated file fails here, not inside a transform.
        return image.convert("RGB")


def decode_with_torchvision(path: Path) -> torch.Tensor:
    """Decode an image file with torchvision.io into a 3xHxW uint8 RGB tensor."""
    return decode_image(str(path), mode=ImageReadMode.RGB)


DECODERS: dict[DecoderName, Callable[[Path], Decoded]] = {
    "pil": decode_with_pil,
    "torchvision": decode_with_torchvision,
}

DEFAULT_DECODER: DecoderName = "pil"


def decode_rgb(path: Path, decoder: DecoderName = DEFAULT_DECODER) -> Decoded:
    """Decode an image file into RGB with the named decoder (any error means an unreadable file)."""
    return DECODERS[decoder](path)
