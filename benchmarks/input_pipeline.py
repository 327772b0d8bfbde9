"""The input pipeline on one core: PIL against torchvision.io, and against what the model consumes.

Writes ImageNet-sized JPEGs (and digit-sized PNGs) as an ImageNet-layout folder (train/<class>/),
reads them through arena's ImageFolderDataset with each decoder, alone and followed by the
training transform (random-resized crop, flip, normalise), on one thread as a DataLoader worker
does. Beside it, the model's own training rate on one thread at the same size (forward, backward,
SGD step): decoded images/s / consumed images/s says how many cores of decoding one core of
training needs. Medians of `--repeats` passes.

    python benchmarks/input_pipeline.py [--images 64] [--repeats 3] [--image-size 224] [--model resnet50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from arena import models
from arena.data.imagefolder import ImageFolderDataset
from arena.data.transforms import build_train_transform
from arena.spec import AugmentSpec


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


def images_per_second(count: int, step: Callable[[int], object], repeats: int) -> float:
    """The median over `repeats` passes of `step(0..count-1)`, in images per second."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for index in range(count):
            step(index)
        seconds.append(time.perf_counter() - start)
    return count / statistics.median(seconds)


def training_images_per_second(model_name: str, image_size: int, batch: int, repeats: int) -> float:
    """The model's training rate on this thread: forward, backward and an SGD step, median of `repeats`."""
    model = models.build(model_name, num_classes=1000)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images, labels = torch.randn(batch, 3, image_size, image_size), torch.randint(0, 1000, (batch,))
    seconds = []
    for _ in range(repeats + 1):  # the first step warms up
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    return batch / statistics.median(seconds[1:])


def main() -> None:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--model", default="resnet50", help="the consumer the decoders are set against")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a DataLoader worker decodes on one thread
    transform = build_train_transform(models.get_model_info(args.model).input, AugmentSpec(), args.image_size)
    consumed = training_images_per_second(args.model, args.image_size, batch=8, repeats=args.repeats)
    print(f"## Input pipeline (one core; {args.images} images per case, median of {args.repeats})\n")
    print(f"{args.model} trains at **{consumed:.1f} images/s** on one thread at {args.image_size} px (batch 8).\n")
    print("| case | PIL img/s | torchvision img/s | torchvision / PIL | faster decoder / model's consumption |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        cases = {
            "JPEG 500x375": write_images(_class_folder(Path(folder), "jpeg"), args.images, (500, 375), ".jpg"),
            "PNG 8x8 grey (digits)": write_digit_pngs(_class_folder(Path(folder), "png"), args.images),
        }
        for case, paths in cases.items():
            split = paths[0].parent.parent
            for label, with_transform in (("decode", False), ("decode + train transform", True)):
                rates = {}
                for name in ("pil", "torchvision"):
                    dataset = ImageFolderDataset(split, [paths[0].parent.name], transform if with_transform else _unchanged,
                                                 max_bad_fraction=0.0, decoder=name)
                    rates[name] = images_per_second(len(dataset), dataset.__getitem__, args.repeats)
                ratio = rates["torchvision"] / rates["pil"]
                best = max(rates.values())
                print(f"| {case}, {label} | {rates['pil']:.0f} | {rates['torchvision']:.0f} | {ratio:.2f} | {best / consumed:.0f}x |")
    print(f"\nReproduce: `.venv/bin/python benchmarks/input_pipeline.py --images {args.images} --repeats {args.repeats} "
          f"--image-size {args.image_size} --model {args.model}`")


def _unchanged(image: object) -> object:
    return image


def _class_folder(root: Path, case: str) -> Path:
    """root/<case>/train/<class>: an ImageNet-layout split with one class folder."""
    folder = root / case / "train" / "n01440764"
    folder.mkdir(parents=True)
    return folder


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
