"""How a run in local mode keeps its checkpoints: Train's layout under ARENA_STORAGE, the last two, the newest resumed."""

from __future__ import annotations

from pathlib import Path

from arena.training.placement import runs_in_local_mode
from arena.training.reporting import Reporter, checkpoint_name, copy_latest_checkpoint


def write_epoch(epoch: int):
    def write(folder: Path) -> None:
        (folder / "checkpoint.pt").write_text(f"epoch {epoch}")
    return write


def test_local_mode_keeps_the_last_two_checkpoints_in_trains_layout(tmp_path: Path) -> None:
    reporter = Reporter(to="local", storage=str(tmp_path / "storage"), run_id="run1")
    with reporter.resume_folder() as folder:
        assert folder is None  # a fresh run
    for epoch in (1, 2, 3):
        reporter.report({"val_top1_error": 50.0 - epoch}, epoch, write_epoch(epoch))
    kept = sorted(path.name for path in (tmp_path / "storage" / "run1").iterdir())
    assert kept == [checkpoint_name(2), checkpoint_name(3)] == ["epoch_0002", "epoch_0003"]
    with reporter.resume_folder() as folder:
        assert (folder / "checkpoint.pt").read_text() == "epoch 3"
    copy = copy_latest_checkpoint(str(tmp_path / "storage"), "run1")
    assert copy is not None and (copy / "checkpoint.pt").read_text() == "epoch 3"
    assert copy_latest_checkpoint(str(tmp_path / "storage"), "another-run") is None


def test_local_mode_only_where_no_worker_group_is_needed() -> None:
    assert runs_in_local_mode(1, 0, 0, in_trial=False)
    assert runs_in_local_mode(1, 1, 0, in_trial=False)
    assert not runs_in_local_mode(2, 0, 0, in_trial=False)  # DDP needs a worker group
    assert not runs_in_local_mode(1, 2, 0, in_trial=False)
    assert not runs_in_local_mode(1, 0, 3, in_trial=False)  # worker retries need Train's controller
    assert runs_in_local_mode(1, 0, 3, in_trial=True)  # in a search, Tune restarts the trial instead
    assert not runs_in_local_mode(1, 0, 0, in_trial=True, allowed=False)  # resources.local_mode: false
