"""Time image decoding for the input pipeline: PIL against torchvision.io, images per second.

Writes a few ImageNet-sized JPEGs (and digit-sized PNGs) into a temporary folder, then times each
decoder alone and followed by the training transform (random-resized crop, flip, normalise).
Prints images/s for both and the ratio torchvision / PIL (above 1: torchvision is faster).

    python benchmarks/input_pipeline.py [--images 64] [--repeats 3] [--image-size 224]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from arena.data.decoding import DECODERS
from arena.data.transforms import build_train_transform
from arena.spec import AugmentSpec


@dataclass(frozen=True)
class BenchmarkContract:
    """The ResNet-style ImageNet input contract."""

    resolution: int = 224
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"
    min_input: int = 32


def write_images(folder: Path, count: int, size: tuple[int, int], suffix: str) -> list[Path]:
    """Write `count` photo-like images (smooth gradients plus grain) of `size` (width, height)."""
    rng = np.random.default_rng(0)
    width, height = size
    ramp_x = np.linspace(0, 255, width)[None, :, None]
    ramp_y = np.linspace(0, 255, height)[:, None, None]
    paths = []
    for index in range(count):
        colours = rng.uniform(0.2, 1.0, size=3)
        grain = rng.normal(0, 12, (height, width, 3))
        pixels = (ramp_x * colours + ramp_y * colours[::-1]) / 2 + grain
        path = folder / f"{index:04d}{suffix}"
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def images_per_second(paths: list[Path], step: Callable[[Path], object], repeats: int) -> float:
    """The best of `repeats` passes over `paths`, in images per second."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for path in paths:
            step(path)
        best = min(best, time.perf_counter() - start)
    return len(paths) / best


def main() -> None:
    """Run the benchmark and print one line per case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()
    torch.set_num_threads(1)  # a DataLoader worker decodes on one thread
    transform = build_train_transform(BenchmarkContract(), AugmentSpec(), args.image_size)
    with tempfile.TemporaryDirectory() as folder:
        cases = {
            "jpeg 500x375": write_images(Path(folder), args.images, (500, 375), ".jpg"),
            "png 8x8 gray": write_digit_pngs(Path(folder), args.images),
        }
        print(f"{'case':<34} {'pil img/s':>10} {'torchvision img/s':>18} {'ratio':>6}")
        for case, paths in cases.items():
            for label, with_transform in (("decode", False), ("decode+train transform", True)):
                rates = {}
                for name in ("pil", "torchvision"):
                    decode = DECODERS[name]
                    step = (lambda p, d=decode: transform(d(p))) if with_transform else decode
                    rates[name] = images_per_second(paths, step, args.repeats)
                ratio = rates["torchvision"] / rates["pil"]
                name = f"{case}, {label}"
                pil, torchvision = rates["pil"], rates["torchvision"]
                print(f"{name:<34} {pil:>10.0f} {torchvision:>18.0f} {ratio:>6.2f}")


def write_digit_pngs(folder: Path, count: int) -> list[Path]:
    """Write `count` 8x8 grayscale PNGs like the prepared digits."""
    rng = np.random.default_rng(1)
    paths = []
    for index in range(count):
        path = folder / f"digit{index:04d}.png"
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    main()
