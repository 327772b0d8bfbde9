"""The one training path end to end on Ray Train V2: MLflow contract, worker failure, driver kill, bad input."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from arena.spec import parse_spec
from arena.settings import load_settings

BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def digits_spec(name: str, **overrides: object) -> dict:
    tree = {
        "name": name,
        "model": "resnet18",
        "data": {"dataset": "digits", "image_size": 16, "augment": {"random_resized_crop": False, "hflip": False}},
        "train": {"epochs": 3, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05}, "max_steps_per_epoch": 3},
        "resources": {"workers": 2, "cpus_per_worker": 1},
    }
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        if field:
            tree[section][field] = value
        else:
            tree[section] = {**tree[section], **value}
    return tree


def mlflow_client(settings):
    from mlflow.tracking import MlflowClient

    return MlflowClient(settings.tracking_uri)


def epochs_logged(settings, run_id: str, key: str = "val_top1_error") -> list[int]:
    return sorted(metric.step for metric in mlflow_client(settings).get_metric_history(run_id, key))


def test_two_workers_on_digits_follow_the_mlflow_contract(arena_env, ray_head, monkeypatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    from arena.training.launcher import run_training

    settings = load_settings()
    spec = parse_spec(digits_spec("two-workers"))
    result = run_training(spec, settings, show_progress=False)
    assert result.epochs == 3 and 0.0 <= result.val_top1_error <= 100.0
    run = mlflow_client(settings).get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "two-workers"
    assert run.data.tags["arena.model"] == "resnet18" and run.data.tags["arena.family"]
    assert run.data.tags["arena.dataset"] == "digits" and run.data.tags["arena.kind"] == "train"
    assert run.data.params["train.optimizer.lr"] == "0.05" and run.data.params["resources.workers"] == "2"
    assert int(run.data.params["model.params"]) > 1_000_000 and float(run.data.params["model.gflops"]) > 1.0
    for key in ("train_loss", "val_loss", "val_top1_error", "val_top5_error", "images_per_second", "lr"):
        assert epochs_logged(settings, result.run_id, key) == [1, 2, 3], key
    assert run.data.metrics["val_top1_error"] == pytest.approx(result.val_top1_error)
    # When the first step ran (the benchmarks' start-up figure): inside the run, before its end.
    first_step = float(run.data.tags["arena.first_step_at"])
    assert run.info.start_time / 1000 <= first_step <= run.info.end_time / 1000
    artifacts = {item.path for item in mlflow_client(settings).list_artifacts(result.run_id)}
    assert {"spec.yaml", "checkpoint"} <= artifacts
    checkpoint_files = {item.path for item in mlflow_client(settings).list_artifacts(result.run_id, "checkpoint")}
    assert "checkpoint/checkpoint.pt" in checkpoint_files


def test_raylet_warnings_stay_off_stdout(arena_env, ray_head, monkeypatch, capsys) -> None:
    """`--format json` owns stdout: Ray's error listener would print its raylet's warnings there."""
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    from ray._private import worker as ray_worker

    from arena.training import ray_driver

    warning = {"lines": ["WARNING: 8 PYTHON worker processes have been started"], "pid": "raylet", "is_err": False}
    for verbose in (False, True):
        started = ray_driver.connect(load_settings(), verbose=verbose)
        try:
            ray_worker.print_to_stdstream(dict(warning), ignore_prefix=False)  # what the listener thread calls
            shown = capsys.readouterr()
            assert shown.out == ""
            assert ("8 PYTHON worker processes" in shown.err) == verbose
        finally:
            if started:
                ray_driver.disconnect()


def test_a_worker_that_dies_is_replaced_and_no_epoch_is_logged_twice(arena_env, ray_head, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    marker = tmp_path / "killed-once"
    monkeypatch.setenv("ARENA_FAIL_ONCE", f"{marker}:1:2")  # rank 1 dies right after epoch 2
    from arena.training.launcher import run_training

    settings = load_settings()
    spec = parse_spec(digits_spec("survives-a-crash", resources={"workers": 2, "cpus_per_worker": 1, "max_failures": 2}))
    result = run_training(spec, settings, show_progress=False)
    assert marker.exists(), "the fault was never injected"
    assert result.epochs == 3
    assert epochs_logged(settings, result.run_id) == [1, 2, 3]
    assert mlflow_client(settings).get_run(result.run_id).info.status == "FINISHED"


def test_a_crash_before_the_report_leaves_mlflow_the_numbers_training_continued_from(
    arena_env, ray_head, monkeypatch, tmp_path
) -> None:
    """Rank 0 dies after training epoch 2, before reporting its checkpoint: the retry trains epoch 2 again."""
    import tempfile

    import torch

    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    marker = tmp_path / "killed-before-report"
    monkeypatch.setenv("ARENA_FAIL_ONCE", f"{marker}:0:2:before-report")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the driver's copy of the final checkpoint goes
    from arena.training.launcher import run_training

    settings = load_settings()
    spec = parse_spec(digits_spec("crash-before-report", resources={"workers": 2, "cpus_per_worker": 1, "max_failures": 1}))
    result = run_training(spec, settings, show_progress=False)
    assert marker.exists(), "the fault was never injected"
    client = mlflow_client(settings)
    final = torch.load(Path(client.download_artifacts(result.run_id, "checkpoint/checkpoint.pt", str(tmp_path))),
                       weights_only=True)
    assert [row["epoch"] for row in final["history"]] == [1, 2, 3]
    for key in ("images_per_second", "train_loss", "val_top1_error"):  # images/s differs between any two attempts
        history = client.get_metric_history(result.run_id, key)
        assert sorted(metric.step for metric in history) == [1, 2, 3], key
        assert {metric.step: metric.value for metric in history} == pytest.approx(
            {row["epoch"]: row[key] for row in final["history"]}), key
    assert not list(tmp_path.glob("arena-final-*")), "the final checkpoint's local copy was left behind"


def test_without_max_failures_a_crash_fails_the_run(arena_env, ray_head, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    monkeypatch.setenv("ARENA_FAIL_ONCE", f"{tmp_path / 'killed'}:0:1")
    from arena.errors import RunFailed
    from arena.training.launcher import run_training

    settings = load_settings()
    spec = parse_spec(digits_spec("no-retries", train={"epochs": 2, "batch_size": 32, "max_steps_per_epoch": 2}))
    with pytest.raises(RunFailed, match="no-retries"):
        run_training(spec, settings, show_progress=False)
    runs = mlflow_client(settings).search_runs([mlflow_client(settings).get_experiment_by_name("arena").experiment_id])
    assert [run.info.status for run in runs] == ["FAILED"]


def test_resume_after_the_driver_is_killed_continues_the_same_run(arena_env, ray_head, tmp_path) -> None:
    settings = load_settings()
    spec_path = tmp_path / "resume.yaml"
    # Enough epochs that the driver is killed mid-way: MLflow hears of an epoch a few seconds after it ends.
    spec_path.write_text(yaml.safe_dump(digits_spec("resumable", train={"epochs": 12, "batch_size": 32, "max_steps_per_epoch": 3})))
    env = {**os.environ, "RAY_ADDRESS": ray_head}
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen([str(BIN / "arena"), "train", str(spec_path)], env=env, start_new_session=True,
                              stdout=log, stderr=subprocess.STDOUT)
    run_id = None
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and driver.poll() is None:
            time.sleep(1)
            runs = _runs(settings)
            if runs and epochs_logged(settings, runs[0].info.run_id):
                run_id = runs[0].info.run_id
                break
        assert run_id is not None, f"the first epoch never reached MLflow: {(tmp_path / 'driver.log').read_text()[-3000:]}"
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and everything it started, at once
        driver.wait()
    assert mlflow_client(settings).get_run(run_id).info.status == "RUNNING"
    done_before = epochs_logged(settings, run_id)
    assert done_before and done_before[-1] < 12
    resumed = subprocess.run([str(BIN / "arena"), "train", str(spec_path), "--resume", run_id, "--format", "json"],
                             env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    import json

    assert json.loads(resumed.stdout)["run_id"] == run_id
    # Training continued after the last checkpointed epoch, not from epoch 0 (which MLflow would hide).
    resumed_from = re.search(r"resumable continues from its checkpoint of epoch (\d+)/12", resumed.stderr)
    trained = [int(epoch) for epoch in re.findall(r"resumable epoch (\d+)/12  train_loss", resumed.stderr)]
    assert resumed_from is not None, resumed.stderr[-2000:]
    assert int(resumed_from.group(1)) >= done_before[-1] >= 1
    assert trained == list(range(int(resumed_from.group(1)) + 1, 13))
    assert epochs_logged(settings, run_id) == list(range(1, 13))
    assert mlflow_client(settings).get_run(run_id).info.status == "FINISHED"
    assert len(_runs(settings)) == 1  # the same MLflow run, no new one


def _runs(settings):
    client = mlflow_client(settings)
    experiment = client.get_experiment_by_name("arena") if Path(settings.tracking_uri.removeprefix("sqlite:///")).exists() else None
    return client.search_runs([experiment.experiment_id]) if experiment else []


def test_a_lineup_of_one_cpu_jobs_trains_side_by_side(arena_env, ray_head, monkeypatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    from arena.training.launcher import run_lineup

    settings = load_settings()
    one_cpu = {"workers": 1, "cpus_per_worker": 1}
    specs = [parse_spec(digits_spec(name, resources=one_cpu, train={"epochs": 2})) for name in ("lane-a", "lane-b")]
    results = run_lineup(specs, settings)
    runs = [mlflow_client(settings).get_run(result.run_id) for result in results]
    assert [run.info.run_name for run in runs] == ["lane-a", "lane-b"]  # results in the order given
    assert all(run.info.status == "FINISHED" and result.epochs == 2 for run, result in zip(runs, results))
    first, second = sorted(runs, key=lambda run: run.info.start_time)
    assert second.info.start_time < first.info.end_time, "the two 1-CPU jobs ran one after another"


def test_lineup_lanes_share_the_cpus_only_among_jobs_that_name_theirs(monkeypatch) -> None:
    from arena.training import ray_driver

    monkeypatch.setattr(ray_driver.ray, "cluster_resources", lambda: {"CPU": 8.0})
    one = parse_spec(digits_spec("one", resources={"workers": 1, "cpus_per_worker": 1}))
    two = parse_spec(digits_spec("two", resources={"workers": 2, "cpus_per_worker": 1}))
    whole = parse_spec(digits_spec("whole", resources={"workers": 1, "cpus_per_worker": None}))
    assert ray_driver.lineup_lanes([one, one, one]) == 3
    assert ray_driver.lineup_lanes([one, two] * 4) == 4
    assert ray_driver.lineup_lanes([one, whole]) == 1
