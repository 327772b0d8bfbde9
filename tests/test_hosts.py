"""A cluster of separate machines, rehearsed on network namespaces (infra/local/hosts.sh).

Four hosts on a private switch, each with its own address, hostname, /tmp, home and process tree:
a laptop (this test drives it: it holds only the Ray token), a head without CPUs that runs Ray,
PostgreSQL and an MLflow server, and two one-CPU worker hosts that hold the dataset (the head does
not). Checkpoint storage is a folder every cluster host mounts at /mnt/shared (an NFS stand-in).
Every assertion goes through what a user has: `arena` on the laptop, the MLflow server, Ray's
Jobs API. Needs Linux and root; the namespaces, links and processes go when the module ends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import BIN, REPO

SCRIPT = REPO / "infra" / "local" / "hosts.sh"
HEAD = "http://arena-head:8265"
TRACKING = "http://arena-head:5000"
DATA = "/mnt/data/digits"
PASSWORD = "hunter2-never-shown"
QUERY = '''
import json, sys
from mlflow import MlflowClient
client = MlflowClient(sys.argv[1])
experiment = client.get_experiment_by_name("arena")
runs = client.search_runs([experiment.experiment_id], sys.argv[2]) if experiment else []
print(json.dumps([{
    "run_id": run.info.run_id, "status": run.info.status, "tags": run.data.tags,
    "steps": {key: [m.step for m in client.get_metric_history(run.info.run_id, key)] for key in ("val_top1_error", "train_loss")},
} for run in runs]))
'''
FETCH_CHECKPOINT = '''
import json, sys, tempfile
from pathlib import Path
import mlflow
from arena.training.checkpoint import Checkpoint
folder = mlflow.artifacts.download_artifacts(run_id=sys.argv[2], artifact_path="checkpoint", dst_path=tempfile.mkdtemp(), tracking_uri=sys.argv[1])
checkpoint = Checkpoint.load(Path(folder))
print(json.dumps({"epoch": checkpoint.epoch, "model": checkpoint.model_name}))
'''

pytestmark = [
    pytest.mark.hosts, pytest.mark.ray, pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nsenter"),
                       reason="separate hosts need Linux network namespaces and root"),
    pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")), reason="needs PostgreSQL (apt-get install postgresql)"),
]


class Rig:
    """The hosts of one rehearsal, and commands run on them."""

    def __init__(self, folder: Path, environment: dict[str, str]) -> None:
        self.folder, self.environment = folder, environment

    def script(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(SCRIPT), *args], env=self.environment, capture_output=True, text=True, timeout=timeout)

    def on(self, host: str, command: Sequence[str], env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run `command` on `host`, with only `env` added to that host's own login environment."""
        words = [f"{key}={value}" for key, value in (env or {}).items()]
        return self.script("exec", host, "env", *words, *command, timeout=timeout)

    def laptop(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        """`arena ARGS` on the laptop, which knows the cluster's token and nothing else."""
        return self.on("laptop", ["arena", *args], {"RAY_AUTH_TOKEN": self.token, **(env or {})}, timeout)

    @property
    def token(self) -> str:
        return (self.folder / "hosts" / "head" / "home" / "arena" / ".ray" / "auth_token").read_text().strip()

    def laptop_file(self, name: str, text: str) -> str:
        """Write a file into the laptop's home; return its path as the laptop sees it."""
        (self.folder / "hosts" / "laptop" / "home" / "arena" / name).write_text(text)
        return f"/home/arena/{name}"

    def runs(self, name: str | None = None, *, where: str | None = None) -> list[dict[str, Any]]:
        """The MLflow runs called `name` (or matching the filter `where`), read from the laptop through the tracking server."""
        script = self.laptop_file("query.py", QUERY)
        done = self.on("laptop", ["python", script, TRACKING, where or f"attributes.run_name = '{name}'"], timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    folder = Path(tempfile.mkdtemp(prefix="arena-hosts-", dir="/tmp"))
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("ARENA_", "RAY_"))},
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "ARENA_HOSTS_DIR": str(folder),
        "ARENA_HOSTS_SUBNET": f"10.213.{os.getpid() % 200 + 20}",
    }
    rig = Rig(folder, environment)
    try:
        started = rig.script("up", timeout=600)
        assert started.returncode == 0, started.stdout + started.stderr
        for worker in ("worker1", "worker2"):  # the dataset lives on the worker hosts only
            prepared = rig.on(worker, ["arena", "data", "prepare", "digits", "--out", DATA])
            assert prepared.returncode == 0, prepared.stderr
        yield rig
    finally:
        rig.script("down", timeout=300)
    assert not folder.exists()
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"arena-{_rig_id(folder)}" not in left, left


