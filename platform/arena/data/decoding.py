"""Image file decoding into RGB: torchvision.io's decoders first, PIL for the formats they lack.

`benchmarks/input_pipeline.py` times both. On a shared 2-core x86 machine torchvision.io decoded
500x375 JPEGs 1.0-1.4x as fast as PIL, and 1.5-1.8x as fast followed by the training transform (the
v2 transforms run their tensor kernels on its uint8 tensors). torchvision.io reads JPEG, PNG, GIF and WebP but
not BMP, TIFF or PPM/PGM, so those fall back to PIL, and the default reads every format PIL reads.
torchvision 0.29 marks its decoders deprecated in favour of TorchCodec; set DEFAULT_DECODER to
"pil" if a later torchvision drops them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as transform_functions

Decoded = Image.Image | torch.Tensor
"""A decoded RGB image: a PIL image, or a 3xHxW uint8 tensor; the v2 transforms take either."""

DecoderName = Literal["pil", "torchvision", "torchvision-or-pil"]



def decode_with_pil(path: Path) -> Image.Image:
    """Decode an image file with PIL into RGB, loading the pixels now so errors surface here."""
    with Image.open(path) as image:
        # convert() forces the full decode: a truncated file fails here, not inside a transform.
        return image.convert("RGB")


def decode_with_torchvision(path: Path) -> torch.Tensor:
    """Decode an image file with torchvision.io into a 3xHxW uint8 RGB tensor."""
    image = decode_image(str(path), mode=ImageReadMode.RGB)
    if image.dtype != torch.uint8:
        # 16-bit PNGs decode to uint16; the augmentation policies take uint8 only.
        image = transform_functions.to_dtype(image, torch.uint8, scale=True)
    return image


def decode_with_torchvision_or_pil(path: Path) -> Decoded:
    """Decode with torchvision.io, or with PIL when torchvision.io cannot read the file."""
    try:
        return decode_with_torchvision(path)
    except RuntimeError:
        # BMP, TIFF, PPM: formats torchvision.io lacks. A corrupt file fails in PIL too.
        return decode_with_pil(path)


DECODERS: dict[DecoderName, Callable[[Path], Decoded]] = {
    "pil": decode_with_pil,
    "torchvision": decode_with_torchvision,
    "torchvision-or-pil": decode_with_torchvision_or_pil,
}

DEFAULT_DECODER: DecoderName = "torchvision-or-pil"


def decode_rgb(path: Path, decoder: DecoderName = DEFAULT_DECODER) -> Decoded:
    """Decode an image file into RGB with the named decoder (any error means an unreadable file)."""
    return DECODERS[decoder](path)
