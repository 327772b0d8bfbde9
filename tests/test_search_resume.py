"""A search whose driver died continues from its Tune state: finished trials kept, the rest trained, one result.

The cluster outlives the driver, as a real one does: the search runs against the session's standing
Ray head, its driver is killed (SIGKILL, no clean-up) once a trial has finished, and
`arena search nas SPEC --resume RUN_ID` continues it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import BIN
from search_support import tiny_search_tree

SAMPLES = 3


def tiny_nas_tree(name: str) -> dict:
    """Three random architectures, one after another, each two short epochs (a few seconds a trial)."""
    return tiny_search_tree(
        name, 2, {"base": {"train": {"epochs": 2, "batch_size": 32, "optimizer": {"name": "adamw", "lr": 0.003},
                                     "max_steps_per_epoch": 6, "drop_rate": 0.0, "drop_path_rate": 0.0}}},
        objective={"kind": "flops", "target": 0.002},
        budget={"num_classes": 10, "max_params": 3_000_000},
        tune={"searcher": "random", "num_samples": SAMPLES, "scheduler": "fifo", "max_concurrent": 1, "seed": 3},
    )


def saved_trials(storage: Path, parent: str) -> dict[str, str]:
    """Tune trial id -> status, as the search's newest saved experiment state has them ({} before the first save)."""
    states = sorted((storage / f"search-{parent}").glob("experiment_state-*.json"))
    try:
        state = json.loads(states[-1].read_text()) if states else {}
    except (OSError, ValueError):  # caught mid-write
        return {}
    trials = [json.loads(trial_state) for trial_state, _ in state.get("trial_data", [])]
    return {trial["trial_id"]: trial["status"] for trial in trials}


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_killed_nas_search_continues_keeping_its_finished_trials(arena_env, ray_head, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    spec = tmp_path / "nas.yaml"
    spec.write_text(yaml.safe_dump(tiny_nas_tree("resumed-nas")))
    env = {**os.environ, "RAY_ADDRESS": ray_head, "PYTHONUNBUFFERED": "1"}
    driver = subprocess.Popen([str(BIN / "arena"), "search", "nas", str(spec)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(driver.stderr.readline, "")), daemon=True)
    reader.start()
    parent = None
    deadline = time.monotonic() + 400
    try:
        while time.monotonic() < deadline and driver.poll() is None:
            found = [re.search(r"MLflow run ([0-9a-f]{32})", line) for line in list(lines)]
            parent = parent or next((match.group(1) for match in found if match), None)
            if parent and "TERMINATED" in saved_trials(Path(arena_env.storage), parent).values():
                break
            time.sleep(0.5)
        assert parent is not None and driver.poll() is None, "".join(lines)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver dies without a word, as on a lost head
        driver.wait(timeout=30)
    saved = saved_trials(Path(arena_env.storage), parent)
    kept_by_tune = {trial for trial, status in saved.items() if status == "TERMINATED"}
    assert kept_by_tune and len(kept_by_tune) < SAMPLES, saved

    client = MlflowClient(arena_env.tracking_uri)
    assert client.get_run(parent).info.status == "RUNNING"  # nobody closed it
    experiment = client.get_run(parent).info.experiment_id
    done_before = {run.data.tags["arena.trial"]: run.info.run_id for run in client.search_runs(
        [experiment], f"tags.mlflow.parentRunId = '{parent}' and attributes.status = 'FINISHED'")}
    assert kept_by_tune <= set(done_before)

    resumed = subprocess.run([str(BIN / "arena"), "search", "nas", str(spec), "--resume", parent, "--format", "json"],
                             env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"continuing {SAMPLES} trials" in resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["parent_run_id"] == parent
    assert len(result["trials"]) == SAMPLES
    assert all(trial["status"] == "completed" for trial in result["trials"])
    # The trials that finished before the driver died were not trained again: their runs are the result's.
    # (A trial that ended in the seconds between Tune's last save and the driver's death runs again.)
    kept = {trial["run_id"] for trial in result["trials"]}
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")
    for trial in kept_by_tune:
        assert done_before[trial] in kept
        assert [run.info.run_id for run in children if run.data.tags.get("arena.trial") == trial] == [done_before[trial]]
    # A trial the dead driver left half-trained is closed, not left RUNNING.
    assert all(run.info.status in ("FINISHED", "KILLED") for run in children)
    assert client.get_run(parent).info.status == "FINISHED"
    assert result["best"]["model"] in {row["model"] for row in result["trials"]}

    # A finished search has nothing left to continue: one line, exit 2.
    again = subprocess.run([str(BIN / "arena"), "search", "nas", str(spec), "--resume", parent],
                           env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "already finished" in again.stderr and "Traceback" not in again.stderr


def test_resume_refuses_a_run_that_is_no_search_of_this_kind(arena_env, tmp_path: Path) -> None:
    spec = tmp_path / "nas.yaml"
    spec.write_text(yaml.safe_dump(tiny_nas_tree("refused-nas")))
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:1"}  # nothing may be reached before the checks
    bad = subprocess.run([str(BIN / "arena"), "search", "nas", str(spec), "--resume", "not-a-run"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "not an MLflow run id" in bad.stderr
    forced = subprocess.run([str(BIN / "arena"), "search", "nas", str(spec), "--force"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert forced.returncode == 2 and "--force goes with --resume" in forced.stderr