def _rig_id(folder: Path) -> str:
    import hashlib

    return hashlib.md5(str(folder).encode()).hexdigest()[:4]


def spec(rig: Rig, name: str, *, epochs: int = 2, steps: int = 2, root: str = DATA, failures: int = 0,
         model: str = "resnet18", image_size: int = 16) -> str:
    """A two-worker job (one per worker host) on the workers' digits; its path on the laptop."""
    tree = {
        "name": name, "model": model,
        "data": {"dataset": "imagefolder", "root": root, "image_size": image_size,
                 "augment": {"random_resized_crop": False, "hflip": False}},
        "train": {"epochs": epochs, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.05}, "max_steps_per_epoch": steps},
        "resources": {"workers": 2, "cpus_per_worker": 1, "max_failures": failures},
    }
    return rig.laptop_file(f"{name}.yaml", yaml.safe_dump(tree))


def job_ids(rig: Rig) -> list[str]:
    listed = rig.laptop("jobs", "list", "--address", HEAD, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    return [job["job_id"] for job in json.loads(listed.stdout)]


def test_cluster_check_sees_every_host_from_the_laptop(rig: Rig) -> None:
    checked = rig.laptop("cluster", "check", spec(rig, "checked"), "--address", HEAD, "--format", "json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] and report["problems"] == [] and report["hosts"] == 3
    hosts = {node["host"]: node for node in report["nodes"]}
    assert set(hosts) == {"arena-head", "arena-worker1", "arena-worker2"}
    assert hosts["arena-head"]["is_head"] and hosts["arena-head"]["cpus"] == 0
    assert all(node["tracking_error"] is None for node in report["nodes"])
    assert all(len(node["markers_seen"]) == 3 for node in report["nodes"])  # storage really is shared
    assert report["settings"]["ARENA_TRACKING_URI"] == TRACKING  # the cluster's own, not the laptop's
    assert report["travelled"] == []


def test_storage_that_is_not_shared_and_missing_data_are_refused_together(rig: Rig) -> None:
    before = job_ids(rig)
    bad = spec(rig, "bad-place", root="/mnt/data/not-there")
    checked = rig.laptop("submit", bad, "--address", HEAD, env={"ARENA_STORAGE": "/tmp/runs"})
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "ARENA_STORAGE=/tmp/runs is not shared between the cluster's hosts" in checked.stderr
    assert "data.root: /mnt/data/not-there does not exist (on arena-worker1)" in checked.stderr
    assert "Traceback" not in checked.stderr
    assert job_ids(rig) == before  # nothing was submitted


def test_a_file_tracking_uri_is_refused_before_training(rig: Rig) -> None:
    before = job_ids(rig)
    refused = rig.laptop("submit", spec(rig, "file-tracking"), "--address", HEAD,
                         env={"ARENA_TRACKING_URI": "sqlite:////home/arena/mlflow.db"})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "ARENA_TRACKING_URI=sqlite:////home/arena/mlflow.db is a file" in refused.stderr
    assert "MLflow tracking server" in refused.stderr
    assert job_ids(rig) == before


def test_a_job_with_only_the_token_trains_on_both_worker_hosts(rig: Rig) -> None:
    secrets = {"ARENA_DB_URL": f"postgresql+psycopg://arena:{PASSWORD}@db.example/arena", "ARENA_HOME": "/home/arena/laptop"}
    done = rig.laptop("submit", spec(rig, "two-hosts"), "--address", HEAD, "--wait", env=secrets)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "settings sent with the job: none" in done.stderr
    assert "kept on this machine: ARENA_DB_URL, ARENA_HOME" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    job_id = done.stdout.strip().splitlines()[-1]
    status = rig.laptop("jobs", "status", job_id, "--address", HEAD, "--format", "json")
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "SUCCEEDED", status.stderr
    assert PASSWORD not in status.stdout
    (run,) = rig.runs("two-hosts")
    assert run["status"] == "FINISHED"
    assert sorted(run["tags"]["arena.worker_hosts"].split(",")) == ["arena-worker1", "arena-worker2"]
    assert run["steps"]["val_top1_error"] == [1, 2] and run["steps"]["train_loss"] == [1, 2]
    fetched = rig.on("laptop", ["python", rig.laptop_file("fetch.py", FETCH_CHECKPOINT), TRACKING, run["run_id"]])
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    assert json.loads(fetched.stdout.strip().splitlines()[-1])["epoch"] == 2
    synced = rig.laptop("leaderboard", "sync", env={"ARENA_TRACKING_URI": TRACKING})
    assert synced.returncode == 0, synced.stderr
    shown = rig.laptop("leaderboard", "show", "--view", "runs", "--format", "json", env={"ARENA_TRACKING_URI": TRACKING})
    assert shown.returncode == 0, shown.stderr
    assert run["run_id"] in {row["run_id"] for row in json.loads(shown.stdout)}


def test_a_failing_job_exits_non_zero_with_its_reason(rig: Rig) -> None:
    failed = rig.laptop("submit", spec(rig, "no-data", root="/mnt/data/missing"), "--address", HEAD, "--wait", "--no-check")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert "FAILED" in last and "data.root: /mnt/data/missing does not exist (on arena-worker" in last, last
    assert rig.runs("no-data") == []  # refused before its MLflow run was opened


def test_jobs_logs_and_stop_reach_across_hosts(rig: Rig) -> None:
    sent = rig.laptop("submit", spec(rig, "to-stop", epochs=50, steps=20), "--address", HEAD, "--no-check")
    assert sent.returncode == 0, sent.stderr
    job_id = sent.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 300
    while "epoch 1/50" not in (logs := rig.laptop("jobs", "logs", job_id, "--address", HEAD).stdout):
        assert time.monotonic() < deadline, logs[-2000:]
        time.sleep(3)
    assert f"Running entrypoint for job {job_id}" in logs
    stopped = rig.laptop("jobs", "stop", job_id, "--address", HEAD)
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 120
    while (status := json.loads(rig.laptop("jobs", "status", job_id, "--address", HEAD, "--format", "json").stdout))["status"] != "STOPPED":
        assert time.monotonic() < deadline, status
        time.sleep(2)


def test_a_pulled_plug_is_survived_on_a_replacement_host(rig: Rig) -> None:
    epochs = 6
    sent = rig.laptop("submit", spec(rig, "pulled-plug", epochs=epochs, steps=25, failures=3), "--address", HEAD, "--no-check")
    assert sent.returncode == 0, sent.stderr
    job_id = sent.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 400
    while not (runs := rig.runs("pulled-plug")) or len(runs[0]["steps"]["val_top1_error"]) < 2:
        assert time.monotonic() < deadline, "the job never reached its second epoch"
        time.sleep(2)
    at_the_cut = len(runs[0]["steps"]["val_top1_error"])
    assert rig.script("kill", "worker2").returncode == 0  # every process of the host, at once
    assert rig.script("add", "worker3", "shared").returncode == 0  # a replacement machine, data first
    prepared = rig.on("worker3", ["arena", "data", "prepare", "digits", "--out", DATA])
    assert prepared.returncode == 0, prepared.stderr
    joined = rig.script("join", "worker3")
    assert joined.returncode == 0, joined.stderr
    deadline = time.monotonic() + 900
    while (status := json.loads(rig.laptop("jobs", "status", job_id, "--address", HEAD, "--format", "json").stdout))["status"] not in ("SUCCEEDED", "FAILED", "STOPPED"):
        assert time.monotonic() < deadline, status
        time.sleep(5)
    logs = rig.laptop("jobs", "logs", job_id, "--address", HEAD).stdout
    assert status["status"] == "SUCCEEDED", logs[-3000:]
    (run,) = rig.runs("pulled-plug")
    assert at_the_cut < epochs, "the plug was pulled after training had ended"
    assert run["status"] == "FINISHED"
    assert run["steps"]["val_top1_error"] == list(range(1, epochs + 1))  # every epoch exactly once
    assert run["steps"]["train_loss"] == list(range(1, epochs + 1))
    assert "arena-worker3" in run["tags"]["arena.worker_hosts"].split(",")


# --- the whole mission from the laptop: searches, grown models, evaluation, the leaderboard -------------------


def search_spec(rig: Rig, name: str, sections: dict[str, Any], *, workers: int, epochs: int = 1, steps: int = 2) -> str:
    """A tiny search around a job on the workers' digits (held-out ranking); its path on the laptop."""
    tree = {
        "name": name,
        "base": {
            "name": name,
            "data": {"dataset": "imagefolder", "root": DATA, "image_size": 16, "holdout": 200,
                     "augment": {"random_resized_crop": False, "hflip": False}},
            "train": {"epochs": epochs, "batch_size": 32, "optimizer": {"name": "adamw", "lr": 0.003},
                      "max_steps_per_epoch": steps, "drop_rate": 0.0, "drop_path_rate": 0.0},
            "resources": {"workers": workers, **({"cpus_per_worker": 1} if workers == 1 else {})},
        },
        **sections,
    }
    if "base_model" in sections:
        tree["base"]["model"] = tree.pop("base_model")
    return rig.laptop_file(f"{name}.yaml", yaml.safe_dump(tree))


def parent_of(logs: str) -> str:
    """The search's parent run id, from its driver's progress line."""
    import re

    match = re.search(r"in MLflow run ([0-9a-f]{32})", logs)
    assert match, logs[-3000:]
    return match.group(1)


def saved_trials(rig: Rig, parent: str) -> dict[str, str]:
    """Tune trial id -> status in the search's newest saved state, read from the cluster's shared storage."""
    states = sorted((rig.folder / "shared" / "ray_results" / f"search-{parent}").glob("experiment_state-*.json"))
    try:
        state = json.loads(states[-1].read_text()) if states else {}
    except (OSError, ValueError):  # caught mid-write
        return {}
    return {trial["trial_id"]: trial["status"] for trial in (json.loads(item) for item, _ in state.get("trial_data", []))}


def wait_for_status(rig: Rig, job_id: str, wanted: Sequence[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (status := json.loads(rig.laptop("jobs", "status", job_id, "--address", HEAD, "--format", "json").stdout)["status"]) not in wanted:
        assert time.monotonic() < deadline, status
        time.sleep(3)
    return status


def digits_name(rig: Rig) -> str:
    """The digits folder's dataset name, computed where the data is (a worker host)."""
    code = "from pathlib import Path; from arena.data.layout import folder_identity; print(folder_identity(Path('%s')))" % DATA
    named = rig.on("worker1", ["python", "-c", code])
    assert named.returncode == 0, named.stderr
    return named.stdout.strip().splitlines()[-1]


def test_a_nas_search_from_the_laptop_spans_both_workers_and_continues_after_its_driver_is_stopped(rig: Rig) -> None:
    samples = 2
    nas = search_spec(rig, "hosts-nas", {
        "objective": {"kind": "flops", "target": 0.002}, "budget": {"num_classes": 10, "max_params": 3_000_000},
        "tune": {"searcher": "random", "num_samples": samples, "scheduler": "fifo", "max_concurrent": 1, "seed": 5},
    }, workers=2, epochs=2, steps=4)
    sent = rig.laptop("submit", nas, "--address", HEAD)
    assert sent.returncode == 0, sent.stderr[-3000:]
    job_id = sent.stdout.strip().splitlines()[-1]
    listed = json.loads(rig.laptop("jobs", "list", "--address", HEAD, "--format", "json").stdout)
    assert {"job_id": job_id, "kind": "nas", "spec": "hosts-nas"}.items() <= next(j for j in listed if j["job_id"] == job_id).items()
    deadline, parent = time.monotonic() + 600, None
    while not parent:
        assert time.monotonic() < deadline, rig.laptop("jobs", "logs", job_id, "--address", HEAD).stdout[-3000:]
        logs = rig.laptop("jobs", "logs", job_id, "--address", HEAD).stdout
        parent = parent_of(logs) if "in MLflow run" in logs else None
        time.sleep(2)
    while "TERMINATED" not in saved_trials(rig, parent).values():  # read straight from the shared storage
        assert time.monotonic() < deadline, rig.laptop("jobs", "logs", job_id, "--address", HEAD).stdout[-3000:]
        time.sleep(0.5)
    stopped = rig.laptop("jobs", "stop", job_id, "--address", HEAD)  # the driver dies: its trials with it
    assert stopped.returncode == 0, stopped.stderr
    assert wait_for_status(rig, job_id, ("STOPPED", "FAILED"), 120) == "STOPPED"
    finished = {trial for trial, status in saved_trials(rig, parent).items() if status == "TERMINATED"}
    assert 1 <= len(finished) < samples

    resumed = rig.laptop("submit", nas, "--address", HEAD, "--resume", parent, "--wait", timeout=1200)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert f"continuing {samples} trials" in resumed.stderr
    trials = rig.runs(where=f"tags.mlflow.parentRunId = '{parent}'")
    name = digits_name(rig)
    for trial in finished:  # kept, not trained again
        assert len([run for run in trials if run["tags"].get("arena.trial") == trial]) == 1
    # Every trial finished; one that ended in the seconds after Tune's last save trained again in a second run.
    done = [run for run in trials if run["status"] == "FINISHED"]
    assert len({run["tags"]["arena.trial"] for run in done}) == samples
    assert all(run["status"] in ("FINISHED", "KILLED") for run in trials)
    assert all(run["tags"].get("arena.dataset") == name for run in trials)  # the untrained ones too
    trained = [run for run in done if run["steps"]["val_top1_error"]]
    assert len({run["tags"]["arena.trial"] for run in trained}) == samples
    for run in trained:  # each trial's two workers ran on both worker hosts; the name is the data's
        assert "arena.worker_hosts" in run["tags"], json.dumps([(t["status"], t["steps"], t["tags"]) for t in trials])
        hosts = run["tags"]["arena.worker_hosts"].split(",")  # worker2 may have been replaced by worker3 (above)
        assert len(set(hosts)) == 2 and all(host.startswith("arena-worker") for host in hosts), run["tags"]
        assert run["tags"]["arena.dataset"] == name
        assert run["tags"]["arena.kind"] == "nas-trial"
    (search,) = rig.runs("hosts-nas")
    assert search["status"] == "FINISHED" and search["tags"]["arena.dataset"] == name


def test_a_scaling_search_from_the_laptop_grows_models_the_laptop_trains_evaluates_and_ranks(rig: Rig) -> None:
    scaling = search_spec(rig, "hosts-scaling", {
        "base_model": "efficientnet_b0",
        "grid": {"alpha": {"min": 1.2, "max": 1.2, "step": 0.05}, "beta": {"min": 1.1, "max": 1.15, "step": 0.05},
                 "gamma": {"min": 1.0, "max": 1.15, "step": 0.05}, "target": 2.0, "tolerance": 0.2},
        "budget": {"num_classes": 10, "max_params": 9_000_000, "max_gflops": 1.0},
        "tune": {"searcher": "grid", "scheduler": "fifo"}, "max_phi": 1,
    }, workers=1)
    done = rig.laptop("submit", scaling, "--address", HEAD, "--wait", timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "MLflow: http://arena-head:5000/" in done.stderr  # the run link names the cluster's tracking server
    parent = parent_of(done.stderr)
    name = digits_name(rig)
    (search,) = rig.runs("hosts-scaling")
    trials = rig.runs(where=f"tags.mlflow.parentRunId = '{parent}'")
    assert search["status"] == "FINISHED" and trials
    assert all(run["tags"]["arena.dataset"] == name for run in [search, *trials])
    measured = [rig.runs(where=f"tags.mlflow.parentRunId = '{trial['run_id']}'") for trial in trials]
    (winner,) = [run for runs in measured for run in runs]  # the winner alone is measured on val, on the cluster
    assert winner["tags"]["arena.kind"] == "eval" and winner["tags"]["arena.dataset"] == name

    # The grown model is known to every host that reaches the tracking server: the laptop lists it and
    # trains it on the cluster, though neither the laptop nor the head ran the search's trials.
    tracking = {"ARENA_TRACKING_URI": TRACKING}
    listed = rig.laptop("models", "list", "--format", "json", env=tracking)
    assert listed.returncode == 0, listed.stderr
    grown = sorted(row["name"] for row in json.loads(listed.stdout) if row["name"].startswith("scaled:hosts-scaling"))
    assert grown, listed.stdout[-2000:]
    model = grown[-1]
    trained = rig.laptop("submit", spec(rig, "grown-on-cluster", model=model, image_size=32), "--address", HEAD, "--wait",
                         timeout=900)
    assert trained.returncode == 0, trained.stderr[-4000:]
    (run,) = rig.runs("grown-on-cluster")
    assert run["status"] == "FINISHED" and run["tags"]["arena.model"] == model and run["tags"]["arena.dataset"] == name

    # Evaluated from the laptop, where there is neither data nor model: the job runs where the data is.
    evaluated = rig.laptop("eval", run["run_id"], "--address", HEAD, "--format", "json", env=tracking, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    result = json.loads(evaluated.stdout)
    assert result["run_id"] == run["run_id"] and result["images"] > 0 and 0 <= result["val_top1_error"] <= 100
    unknown = rig.laptop("eval", "0" * 32, "--address", HEAD, env=tracking, timeout=600)
    assert unknown.returncode == 2 and "no MLflow run" in unknown.stderr and "Traceback" not in unknown.stderr

    # The leaderboard, synced from the laptop: trials are marked as measured on held-out images.
    synced = rig.laptop("leaderboard", "sync", env=tracking)
    assert synced.returncode == 0, synced.stderr
    shown = rig.laptop("leaderboard", "show", "--view", "runs", "--format", "json", env=tracking)
    assert shown.returncode == 0, shown.stderr
    rows = {row["run_id"]: row for row in json.loads(shown.stdout)}
    assert all(rows[trial["run_id"]]["measured_on"] == "holdout" for trial in trials if trial["run_id"] in rows)
    assert rows[run["run_id"]]["measured_on"] == "val"
