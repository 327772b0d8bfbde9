"""ImageNet's awkward files through arena's decoding path: CMYK, greyscale, a PNG named .JPEG, truncated, empty."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from arena.data.decoding import decode_rgb
from arena.data.imagenet_prepare import prepare_imagenet
from arena.spec import parse_spec
from arena.tracking.run_log import EPOCH_METRICS
from arena.training.session import build_session
from imagenet_support import CLASSES, make_untarred

COLOUR = (200, 40, 90)
SIZE = 24


def _image(mode: str = "RGB") -> Image.Image:
    return Image.new("RGB", (SIZE, SIZE), COLOUR).convert(mode)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


AWKWARD = {  # file name -> bytes, as ImageNet's train set holds them (22 CMYK JPEGs, 1 PNG, greyscale ones)
    "cmyk.JPEG": _jpeg(_image("CMYK")),
    "greyscale.JPEG": _jpeg(_image("L")),
    "png-named.JPEG": _png(_image("RGB")),
    "truncated.JPEG": _jpeg(_image("RGB"))[:300],
    "empty.JPEG": b"",
}


def _pixels(decoded: object) -> np.ndarray:
    """HxWx3 uint8 pixels of a decoded image, whichever decoder produced it."""
    if isinstance(decoded, torch.Tensor):
        return decoded.permute(1, 2, 0).numpy()
    return np.asarray(decoded)


@pytest.fixture
def awkward(tmp_path: Path) -> Path:
    folder = tmp_path / "awkward"
    folder.mkdir()
    for name, body in AWKWARD.items():
        (folder / name).write_bytes(body)
    return folder


def test_cmyk_jpeg_decodes_to_its_rgb_colours(awkward: Path) -> None:
    pixels = _pixels(decode_rgb(awkward / "cmyk.JPEG"))
    assert pixels.shape == (SIZE, SIZE, 3)
    assert np.abs(pixels.reshape(-1, 3).mean(0) - COLOUR).max() < 8  # not inverted, not a channel dropped


def test_greyscale_jpeg_becomes_three_equal_channels(awkward: Path) -> None:
    pixels = _pixels(decode_rgb(awkward / "greyscale.JPEG"))
    assert pixels.shape == (SIZE, SIZE, 3)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()


def test_png_named_jpeg_is_read_by_its_content(awkward: Path) -> None:
    pixels = _pixels(decode_rgb(awkward / "png-named.JPEG"))
    assert (pixels == COLOUR).all()  # PNG is lossless: exact colours


@pytest.mark.parametrize("name", ["truncated.JPEG", "empty.JPEG"])
def test_truncated_and_empty_files_fail_to_decode(awkward: Path, name: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any decoder error marks the file unreadable
        decode_rgb(awkward / name)


def test_awkward_files_train_and_the_unreadable_count_lands_in_the_epoch_metrics(tmp_path: Path) -> None:
    source = make_untarred(tmp_path / "src")
    for name, body in AWKWARD.items():
        (source / "train" / CLASSES[0] / f"{CLASSES[0]}_{name}").write_bytes(body)
    root = prepare_imagenet(source, tmp_path / "imagenet").root
    spec = parse_spec({
        "name": "awkward", "model": "resnet18",
        "data": {"dataset": "imagenet", "root": str(root), "image_size": 32, "max_bad_fraction": 0.2},
        "train": {"epochs": 1, "batch_size": 7, "optimizer": {"name": "sgd", "lr": 0.01}},
    })
    session = build_session(spec, home=tmp_path)
    sizes = []
    for images, _labels in session.train_loader:
        sizes.append(images.shape[0])
    assert sum(sizes) == 9 + len(AWKWARD)  # unreadable images replaced, so every batch keeps its size
    assert session.datasets.end_epoch() == 2  # the truncated and the empty file
    row = session.run_epoch()
    assert row["images_skipped"] == 2 and "images_skipped" in EPOCH_METRICS  # logged to MLflow each epoch
