"""`arena data prepare imagenet`: the three source forms, the index, subsets, and every refusal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from arena.data.imagenet_index import FILES_FILE, HEADER_FILE, canonical_wnids, read_files, read_header
from arena.data.imagenet_prepare import prepare_imagenet
from arena.errors import ArenaError
from imagenet_support import CLASSES, TRAIN_PER_CLASS, VAL_LABELS, make_archives, make_kaggle, make_untarred

ARENA = [sys.executable, "-m", "arena.cli"]


def arena(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ARENA, *args], capture_output=True, text=True, timeout=120)


def untouched(parent: Path, out: Path) -> bool:
    """Nothing was written: no DIR and no half-built sibling of it."""
    return not out.exists() and not [p for p in parent.iterdir() if p.name.startswith(f".{out.name}.")]


def test_canonical_wnids_are_the_sorted_1000_with_tench_first() -> None:
    wnids = canonical_wnids()
    assert len(wnids) == 1000 and list(wnids) == sorted(wnids) and wnids[0] == "n01440764"


def test_untarred_source_becomes_links_and_an_index(tmp_path: Path) -> None:
    source = make_untarred(tmp_path / "src")
    prepared = prepare_imagenet(source, tmp_path / "out")
    out = prepared.root
    for split in ("train", "val"):
        assert sorted(p.name for p in (out / split).iterdir()) == CLASSES
    linked = out / "val" / "n01443537" / "ILSVRC2012_val_00000001.JPEG"
    assert linked.is_symlink() and linked.resolve() == (source / "val" / linked.name).resolve()
    assert all(p.is_symlink() for p in (out / "train").rglob("*.JPEG"))  # never a copy of the bytes
    header = read_header(out)
    assert header.classes == tuple(CLASSES) and header.words == ("tench", "goldfish", "great white shark")
    assert header.counts == {"train": 3 * TRAIN_PER_CLASS, "val": len(VAL_LABELS)}
    assert header.dataset == f"imagenet-1k-sub3-{header.fingerprint[:8]}" and header.form == "untarred"
    samples = read_files(out, header)
    val_labels = {Path(path).name: label for path, label in samples["val"]}
    expected = {f"ILSVRC2012_val_{n:08d}.JPEG": CLASSES.index(w) for n, w in enumerate(VAL_LABELS, 1)}
    assert val_labels == expected
    assert all(Path(path).is_file() for path, _ in samples["train"])


def test_the_three_forms_of_one_dataset_get_one_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.datasets import imagenet

    untarred = prepare_imagenet(make_untarred(tmp_path / "b"), tmp_path / "out-b").header
    kaggle = prepare_imagenet(make_kaggle(tmp_path / "c"), tmp_path / "out-c").header
    monkeypatch.setattr(imagenet, "ARCHIVE_META", make_archives(tmp_path / "a", tmp_path / "scratch"))
    archives = prepare_imagenet(tmp_path / "a", tmp_path / "out-a")
    assert archives.header.form == "official-archives" and kaggle.form == "kaggle"
    assert untarred.fingerprint == kaggle.fingerprint == archives.header.fingerprint
    assert archives.header.counts == untarred.counts and archives.header.words == untarred.words
    assert not (tmp_path / "a" / "meta.bin").exists()  # the source is only read


def test_archive_failing_its_md5_is_refused_with_one_line(tmp_path: Path) -> None:
    make_archives(tmp_path / "a", tmp_path / "scratch")  # torchvision's real checksums: these do not match
    result = arena("data", "prepare", "imagenet", str(tmp_path / "a"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "fails its md5 check" in result.stderr and "ILSVRC2012_devkit_t12.tar.gz" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert untouched(tmp_path, tmp_path / "out")


def test_train_archive_md5_mismatch_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.datasets import imagenet

    meta = make_archives(tmp_path / "a", tmp_path / "scratch")
    meta["train"] = (meta["train"][0], "0" * 32)
    monkeypatch.setattr(imagenet, "ARCHIVE_META", meta)
    with pytest.raises(ArenaError, match="ILSVRC2012_img_train.tar fails its md5 check"):
        prepare_imagenet(tmp_path / "a", tmp_path / "out")
    assert untouched(tmp_path, tmp_path / "out")  # the val archive was unpacked, then removed


def test_cli_prints_the_folder_counts_and_subset_line(tmp_path: Path) -> None:
    result = arena("data", "prepare", "imagenet", str(make_kaggle(tmp_path / "src")), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()
    assert first.startswith(f"{tmp_path / 'out'}: 3 classes, 9 train and 6 val images")
    assert "imagenet-1k-sub3-" in first and second.startswith("a subset of ImageNet-1k: 3 of 1000 classes")
    assert json.loads((tmp_path / "out" / HEADER_FILE).read_text())["dataset"].startswith("imagenet-1k-sub3-")


def test_subset_of_classes_leaves_out_their_val_images(tmp_path: Path) -> None:
    source = make_untarred(tmp_path / "src")
    shutil.rmtree(source / "train" / "n01484850")
    prepared = prepare_imagenet(source, tmp_path / "out")
    assert prepared.header.classes == ("n01440764", "n01443537") and prepared.left_out == 2
    assert prepared.header.counts == {"train": 6, "val": 4} and prepared.header.dataset.startswith("imagenet-1k-sub2-")


def test_per_class_train_tars_are_unpacked(tmp_path: Path) -> None:
    source = make_untarred(tmp_path / "src")
    folder = source / "train" / "n01440764"
    with tarfile.open(source / "train" / "n01440764.tar", "w") as tar:
        for image in sorted(folder.iterdir()):
            tar.add(image, arcname=image.name)
    shutil.rmtree(folder)
    header = prepare_imagenet(source, tmp_path / "out").header
    assert header.counts["train"] == 9
    assert sorted(p.name for p in (tmp_path / "out" / "train" / "n01440764").iterdir()) == [
        f"n01440764_{n}.JPEG" for n in range(TRAIN_PER_CLASS)]


def _unlabelled_val(source: Path) -> None:
    (source / "val" / "ILSVRC2012_val_00000007.JPEG").write_bytes(b"x")


def _missing_val(source: Path) -> None:
    (source / "val" / "ILSVRC2012_val_00000003.JPEG").unlink()


def _unknown_wnid(source: Path) -> None:
    (source / "train" / "n99999999").mkdir()


def _stray_file(source: Path) -> None:
    (source / "val" / "notes.txt").write_text("hi")


@pytest.mark.parametrize(("break_source", "message"), [
    (_unlabelled_val, "1 val image(s) have no label in"),
    (_missing_val, "1 label(s) in"),
    (_unknown_wnid, "unknown wnid(s): n99999999"),
    (_stray_file, "not ILSVRC2012_val_*.JPEG: notes.txt"),
])
def test_inconsistent_source_is_one_line_exit_2_nothing_written(tmp_path: Path, break_source, message: str) -> None:  # noqa: ANN001
    source = make_untarred(tmp_path / "src")
    break_source(source)
    result = arena("data", "prepare", "imagenet", str(source), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert untouched(tmp_path, tmp_path / "out")


def test_kaggle_label_for_a_missing_image_and_unknown_label(tmp_path: Path) -> None:
    source = make_kaggle(tmp_path / "src")
    csv = source / "LOC_val_solution.csv"
    csv.write_text(csv.read_text() + "ILSVRC2012_val_00000099,n01440764 1 1 2 2\n")
    with pytest.raises(ArenaError, match="name val images that are missing: ILSVRC2012_val_00000099"):
        prepare_imagenet(source, tmp_path / "out")
    csv.write_text(csv.read_text().replace("ILSVRC2012_val_00000099,n01440764", "ILSVRC2012_val_00000001,n00000001"))
    with pytest.raises(ArenaError, match="unknown wnid"):
        prepare_imagenet(source, tmp_path / "out")
    assert untouched(tmp_path, tmp_path / "out")


def test_a_folder_of_none_of_the_forms_and_a_busy_out_are_refused(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    result = arena("data", "prepare", "imagenet", str(tmp_path / "photos"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "is none of ImageNet's forms" in result.stderr
    source = make_untarred(tmp_path / "src")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("mine")
    with pytest.raises(ArenaError, match="--out: .* exists and is not an empty folder"):
        prepare_imagenet(source, tmp_path / "busy")
    assert os.listdir(tmp_path / "busy") == ["file"]
    assert (tmp_path / "out").exists() is False and FILES_FILE not in os.listdir(tmp_path)
