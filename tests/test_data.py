"""Tests for arena.data: digits, image folders with bad files, synthetic data, transforms."""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from arena.data import (
    ImageFolderDataset,
    SyntheticImages,
    build_batch_mixer,
    build_datasets,
    build_eval_transform,
    build_train_transform,
    check_data,
    class_names_of,
    default_digits_root,
    load_image_tensor,
    prepare_digits,
)
from arena.data.digits import COMPLETE_MARKER
from arena.errors import ArenaError
from arena.settings import load_settings
from arena.spec import AugmentSpec, DataSpec

DIGITS = 1797


@dataclass(frozen=True)
class Contract:
    """A small input contract, shaped like the models package's."""

    resolution: int = 32
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = (0.5, 0.4, 0.3)
    std: tuple[float, float, float] = (0.25, 0.2, 0.1)
    interpolation: str = "bilinear"
    min_input: int = 16


def png_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.png"))


def write_colour(
    path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (12, 10)
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


@pytest.fixture(scope="module")
def digits_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An arena home whose digits folder build_datasets prepared on its own."""
    home = tmp_path_factory.mktemp("home")
    build_datasets(DataSpec(dataset="digits"), Contract(), 16, home=home)
    return home


# digits


def test_build_datasets_prepares_digits_in_the_default_root(digits_home: Path) -> None:
    root = default_digits_root(load_settings({"ARENA_HOME": str(digits_home)}))
    assert root == digits_home / "data" / "digits"
    assert (root / COMPLETE_MARKER).is_file()
    assert len(png_files(root)) == DIGITS
    assert sorted(p.name for p in (root / "train").iterdir()) == [str(d) for d in range(10)]


def test_digits_split_is_stratified_80_20(digits_home: Path) -> None:
    root = digits_home / "data" / "digits"
    train_total = len(png_files(root / "train"))
    assert train_total == DIGITS - math.ceil(DIGITS * 0.2)
    for digit in range(10):
        train = len(png_files(root / "train" / str(digit)))
        val = len(png_files(root / "val" / str(digit)))
        assert abs(val - 0.2 * (train + val)) <= 1, (digit, train, val)
    train_names = {p.name for p in png_files(root / "train")}
    assert not train_names & {p.name for p in png_files(root / "val")}


def test_digits_are_8bit_grayscale_scaled_to_255(digits_home: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    for path in png_files(digits_home / "data" / "digits" / "val" / "3")[:5]:
        index = int(path.stem)  # files are named by their index in load_digits()
        assert digits.target[index] == 3
        image = Image.open(path)
        assert image.mode == "L" and image.size == (8, 8)
        expected = np.rint(digits.images[index] * 255 / 16)  # 16 in load_digits is full white
        assert np.array_equal(np.asarray(image), expected)


def test_prepare_digits_twice_rewrites_nothing(digits_home: Path) -> None:
    root = digits_home / "data" / "digits"
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.rglob("*")}
    assert prepare_digits(root) == root
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.rglob("*")}
    assert after == before


def test_half_written_digits_folder_is_redone(tmp_path: Path) -> None:
    out = tmp_path / "digits"
    write_colour(out / "train" / "0" / "stray.png", (1, 2, 3))
    assert prepare_digits(out) == out.resolve()
    assert (out / COMPLETE_MARKER).is_file()
    assert not (out / "train" / "0" / "stray.png").exists()
    assert len(png_files(out)) == DIGITS
    assert [p.name for p in tmp_path.iterdir()] == ["digits"]  # no staging folder left behind


def test_prepare_digits_never_deletes_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ArenaError, match="not a digits folder"):
        prepare_digits(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    spec = DataSpec(dataset="digits", root=tmp_path)
    assert check_data(spec, home=tmp_path) == [
        f"data.root: {tmp_path} exists and is not a digits folder (digits would be written there)"
    ]


# image folders with unreadable files

COLOURS = {
    "cat": [(200, 0, 0), (180, 0, 0), (160, 0, 0), (140, 0, 0)],
    "dog": [(0, 200, 0), (0, 180, 0), (0, 160, 0), (0, 140, 0)],
}


@pytest.fixture
def folder_with_bad_files(tmp_path: Path) -> Path:
    """train/ holds 8 good PNGs (a distinct colour each) and 2 corrupt JPEGs; val/ 2 good PNGs."""
    for name, colours in COLOURS.items():
        for index, colour in enumerate(colours):
            write_colour(tmp_path / "train" / name / f"{index}.png", colour)
        write_colour(tmp_path / "val" / name / "0.png", colours[0])
    (tmp_path / "train" / "cat" / "1b.jpg").write_bytes(b"\xff\xd8 this is not a jpeg" * 5)
    good = (tmp_path / "train" / "dog" / "0.png").read_bytes()
    (tmp_path / "train" / "dog" / "0b.jpg").write_bytes(good[: len(good) // 2])  # truncated
    return tmp_path


def colour_of(image: torch.Tensor) -> tuple[int, int, int]:
    return tuple(int(v) for v in image[:, 0, 0])


def as_uint8_tensor(image: Image.Image | torch.Tensor) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        return image
    return torch.as_tensor(np.asarray(image)).permute(2, 0, 1)


def raw_dataset(root: Path, max_bad_fraction: float) -> ImageFolderDataset:
    return ImageFolderDataset(
        root / "train", ["cat", "dog"], as_uint8_tensor, max_bad_fraction=max_bad_fraction
    )


def test_bad_images_are_skipped_and_counted(folder_with_bad_files: Path) -> None:
    dataset = raw_dataset(folder_with_bad_files, max_bad_fraction=0.25)
    assert len(dataset) == 10
    samples = [dataset[index] for index in range(len(dataset))]
    seen = {(colour_of(image), label) for image, label in samples}
    expected = {(colour, label) for label, name in enumerate(COLOURS) for colour in COLOURS[name]}
    assert seen == expected  # every good sample, and nothing but good samples
    report = dataset.end_epoch()
    assert (report.read, report.skipped) == (10, 2)
    assert {p.name for p in report.first_files} == {"1b.jpg", "0b.jpg"}
    assert dataset.end_epoch().skipped == 0  # counts restart each epoch


def test_too_many_bad_images_fail_the_job(folder_with_bad_files: Path) -> None:
    dataset = raw_dataset(folder_with_bad_files, max_bad_fraction=0.1)
    for index in range(len(dataset)):
        dataset[index]
    with pytest.raises(ArenaError) as raised:
        dataset.end_epoch()
    message = str(raised.value)
    assert "2 of 10 images" in message and str(folder_with_bad_files / "train") in message
    assert "data.max_bad_fraction = 0.1" in message and "1b.jpg" in message


@pytest.mark.parametrize(
    "start_method", ["fork", pytest.param("spawn", marks=pytest.mark.slow)]
)
def test_bad_image_counts_reach_the_training_process_from_workers(
    folder_with_bad_files: Path, start_method: str
) -> None:
    datasets = build_datasets(
        DataSpec(dataset="imagefolder", root=folder_with_bad_files, max_bad_fraction=0.5),
        Contract(),
        16,
        home=folder_with_bad_files,
    )
    loader = DataLoader(
        datasets.train,
        batch_size=4,
        num_workers=1,
        multiprocessing_context=start_method,
        collate_fn=datasets.collate_fn,
    )
    batches = list(loader)
    assert [len(labels) for _, labels in batches] == [4, 4, 2]  # substitutes keep batches full
    list(DataLoader(datasets.val, batch_size=4))
    assert datasets.end_epoch() == 2
    assert pickle.loads(pickle.dumps(datasets.train)).counts.take()[0] == 0


def test_val_class_missing_from_train_is_an_error(folder_with_bad_files: Path) -> None:
    write_colour(folder_with_bad_files / "val" / "zebra" / "0.png", (9, 9, 9))
    spec = DataSpec(dataset="imagefolder", root=folder_with_bad_files)
    with pytest.raises(ArenaError, match="zebra"):
        build_datasets(spec, Contract(), 16, home=folder_with_bad_files)
    assert any("train/ lacks: zebra" in p for p in check_data(spec, home=folder_with_bad_files))


def test_class_names_follow_sorted_train_folders(
    folder_with_bad_files: Path, tmp_path: Path
) -> None:
    spec = DataSpec(dataset="imagefolder", root=folder_with_bad_files)
    assert class_names_of(spec, home=tmp_path) == ["cat", "dog"]
    digits = [str(digit) for digit in range(10)]
    assert class_names_of(DataSpec(dataset="digits"), home=tmp_path / "new") == digits
    synthetic = DataSpec(dataset="synthetic", num_classes=3)
    assert class_names_of(synthetic, home=tmp_path) == ["class_0", "class_1", "class_2"]


# check_data


def test_check_data_reports_missing_root(tmp_path: Path) -> None:
    spec = DataSpec(dataset="imagefolder", root=tmp_path / "nope")
    assert check_data(spec, home=tmp_path) == [f"data.root: {tmp_path / 'nope'} does not exist"]
    with pytest.raises(ArenaError, match="does not exist"):
        class_names_of(spec, home=tmp_path)


def test_check_data_reports_missing_train_folder(tmp_path: Path) -> None:
    (tmp_path / "val").mkdir()
    spec = DataSpec(dataset="imagefolder", root=tmp_path)
    assert check_data(spec, home=tmp_path) == [f"data.root: {tmp_path} has no train/ folder"]


def test_check_data_reports_empty_folders(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    spec = DataSpec(dataset="imagefolder", root=tmp_path)
    assert check_data(spec, home=tmp_path) == [
        f"data.root: {tmp_path} has no class folders in train/",
        f"data.root: {tmp_path} has no class folders in val/",
    ]
    (tmp_path / "train" / "cat").mkdir()
    write_colour(tmp_path / "val" / "cat" / "0.png", (1, 1, 1))
    assert check_data(spec, home=tmp_path) == [
        f"data.root: 1 class folder(s) in {tmp_path}/train hold no images: cat"
    ]
    with pytest.raises(ArenaError, match="hold no images"):
        build_datasets(spec, Contract(), 16, home=tmp_path)


def test_check_data_accepts_good_folders_and_synthetic(
    folder_with_bad_files: Path, tmp_path: Path
) -> None:
    good = DataSpec(dataset="imagefolder", root=folder_with_bad_files)
    assert check_data(good, home=tmp_path) == []
    assert check_data(DataSpec(dataset="synthetic"), home=tmp_path) == []
    assert check_data(DataSpec(dataset="digits"), home=tmp_path) == []  # prepared when built


# synthetic


def test_synthetic_is_deterministic_per_index() -> None:
    first = SyntheticImages(64, num_classes=7, image_size=24, seed=3)
    shipped = SyntheticImages(64, num_classes=7, image_size=24, seed=3)
    in_a_worker = pickle.loads(pickle.dumps(shipped))
    for index in (63, 0, 17):  # a different order in each, as in different workers
        image, label = first[index]
        again, again_label = in_a_worker[index]
        assert torch.equal(image, again) and label == again_label
    assert not torch.equal(first[0][0], SyntheticImages(64, 7, 24, seed=4)[0][0])
    assert not torch.equal(first[0][0], SyntheticImages(64, 7, 24, seed=3, stream=1)[0][0])


def test_synthetic_shapes_classes_and_sizes() -> None:
    spec = DataSpec(dataset="synthetic", num_classes=5, train_size=200, val_size=30)
    datasets = build_datasets(spec, Contract(), 20, home=Path("unused"))
    assert (len(datasets.train), len(datasets.val), datasets.num_classes) == (200, 30, 5)
    images, labels = next(iter(DataLoader(datasets.train, batch_size=200)))
    assert images.shape == (200, 3, 20, 20) and images.dtype == torch.float32
    assert set(labels.tolist()) == set(range(5))
    assert abs(images.mean()) < 0.3 and 0.7 < images.std() < 1.3  # already normalised
    with pytest.raises(IndexError):
        datasets.train[200]


# transforms


def test_eval_transform_shape_and_normalisation() -> None:
    contract = Contract()
    image = Image.new("RGB", (50, 40), (255, 102, 0))
    output = build_eval_transform(contract, 32)(image)
    assert output.shape == (3, 32, 32) and type(output) is torch.Tensor
    expected = [(255 / 255 - 0.5) / 0.25, (102 / 255 - 0.4) / 0.2, (0 - 0.3) / 0.1]
    assert torch.allclose(output.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-5)


@pytest.mark.parametrize("auto_augment", ["none", "autoaugment", "randaugment", "trivialaugment"])
def test_train_transform_shapes(auto_augment: str) -> None:
    augment = AugmentSpec(auto_augment=auto_augment)
    image = Image.new("RGB", (50, 40), (10, 20, 30))
    assert build_train_transform(Contract(), augment, 24)(image).shape == (3, 24, 24)
    tensor = torch.full((3, 40, 50), 128, dtype=torch.uint8)
    assert build_train_transform(Contract(), augment, 24)(tensor).shape == (3, 24, 24)


def test_train_transform_without_random_crop_matches_eval() -> None:
    augment = AugmentSpec(random_resized_crop=False, hflip=False)
    image = Image.fromarray(np.arange(8 * 8, dtype=np.uint8).reshape(8, 8) * 4).convert("RGB")
    train = build_train_transform(Contract(interpolation="bicubic"), augment, 32)(image)
    assert torch.equal(train, build_eval_transform(Contract(interpolation="bicubic"), 32)(image))
    with pytest.raises(ValueError, match="interpolation"):
        build_eval_transform(Contract(interpolation="lanczos9"), 32)


def test_load_image_tensor(tmp_path: Path) -> None:
    write_colour(tmp_path / "a.png", (255, 255, 255), size=(60, 45))
    assert load_image_tensor(tmp_path / "a.png", Contract(), 32).shape == (3, 32, 32)
    (tmp_path / "b.jpg").write_bytes(b"garbage")
    with pytest.raises(ArenaError, match="cannot read image"):
        load_image_tensor(tmp_path / "b.jpg", Contract(), 32)
    with pytest.raises(ArenaError, match="not found"):
        load_image_tensor(tmp_path / "c.jpg", Contract(), 32)


def test_image_size_below_the_model_minimum_is_an_error() -> None:
    with pytest.raises(ArenaError, match="minimum input 16"):
        build_datasets(DataSpec(dataset="synthetic"), Contract(), 8, home=Path("unused"))


# batch mixing


def test_no_mixer_when_both_alphas_are_zero() -> None:
    assert build_batch_mixer(AugmentSpec(), num_classes=10) is None


@pytest.mark.parametrize(("mixup", "cutmix"), [(0.2, 0.0), (0.0, 1.0), (0.8, 1.0)])
def test_mixer_gives_soft_targets_summing_to_one(mixup: float, cutmix: float) -> None:
    torch.manual_seed(0)
    mixer = build_batch_mixer(AugmentSpec(mixup_alpha=mixup, cutmix_alpha=cutmix), num_classes=10)
    assert mixer is not None
    images, labels = torch.randn(8, 3, 16, 16), torch.arange(8)
    mixed, targets = mixer(images, labels)
    assert mixed.shape == images.shape and targets.shape == (8, 10)
    assert torch.allclose(targets.sum(dim=1), torch.ones(8))
    assert (targets.max(dim=1).values < 1).any()  # some targets really are mixed
    assert (targets[torch.arange(8), labels] > 0).all()  # each image keeps part of its own label
