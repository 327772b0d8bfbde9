"""How a run in local mode keeps its checkpoints: Train's layout under ARENA_STORAGE, the last two, the newest resumed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import errno
import shutil

import pytest

from arena.training.checkpoint import Checkpoint
from arena.training.placement import runs_in_local_mode
from arena.training.reporting import Reporter, checkpoint_name, copy_latest_checkpoint


def write_epoch(epoch: int):
    """Save a small but real checkpoint of `epoch` (no model: what the readers check is the file)."""
    def write(folder: Path) -> None:
        Checkpoint(model={}, optimizer={}, scheduler={}, epoch=epoch, best_val_top1_error=50.0 - epoch, history=[],
                   spec_yaml="", model_name="resnet18", num_classes=2, class_names=["a", "b"]).save(folder)
    return write


def epoch_of(folder: Path) -> int:
    return Checkpoint.load(folder).epoch


def test_local_mode_keeps_the_last_two_checkpoints_in_trains_layout(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the final checkpoint's private copy goes
    reporter = Reporter(to="local", storage=str(tmp_path / "storage"), run_id="run1")
    assert reporter.latest_checkpoint() is None  # a fresh run
    for epoch in (1, 2, 3):
        reporter.report({"val_top1_error": 50.0 - epoch}, epoch, write_epoch(epoch))
    kept = sorted(path.name for path in (tmp_path / "storage" / "run1").iterdir())
    assert kept == [checkpoint_name(2), checkpoint_name(3)] == ["epoch_0002", "epoch_0003"]
    with reporter.latest_checkpoint().as_directory() as folder:
        assert epoch_of(Path(folder)) == 3
    copy = copy_latest_checkpoint(str(tmp_path / "storage"), "run1")
    assert copy is not None and epoch_of(copy) == 3
    assert copy_latest_checkpoint(str(tmp_path / "storage"), "another-run") is None


def test_the_final_checkpoint_copy_falls_back_to_the_newest_complete_one(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    storage = tmp_path / "storage"
    reporter = Reporter(to="local", storage=str(storage), run_id="run1")
    for epoch in (1, 2):
        reporter.report({}, epoch, write_epoch(epoch))
    (storage / "run1" / "epoch_0002" / "checkpoint.pt").write_bytes(b"torn in half")  # as a crash mid-copy once left it
    (storage / "run1" / "epoch_0003").mkdir()  # a folder whose file never arrived
    copy = copy_latest_checkpoint(str(storage), "run1")
    assert copy is not None and epoch_of(copy) == 1
    assert sorted(path.name for path in tmp_path.glob("arena-final-*")) == [copy.name]  # the skipped copies are gone
    (storage / "run1" / "epoch_0001" / "checkpoint.pt").unlink()
    assert copy_latest_checkpoint(str(storage), "run1") is None


def test_a_full_disk_mid_copy_keeps_the_previous_checkpoints_and_no_temp(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    storage = tmp_path / "storage"
    reporter = Reporter(to="local", storage=str(storage), run_id="run1")
    for epoch in (1, 2):
        reporter.report({}, epoch, write_epoch(epoch))

    def full_disk(source, target, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        Path(target).write_bytes(Path(source).read_bytes()[:100])  # part of the file lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    copyfile = shutil.copyfile
    monkeypatch.setattr(shutil, "copyfile", full_disk)
    with pytest.raises(OSError, match="No space left"):
        reporter.report({}, 3, write_epoch(3))
    monkeypatch.setattr(shutil, "copyfile", copyfile)
    kept = sorted(path.name for path in (storage / "run1").iterdir())
    assert kept == ["epoch_0001", "epoch_0002"]  # no torn epoch_0003, no temp folder beside them
    assert epoch_of(storage / "run1" / "epoch_0002") == 2
    copy = copy_latest_checkpoint(str(storage), "run1")
    assert copy is not None and epoch_of(copy) == 2
    assert list(tmp_path.glob("arena-ckpt-*")) == []


def test_local_mode_only_where_no_worker_group_is_needed() -> None:
    assert runs_in_local_mode(1, 0, 0, in_trial=False)
    assert runs_in_local_mode(1, 1, 0, in_trial=False)
    assert not runs_in_local_mode(2, 0, 0, in_trial=False)  # DDP needs a worker group
    assert not runs_in_local_mode(1, 2, 0, in_trial=False)
    assert not runs_in_local_mode(1, 0, 3, in_trial=False)  # worker retries need Train's controller
    assert runs_in_local_mode(1, 0, 3, in_trial=True)  # in a search, Tune restarts the trial instead
    assert not runs_in_local_mode(1, 0, 0, in_trial=True, allowed=False)  # resources.local_mode: false


def test_a_corrupt_latest_local_checkpoint_falls_back_to_the_one_before(tmp_path: Path, arena_env) -> None:
    from arena.spec import parse_spec
    from arena.training import worker
    from arena.training.session import build_session

    spec = parse_spec({"name": "c", "model": "resnet18", "data": {"dataset": "synthetic", "image_size": 16, "num_classes": 10},
                       "train": {"epochs": 3, "batch_size": 8}})
    session = build_session(spec, home=arena_env.home)
    reporter = Reporter(to="local", storage=str(tmp_path / "storage"), run_id="run1")
    reporter.report({}, 1, lambda folder: replace(session.to_checkpoint(), epoch=1, history=[{"epoch": 1}]).save(folder))
    reporter.report({}, 2, lambda folder: (folder / "checkpoint.pt").write_bytes(b"torn in half"))
    fresh = build_session(spec, home=arena_env.home)
    warnings = worker._resume(fresh, reporter)
    assert fresh.epoch == 1 and len(warnings) == 1 and warnings[0].startswith("skipped checkpoint epoch_0002")


def test_checkpoint_folders_left_by_a_gone_process_or_a_stopped_report_are_removed(tmp_path: Path, monkeypatch) -> None:
    import subprocess
    import sys
    import tempfile

    from arena.training import scratch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = scratch._host()
    dead = tmp_path / f"arena-ckpt-{host}-{int(gone.stdout)}-abc123"  # a trial process Tune killed mid-report
    elsewhere = tmp_path / f"arena-final-other_host-{int(gone.stdout)}-abc123"  # another host's, on a shared /tmp
    for folder in (dead, elsewhere):
        folder.mkdir()
        (folder / "checkpoint.pt").write_text("90 MB")
    stuck = scratch.open_checkpoint_folder()  # a report its trial was stopped in: it never returned
    assert not dead.exists() and elsewhere.exists() and stuck.is_dir()
    final = scratch.scratch_folder("final")
    assert stuck.is_dir() and final.is_dir()  # this process's own folders stay while it lives
    current = scratch.open_checkpoint_folder()
    assert not stuck.exists() and current.is_dir()
    scratch.close_checkpoint_folder(current)
    assert not current.exists() and final.is_dir() and elsewhere.exists()
    reporter = Reporter(to="local", storage=str(tmp_path / "storage"), run_id="run1")
    reporter.report({"val_top1_error": 1.0}, 1, write_epoch(1))
    assert sorted(path.name for path in tmp_path.glob("arena-ckpt-*")) == []  # a report leaves nothing behind
