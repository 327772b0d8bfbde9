"""`arena train --resume` refuses what it cannot honestly continue: unknown runs, live runs, runs without checkpoints."""

from __future__ import annotations

import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from _runs import digits_spec, record_checkpoint

from arena import cli
from arena.errors import ArenaError, SpecError
from arena.tracking import run_log
from arena.training.checks import check_resume
from arena.training.resume import DRIVER_TAG, checkpoint_epochs, driver_tag


@pytest.fixture
def run(arena_env) -> str:  # noqa: ANN001
    """A RUNNING digits run with no checkpoint kept yet."""
    run_id = record_checkpoint(arena_env, digits_spec(), None)
    run_log.set_status(arena_env.tracking_uri, run_id, "RUNNING")
    return run_id


def keep_checkpoint(settings, run_id: str, epoch: int) -> None:  # noqa: ANN001
    folder = Path(settings.storage) / run_id / f"epoch_{epoch:04d}"
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"")


def set_driver(settings, run_id: str, tag: str) -> None:  # noqa: ANN001
    run_log.set_tags(settings.tracking_uri, run_id, {DRIVER_TAG: tag})


def test_an_unknown_or_malformed_run_is_refused(arena_env) -> None:  # noqa: ANN001
    record_checkpoint(arena_env, digits_spec(), None)  # the store exists
    with pytest.raises(ArenaError, match="no MLflow run '0123456789abcdef0123456789abcdef'"):
        check_resume(digits_spec(), arena_env, "0123456789abcdef0123456789abcdef")
    with pytest.raises(ArenaError, match="not an MLflow run id"):
        check_resume(digits_spec(), arena_env, "../../etc")


def test_another_model_is_refused(arena_env, run: str) -> None:  # noqa: ANN001
    with pytest.raises(SpecError, match="differs from the model of run"):
        check_resume(digits_spec("alexnet"), arena_env, run)


def test_a_run_whose_driver_lives_is_refused(arena_env, run: str) -> None:  # noqa: ANN001
    keep_checkpoint(arena_env, run, 1)
    set_driver(arena_env, run, driver_tag())  # this very process
    with pytest.raises(ArenaError, match="still RUNNING.*it is still running here"):
        check_resume(digits_spec(), arena_env, run)


def test_a_run_driven_from_elsewhere_needs_force(arena_env, run: str) -> None:  # noqa: ANN001
    keep_checkpoint(arena_env, run, 1)
    set_driver(arena_env, run, "another-machine:4242:1000")
    with pytest.raises(ArenaError, match=r"still RUNNING in MLflow, driven by its driver another-machine:4242.*ps -p PID.*"
                                         r"arena jobs status ID.*--force"):
        check_resume(digits_spec(), arena_env, run)
    check_resume(digits_spec(), arena_env, run, force=True)


def test_a_run_whose_local_driver_is_gone_resumes(arena_env, run: str) -> None:  # noqa: ANN001
    keep_checkpoint(arena_env, run, 2)
    set_driver(arena_env, run, f"{socket.gethostname()}:999999999:1")
    check_resume(digits_spec(), arena_env, run)


def test_a_run_without_checkpoints_is_refused(arena_env, run: str) -> None:  # noqa: ANN001
    run_log.set_status(arena_env.tracking_uri, run, "FAILED")
    with pytest.raises(ArenaError, match="no checkpoint of this run is left in ARENA_STORAGE"):
        check_resume(digits_spec(), arena_env, run)
    (Path(arena_env.storage) / run / "epoch_0001").mkdir(parents=True)  # a folder without its checkpoint file
    with pytest.raises(ArenaError, match="no checkpoint of this run"):
        check_resume(digits_spec(), arena_env, run)
    keep_checkpoint(arena_env, run, 2)
    assert checkpoint_epochs(arena_env.storage, run) == [2]
    check_resume(digits_spec(), arena_env, run)


def test_the_cli_refuses_before_anything_starts(arena_env, run: str, monkeypatch, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # refused before Ray is looked for
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(digits_spec().model_dump(mode="json")))
    monkeypatch.setattr(sys, "argv", ["arena", "train", str(spec), "--resume", run])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith(f"error: --resume {run}: ") and "127.0.0.1:1" not in err
    assert run_log.get_run_summary(arena_env.tracking_uri, run)["status"] == "RUNNING"


def test_a_corrupt_latest_checkpoint_falls_back_to_the_one_before(arena_env, monkeypatch) -> None:  # noqa: ANN001
    import ray.train

    from arena.training import worker
    from arena.training.reporting import Reporter
    from arena.training.session import build_session

    session = build_session(digits_spec(), home=arena_env.home)
    run_folder = Path(arena_env.storage) / "run"
    replace(session.to_checkpoint(), epoch=1, history=[{"epoch": 1}]).save(run_folder / "epoch_0001")
    (run_folder / "epoch_0002").mkdir()
    (run_folder / "epoch_0002" / "checkpoint.pt").write_bytes(b"torn in half")
    monkeypatch.setattr(ray.train, "get_checkpoint", lambda: ray.train.Checkpoint(str(run_folder / "epoch_0002")))
    fresh = build_session(digits_spec(), home=arena_env.home)
    warnings = worker._resume(fresh, Reporter(to="train"))
    assert fresh.epoch == 1 and fresh.history == [{"epoch": 1}]
    assert len(warnings) == 1 and warnings[0].startswith("skipped checkpoint epoch_0002: cannot read checkpoint")
    (run_folder / "epoch_0001" / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(ArenaError, match="no readable checkpoint to continue from"):
        worker._resume(build_session(digits_spec(), home=arena_env.home), Reporter(to="train"))


def test_a_failed_upload_ends_the_run_failed_and_no_local_copy_stays(arena_env, run: str, monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    from arena.errors import RunFailed
    from arena.training import launcher

    final = tmp_path / "arena-final-x"
    final.mkdir()
    (final / "checkpoint.pt").write_bytes(b"weights")

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError("artifact store is read-only")

    monkeypatch.setattr(run_log, "log_artifacts", refuse)
    with pytest.raises(RunFailed, match="did not reach MLflow: artifact store is read-only"):
        launcher._finish_run(arena_env, run, "x", final)
    assert run_log.get_run_summary(arena_env.tracking_uri, run)["status"] == "FAILED"
    assert not final.exists()
    monkeypatch.undo()
    final.mkdir()
    (final / "checkpoint.pt").write_bytes(b"weights")
    launcher._finish_run(arena_env, run, "x", final)
    assert run_log.get_run_summary(arena_env.tracking_uri, run)["status"] == "FINISHED"
    assert not final.exists()
