"""Multi-node scenarios for tests/test_multinode.py, each on a simulated Ray cluster of its own.

The cluster is a head node without CPUs (it holds the driver and the Train controller) plus one-CPU
worker nodes, all started on this machine by `ray.cluster_utils.Cluster`. Extra nodes can only join
when RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1, which the pytest process sets to 0, so the tests run this
file as a child process:

    python tests/multinode_scenarios.py placement SPEC.yaml
    python tests/multinode_scenarios.py node-loss SPEC.yaml
    python tests/multinode_scenarios.py search-trial SPEC.yaml

The ARENA_* settings come from the environment; RAY_TMPDIR should be a short folder of the caller's.
The last line of stdout is one JSON object the test asserts on.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import ray
import yaml
from ray.cluster_utils import Cluster

from arena.errors import RunFailed
from arena.settings import Settings, load_settings
from arena.spec import JobSpec, parse_spec
from arena.training.launcher import run_training

WORKER_NODES = 2
NODE_BACK_AFTER_SECONDS = 5.0
"""How long the cluster runs one node short before a replacement node joins."""


def load_spec(path: Path) -> JobSpec:
    """The job spec in a YAML file."""
    return parse_spec(yaml.safe_load(path.read_text()), source=str(path))


def free_port() -> int:
    """A TCP port nobody listens on right now (the head's dashboard must not collide with another Ray's)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_cluster() -> tuple[Cluster, list[Any]]:
    """A head without CPUs and WORKER_NODES one-CPU nodes; the driver connected to the head."""
    # The head keeps its dashboard: the state API (which Train workers ran where) goes through it.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "dashboard_port": free_port()})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(WORKER_NODES)]
    cluster.wait_for_nodes()
    # run_training reuses this connection (ray.is_initialized()), as a job on a cluster does.
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    return cluster, nodes


def train_workers() -> list[dict[str, Any]]:
    """Every Ray Train worker actor this cluster has seen, alive or dead: its node and state."""
    from ray.util.state import list_actors

    actors = list_actors(filters=[("class_name", "=", "RayTrainWorker")], detail=True, limit=1000)
    return [{"node_id": actor.node_id, "state": actor.state} for actor in actors]


def mlflow_epochs(settings: Settings, key: str = "val_top1_error") -> tuple[str | None, list[int]]:
    """The run id of the experiment's only run and the epochs it has logged so far."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(settings.tracking_uri)
    experiment = client.get_experiment_by_name("arena")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    if not runs:
        return None, []
    run_id = runs[0].info.run_id
    return run_id, sorted(metric.step for metric in client.get_metric_history(run_id, key))


def run_summary(settings: Settings, run_id: str | None) -> dict[str, Any]:
    """The run's status and, for each per-epoch metric, every step logged (a step logged twice shows twice)."""
    from mlflow.tracking import MlflowClient

    if run_id is None:
        return {"status": None, "steps": {}}
    client = MlflowClient(settings.tracking_uri)
    keys = ("train_loss", "val_loss", "val_top1_error", "val_top5_error", "images_per_second", "lr")
    steps = {key: [metric.step for metric in client.get_metric_history(run_id, key)] for key in keys}
    return {"status": client.get_run(run_id).info.status, "steps": steps}


def placement(spec_path: Path) -> dict[str, Any]:
    """Train a 2-worker job; report the worker nodes' ids and the nodes each Train worker ran on."""
    settings = load_settings()
    cluster, nodes = start_cluster()
    try:
        result = run_training(load_spec(spec_path), settings, show_progress=False)
        return {
            "worker_node_ids": [node.node_id for node in nodes],
            "train_workers": train_workers(),
            "result": result.to_json(),
            **run_summary(settings, result.run_id),
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


class TrainingThread(threading.Thread):
    """run_training in a thread: Ray's node processes can only be started from the main thread."""

    def __init__(self, spec: JobSpec, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.spec, self.settings = spec, settings
        self.outcome: dict[str, Any] = {}

    def run(self) -> None:
        try:
            self.outcome["result"] = run_training(self.spec, self.settings, show_progress=False).to_json()
        except RunFailed as error:
            self.outcome["run_failed"] = str(error)
        except Exception as error:  # anything else is a bug the test should show
            self.outcome["error"] = f"{type(error).__name__}: {error}"


def node_loss(spec_path: Path, deadline_seconds: float = 900) -> dict[str, Any]:
    """Kill a worker node once epoch 1 is in MLflow, add a fresh node a few seconds later, report the run."""
    settings = load_settings()
    cluster, nodes = start_cluster()
    try:
        started = time.monotonic()
        deadline = started + deadline_seconds
        training = TrainingThread(load_spec(spec_path), settings)
        training.start()
        epochs_at_removal, removed_after = None, None
        while training.is_alive() and time.monotonic() < deadline:
            _, epochs = mlflow_epochs(settings)
            if epochs:
                epochs_at_removal = epochs
                cluster.remove_node(nodes[1], allow_graceful=False)
                removed_after = time.monotonic() - started
                time.sleep(NODE_BACK_AFTER_SECONDS)
                cluster.add_node(num_cpus=1)
                break
            time.sleep(0.2)
        training.join(timeout=max(0.0, deadline - time.monotonic()))
        run_id, _ = mlflow_epochs(settings)
        return {
            **training.outcome,
            "finished": not training.is_alive(),
            "epochs_at_removal": epochs_at_removal,
            "removed_after_seconds": removed_after,
            "removed_node_id": nodes[1].node_id,
            "train_workers": train_workers(),
            **run_summary(settings, run_id),
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


def search_trial(spec_path: Path) -> dict[str, Any]:
    """Run a 2-worker job as a search's one trial (workers on both nodes, its actor beside them); report it.

    A folder a dead process left in the temp dir must be gone after the trials (swept on every node).
    """
    import subprocess
    import tempfile
    from dataclasses import asdict, replace

    from mlflow.tracking import MlflowClient

    from arena.search.core.spec import TuneSpec
    from arena.search.core.trials import TrialRequest, run_trials
    from arena.tracking import run_log

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = Path(tempfile.gettempdir()) / f"arena-ckpt-{socket.gethostname().replace('-', '_')}-{gone.pid}-left"
    stale.mkdir()
    cluster, nodes = start_cluster()
    settings = replace(load_settings(), ray_address=cluster.address)  # a search on a cluster: the node checks run
    try:
        spec = load_spec(spec_path)
        parent = run_log.start_run(settings.tracking_uri, settings.artifact_root, experiment=spec.experiment,
                                   run_name="two-host-search", tags={"arena.kind": "scaling-search"}, params={})
        lines: list[str] = []
        (outcome,) = run_trials([TrialRequest("two-hosts", spec)], TuneSpec(scheduler="fifo"), settings,
                                kind="scaling-trial", parent_run_id=parent, progress=lines.append)
        tags = MlflowClient(settings.tracking_uri).get_run(outcome.run_id).data.tags if outcome.run_id else {}
        return {
            "outcome": asdict(outcome), "progress": lines, "tags": tags, "host": socket.gethostname(),
            "worker_node_ids": [node.node_id for node in nodes], "train_workers": train_workers(),
            "stale_left": stale.exists(),
        }
    finally:
        ray.shutdown()
        cluster.shutdown()


SCENARIOS = {"placement": placement, "node-loss": node_loss, "search-trial": search_trial}


def main(argv: list[str]) -> int:
    scenario, spec_path = argv[1], Path(argv[2])
    started = time.monotonic()
    report = SCENARIOS[scenario](spec_path)
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    sys.exit(main(sys.argv))
