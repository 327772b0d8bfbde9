"""Training across Ray nodes: one worker per node, a node lost mid-run, a search trial on both nodes (tests/multinode_scenarios.py).

Each scenario starts a simulated cluster of its own (a head without CPUs and two one-CPU worker nodes)
in a child process, runs `run_training` there and prints a JSON report; these tests assert on it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import stop_process_group, tempfile_short

SCENARIOS = Path(__file__).with_name("multinode_scenarios.py")
EVERY_EPOCH_METRIC = ("train_loss", "val_loss", "val_top1_error", "val_top5_error", "images_per_second", "lr")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


def digits_spec(name: str, epochs: int, max_failures: int = 0) -> dict[str, Any]:
    """Two one-CPU workers, resnet18 on digits at 16 px, two steps an epoch."""
    return {
        "name": name,
        "model": "resnet18",
        "data": {"dataset": "digits", "image_size": 16, "augment": {"random_resized_crop": False, "hflip": False}},
        "train": {"epochs": epochs, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05}, "max_steps_per_epoch": 2},
        "resources": {"workers": 2, "cpus_per_worker": 1, "max_failures": max_failures},
    }


def run_scenario(scenario: str, spec: dict[str, Any], tmp_path: Path, timeout: float) -> dict[str, Any]:
    """Run one scenario in a child process on its own cluster; return its JSON report."""
    spec_path = tmp_path / f"{scenario}.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    ray_tmp = Path(tempfile_short("arena-mn-"))
    env = {
        **os.environ,  # the ARENA_* settings of the arena_env fixture
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",  # let worker nodes join the head
        "RAY_TMPDIR": str(ray_tmp),  # Cluster() writes under $RAY_TMPDIR/ray; keep socket paths short
    }
    env.pop("RAY_ADDRESS", None)
    # A session of its own, so a timeout stops the child and every Ray process it started.
    child = subprocess.Popen([sys.executable, str(SCENARIOS), scenario, str(spec_path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process_group(child)
        stdout, stderr = child.communicate()
        pytest.fail(f"{scenario} ran past {timeout} s:\n{stderr[-3000:]}")
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert child.returncode == 0, f"{scenario} exited {child.returncode}:\n{stderr[-3000:]}"
    report = json.loads(stdout.strip().splitlines()[-1])
    print(f"{scenario}: {report['wall_seconds']} s")
    return report


def test_two_workers_run_one_on_each_node(arena_env, tmp_path) -> None:
    report = run_scenario("placement", digits_spec("one-per-node", epochs=2), tmp_path, timeout=900)
    assert report["result"]["epochs"] == 2 and report["status"] == "FINISHED"
    worker_nodes = report["worker_node_ids"]
    train_nodes = [worker["node_id"] for worker in report["train_workers"]]
    assert len(train_nodes) == 2, report["train_workers"]  # one worker group, never restarted
    assert sorted(train_nodes) == sorted(worker_nodes)  # one worker on each node, none on the head
    for key in EVERY_EPOCH_METRIC:
        assert report["steps"][key] == [1, 2], key


def test_a_lost_node_is_survived_from_the_last_checkpoint(arena_env, tmp_path) -> None:
    epochs = 4
    report = run_scenario("node-loss", digits_spec("node-lost", epochs=epochs, max_failures=3), tmp_path, timeout=1200)
    assert report["finished"], "the run did not end after the node came back"
    assert "error" not in report and "run_failed" not in report, report.get("error") or report.get("run_failed")
    removed_at = report["epochs_at_removal"]
    assert removed_at and removed_at[-1] < epochs, f"the node was removed after epochs {removed_at}"
    assert report["result"]["epochs"] == epochs and report["status"] == "FINISHED"
    for key in EVERY_EPOCH_METRIC:
        assert report["steps"][key] == list(range(1, epochs + 1)), key  # every epoch exactly once
    workers = report["train_workers"]
    assert len(workers) >= 4, workers  # the first group of two, then at least one more: a restart
    assert report["removed_node_id"] in {worker["node_id"] for worker in workers}


def test_a_two_worker_trial_spans_both_hosts_beside_its_own_actor(arena_env, tmp_path) -> None:
    spec = digits_spec("two-host-trial", epochs=1)
    del spec["resources"]["cpus_per_worker"]  # planned per node: just under a CPU each, leaving the trial's actor room
    report = run_scenario("search-trial", spec, tmp_path, timeout=900)
    outcome = report["outcome"]
    assert outcome["status"] == "completed" and outcome["epochs"] == 1, outcome
    assert sorted(worker["node_id"] for worker in report["train_workers"]) == sorted(report["worker_node_ids"])
    tags = report["tags"]
    assert tags["arena.dataset"] == "digits" and tags["arena.kind"] == "scaling-trial"
    assert tags["arena.worker_hosts"] == f"{report['host']},{report['host']}"  # every worker's host, by rank
    assert not report["stale_left"]  # a dead process's scratch folder, swept from the nodes after the trials


# A crash with max_failures 0 failing the run cleanly is covered on one node by
# test_training_ray.py::test_without_max_failures_a_crash_fails_the_run (CI time is better spent elsewhere).
