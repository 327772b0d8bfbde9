"""`data.dataset: imagenet` reads a prepared folder through its index; runs are named by what they hold."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from arena.data import build_datasets, class_names_of, check_data
from arena.data import imagefolder
from arena.data.imagenet_index import FULL_COUNTS, IndexHeader, canonical_wnids
from arena.data.imagenet_prepare import prepare_imagenet
from arena.data.layout import dataset_identity
from arena.errors import ArenaError, SpecError
from arena.models import get_model_info
from arena.spec import DataSpec, parse_spec
from arena.training.launcher import run_tags
from imagenet_support import CLASSES, make_untarred, write_train


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    return prepare_imagenet(make_untarred(tmp_path / "src"), tmp_path / "imagenet").root


def _spec(dataset: str, root: Path) -> DataSpec:
    return DataSpec(dataset=dataset, root=root, image_size=16)


def test_imagenet_needs_a_root_and_an_index(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="data.root is required for dataset 'imagenet'"):
        parse_spec({"name": "x", "model": "resnet18", "data": {"dataset": "imagenet"}, "train": {"epochs": 1, "batch_size": 2}})
    write_train(tmp_path / "plain" / "train")
    (problem,) = check_data(_spec("imagenet", tmp_path / "plain"), home=tmp_path)
    assert "has no arena-index.json" in problem and "arena data prepare imagenet" in problem


def test_datasets_come_from_the_index_without_walking_the_folder(prepared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_walk(*_args: object) -> None:
        raise AssertionError("the index should spare the walk")

    monkeypatch.setattr(imagefolder, "find_images", no_walk)
    contract = get_model_info("resnet18").input
    datasets = build_datasets(_spec("imagenet", prepared), contract, 16, home=prepared)
    assert datasets.class_names == CLASSES and datasets.num_classes == 3
    assert (len(datasets.train), len(datasets.val)) == (9, 6)
    image, label = datasets.val[0]
    assert tuple(image.shape) == (3, 16, 16) and label == 0  # val is listed class by class, tench first
    assert class_names_of(_spec("imagenet", prepared), home=prepared) == CLASSES


def test_labels_follow_canonical_order_not_the_folder_listing(tmp_path: Path) -> None:
    source = make_untarred(tmp_path / "src")
    shutil.rmtree(source / "train" / "n01440764")  # tench gone: goldfish becomes label 0
    root = prepare_imagenet(source, tmp_path / "out").root
    datasets = build_datasets(_spec("imagenet", root), get_model_info("resnet18").input, 16, home=root)
    assert datasets.class_names == ["n01443537", "n01484850"]
    assert {label for _path, label in datasets.train.samples} == {0, 1}


def test_only_the_full_ilsvrc_2012_set_is_imagenet_1k_and_subsets_never_share_a_name() -> None:
    full = IndexHeader(canonical_wnids(), ("w",) * 1000, dict(FULL_COUNTS), "f" * 16, "src", "kaggle")
    assert full.dataset == "imagenet-1k" and not full.is_subset
    short = IndexHeader(canonical_wnids(), ("w",) * 1000, {"train": 1_281_166, "val": 50_000}, "0123456789abcdef", "src", "kaggle")
    assert short.dataset == "imagenet-1k-sub1000-01234567" and short.is_subset
    ten = IndexHeader(canonical_wnids()[:10], ("w",) * 10, {"train": 13_000, "val": 500}, "aaaaaaaabbbb", "src", "kaggle")
    other_ten = IndexHeader(canonical_wnids()[10:20], ("w",) * 10, {"train": 13_000, "val": 500}, "ccccccccdddd", "src", "kaggle")
    assert (ten.dataset, other_ten.dataset) == ("imagenet-1k-sub10-aaaaaaaa", "imagenet-1k-sub10-cccccccc")


def test_run_tags_name_the_data_honestly(prepared: Path, tmp_path: Path) -> None:
    spec = parse_spec({"name": "x", "model": "resnet18", "data": {"dataset": "imagenet", "root": str(prepared)},
                       "train": {"epochs": 1, "batch_size": 2}})
    name = dataset_identity(spec.data)
    assert re.fullmatch(r"imagenet-1k-sub3-[0-9a-f]{8}", name)
    assert run_tags(spec, "train", dataset=name)["arena.dataset"] == name
    assert "arena.dataset" not in run_tags(spec, "train")  # unknown to the driver: the first worker names it
    # The same prepared folder read as a plain image folder keeps its identity.
    assert dataset_identity(_spec("imagefolder", prepared)) == name
    write_train(tmp_path / "a" / "train")
    write_train(tmp_path / "a" / "val", per_class=1)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    first, same = dataset_identity(_spec("imagefolder", tmp_path / "a")), dataset_identity(_spec("imagefolder", tmp_path / "b"))
    assert first.startswith("imagefolder-") and first == same
    (tmp_path / "b" / "val" / CLASSES[0] / "extra.JPEG").write_bytes(b"another image")
    assert dataset_identity(_spec("imagefolder", tmp_path / "b")) != first  # two folders never rank together
    assert dataset_identity(DataSpec(dataset="digits")) == "digits"


def test_a_folder_that_is_not_here_is_never_named(tmp_path: Path) -> None:
    with pytest.raises(ArenaError, match=r"data.root: .*/elsewhere does not exist on .*, so the data cannot be named here"):
        dataset_identity(_spec("imagefolder", tmp_path / "elsewhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArenaError, match="has neither train/ nor val/"):
        dataset_identity(_spec("imagefolder", tmp_path / "empty"))
