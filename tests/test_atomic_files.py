"""Files written whole or not at all: saved models, checkpoints and the ImageNet index keep their previous
version, and leave no temp behind, when the disk fills up mid-write; new files take the umask's mode."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena import atomic_files
from arena.atomic_files import copy_folder_atomically, write_text_atomically
from arena.models.persisted import write_document


def _full_disk(real):  # noqa: ANN001, ANN202 - wraps a writer (path, data)
    def write(path: Path, data: bytes) -> None:
        real(path, data[: len(data) // 2])  # half of it lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
    return write


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_saved_model_keeps_its_previous_version_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "models" / "scaled" / "demo.json"
    write_document(path, {"name": "demo", "phi": 1})
    monkeypatch.setattr(atomic_files, "_write_all", _full_disk(atomic_files._write_all))
    with pytest.raises(OSError, match="No space left"):
        write_document(path, {"name": "demo", "phi": 2, "padding": "x" * 10_000})
    assert json.loads(path.read_text()) == {"name": "demo", "phi": 1}
    assert [entry.name for entry in path.parent.iterdir()] == ["demo.json"]  # no temp left beside it


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_new_files_take_the_umasks_mode(tmp_path: Path, umask: None, mask: int, mode: int) -> None:
    os.umask(mask)
    assert write_document(tmp_path / "a.json", {}).stat().st_mode & 0o777 == mode
    assert write_text_atomically(tmp_path / "b.txt", "b").stat().st_mode & 0o777 == mode


def test_a_checkpoint_keeps_its_previous_file_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from arena.training.checkpoint import Checkpoint

    def checkpoint(epoch: int) -> Checkpoint:
        return Checkpoint(model={"w": torch.zeros(1000)}, optimizer={}, scheduler={}, epoch=epoch, best_val_top1_error=1.0,
                          history=[], spec_yaml="", model_name="resnet18", num_classes=2, class_names=["a", "b"])

    checkpoint(1).save(tmp_path)
    real_save = torch.save

    def full_disk(state, path) -> None:  # noqa: ANN001
        real_save(state, path)
        Path(path).write_bytes(Path(path).read_bytes()[:500])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        checkpoint(2).save(tmp_path)
    assert Checkpoint.load(tmp_path).epoch == 1 and [entry.name for entry in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_the_imagenet_index_keeps_its_previous_files_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.data.imagenet_index import FILES_FILE, HEADER_FILE, IndexHeader, read_files, read_header, write_index

    def header(fingerprint: str) -> IndexHeader:
        return IndexHeader(classes=("n01", "n02"), words=("one", "two"), counts={"train": 2, "val": 2},
                           fingerprint=fingerprint, source="/src", form="kaggle")

    files = {"train": {"n01": ["a.jpg"], "n02": ["b.jpg"]}, "val": {"n01": ["c.jpg"], "n02": ["d.jpg"]}}
    write_index(tmp_path, header("first"), files)
    monkeypatch.setattr(atomic_files, "_write_all", _full_disk(atomic_files._write_all))
    with pytest.raises(OSError, match="No space left"):
        write_index(tmp_path, header("second"), {"train": {"n01": ["x.jpg"] * 1000}, "val": {}})
    assert read_header(tmp_path).fingerprint == "first" and len(read_files(tmp_path, header("first"))["train"]) == 2
    assert sorted(entry.name for entry in tmp_path.iterdir()) == sorted([FILES_FILE, HEADER_FILE])


def test_a_folder_copy_replaces_the_previous_one_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    first, second, target = tmp_path / "first", tmp_path / "second", tmp_path / "out" / "epoch_0001"
    for folder, text in ((first, "one"), (second, "two")):
        (folder / "sub").mkdir(parents=True)
        (folder / "checkpoint.pt").write_text(text * 1000)
        (folder / "sub" / "extra").write_text(text)
    (first / "only-in-first").write_text("x")
    copy_folder_atomically(first, target)
    copy_folder_atomically(second, target)
    assert sorted(path.name for path in target.rglob("*")) == ["checkpoint.pt", "extra", "sub"]
    assert (target / "checkpoint.pt").read_text() == "two" * 1000

    def full_disk(source, destination, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        Path(destination).write_bytes(Path(source).read_bytes()[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full_disk)
    with pytest.raises(OSError, match="No space left"):
        copy_folder_atomically(first, target)
    assert (target / "checkpoint.pt").read_text() == "two" * 1000 and not (target / "only-in-first").exists()
    assert [entry.name for entry in target.parent.iterdir()] == ["epoch_0001"]
