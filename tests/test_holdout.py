"""`data.holdout`: searches rank trials on a fixed slice held out of train and never read val/."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.data import build_datasets
from arena.data.imagenet_prepare import prepare_imagenet
from arena.errors import ArenaError, SpecError
from arena.models import get_model_info
from arena.search.nas.spec import parse_nas_spec
from arena.search.core.report import holdout_note
from arena.search.scaling.spec import parse_scaling_spec
from arena.spec import DataSpec
from imagenet_support import make_untarred

CONTRACT = get_model_info("resnet18").input


def _paths(dataset) -> list[str]:  # noqa: ANN001 - an ImageFolderDataset
    return [str(path) for path, _label in dataset.samples]


def test_digits_holdout_is_a_fixed_slice_of_train_and_val_is_never_read(tmp_path: Path) -> None:
    data = DataSpec(dataset="digits", image_size=8, holdout=360, augment={"random_resized_crop": False, "hflip": False})
    first = build_datasets(data, CONTRACT, 16, home=tmp_path)
    again = build_datasets(data, CONTRACT, 16, home=tmp_path)
    assert (len(first.train), len(first.val)) == (1437 - 360, 360)
    train, held = set(_paths(first.train)), set(_paths(first.val))
    assert not train & held and all("/train/" in path for path in held)  # val/ stays unseen
    assert _paths(again.val) == _paths(first.val)  # every trial and every search holds out the same images
    image, label = first.val[0]
    assert tuple(image.shape) == (3, 16, 16) and 0 <= label < 10


def test_imagenet_holdout_reads_the_index_and_synthetic_holdout_slices_train(tmp_path: Path) -> None:
    root = prepare_imagenet(make_untarred(tmp_path / "src"), tmp_path / "imagenet").root
    datasets = build_datasets(DataSpec(dataset="imagenet", root=root, holdout=3), CONTRACT, 16, home=tmp_path)
    assert (len(datasets.train), len(datasets.val)) == (6, 3)
    assert all("/train/" in path for path in _paths(datasets.val))
    synthetic = build_datasets(DataSpec(dataset="synthetic", train_size=20, val_size=7, num_classes=3, holdout=5),
                               CONTRACT, 16, home=tmp_path)
    assert (len(synthetic.train), len(synthetic.val)) == (15, 5)
    with pytest.raises(ArenaError, match="data.holdout: 9 is not below the 9 training images"):
        build_datasets(DataSpec(dataset="imagenet", root=root, holdout=9), CONTRACT, 16, home=tmp_path)


def _base(holdout: int) -> dict:
    return {"name": "s", "data": {"dataset": "digits", "image_size": 16, "holdout": holdout},
            "train": {"epochs": 1, "batch_size": 8}}


def test_searches_refuse_to_rank_on_val() -> None:
    scaling = {"name": "s", "base": {**_base(0), "model": "efficientnet_b0"},
               "grid": {"alpha": {"max": 1.2}, "beta": {"max": 1.1}, "gamma": {"max": 1.1}}}
    with pytest.raises(SpecError, match="base.data.holdout: a search ranks its trials on images held out of train"):
        parse_scaling_spec(scaling)
    assert parse_scaling_spec({**scaling, "base": {**_base(360), "model": "efficientnet_b0"}}).base.data.holdout == 360
    with pytest.raises(SpecError, match="base.data.holdout"):
        parse_nas_spec({"name": "n", "base": _base(0)})


def test_search_output_says_what_it_ranked_on() -> None:
    assert holdout_note(50_000, "abc123", None) == (
        "trials ranked on 50,000 images held out of train; val/ was not used to choose (the winner on val/: arena eval abc123)")
    assert holdout_note(360, "abc123", 12.5) == (
        "trials ranked on 360 images held out of train; val/ was not used to choose; "
        "the winner on val/: 12.50% top-1 error (run abc123)")


def test_a_run_says_whether_its_val_metrics_come_from_the_holdout() -> None:
    from arena.spec import parse_spec
    from arena.training.launcher import run_tags

    def tags(holdout: int) -> dict[str, str]:
        spec = parse_spec({"name": "x", "model": "resnet18", "data": {"dataset": "synthetic", "holdout": holdout},
                           "train": {"epochs": 1, "batch_size": 2}})
        return run_tags(spec, "scaling-trial" if holdout else "train")

    assert tags(0)["arena.measured_on"] == "val" and tags(8)["arena.measured_on"] == "holdout"
