"""Look at a Ray cluster from the inside, node by node: the Ray tasks behind `checks.check_on_nodes`.

What a job needs is true or false per host, so each look runs as a small task pinned to each
alive node: the data is checked where it is read (a worker host, not the head that runs the
driver), checkpoint storage is shared only if a marker one host writes is read on every other,
and the tracking server must answer from every host. This module only gathers what each node
saw; `arena.training.checks` turns it into problems.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from arena.data.layout import check_and_name
from arena.services import store_problem
from arena.settings import Settings, TrackingAuth
from arena.spec import JobSpec, parse_spec
from arena.training.placement import NodeCapacity, node_capacities
from arena.training.storage import is_remote_uri, local_path

MARKER_FOLDER = ".arena-cluster-check"
"""Folder under ARENA_STORAGE where each host leaves (and then removes) its marker."""


@dataclass
class NodeReport:
    """What one node saw."""

    node_id: str
    host: str
    """The host name the node's task saw (several nodes may share one host)."""
    address: str
    """The node's IP address: nodes with one address share a disk."""
    cpus: float
    """The CPUs Ray gives the node (0 on a head kept free of work)."""
    gpus: float
    is_head: bool
    """The head runs the driver; it need not hold the data unless workers can run on it."""
    tracking_error: str | None = None
    """Why the tracking store did not answer from this node; None when it did (or is a file)."""
    tracking_refused: bool = False
    """The tracking server answered this node but asked for credentials or refused its own (HTTP 401/403)."""
    tracking_credentials: bool = False
    """This node signs in to the tracking server (MLflow's MLFLOW_TRACKING_* variables in the environment its Ray
    node was started with, or a password in the tracking URI); never the credentials themselves."""
    storage_error: str | None = None
    """Why ARENA_STORAGE could not be written here; None when the marker was written."""
    markers_seen: list[str] = field(default_factory=list)
    """The node ids whose markers this node could read: all of them when storage is shared."""
    data_problems: list[str] = field(default_factory=list)
    """What `check_data` found wrong with the spec's data here (only nodes that could hold a worker look)."""
    dataset: str | None = None
    """The `arena.dataset` name of the spec's data as this node reads it; None where it did not look or found problems."""


@dataclass
class ClusterReport:
    """The whole cluster as a job would meet it, and every problem found."""

    settings: dict[str, str]
    nodes: list[NodeReport]
    problems: list[str]

    @property
    def hosts(self) -> int:
        return len({node.address for node in self.nodes})

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "hosts": self.hosts,
            "nodes": [vars(node) for node in self.nodes],
            "problems": self.problems,
        }


def inspect_nodes(spec: JobSpec | None, settings: Settings) -> tuple[list[NodeCapacity], list[NodeReport]]:
    """Every alive node's capacity and what a task on it saw; `spec`'s data is looked for where its workers could run."""
    capacities = node_capacities(ray.nodes())
    head_id = _head_node_id()
    token = uuid.uuid4().hex[:12]
    spec_tree = spec.model_dump(mode="json") if spec is not None else None
    worker_ids = {node.node_id for node in worker_nodes(capacities, spec)}
    visits = [
        _on_node(node, _inspect_node, settings.storage, settings.tracking_uri, str(settings.home),
                 spec_tree if node.node_id in worker_ids else None, token)
        for node in capacities
    ]
    seen = dict(zip([node.node_id for node in capacities], ray.get(visits)))
    markers = ray.get([_on_node(node, _read_markers, settings.storage, token) for node in capacities])
    ray.get([_on_node(node, _remove_marker, settings.storage, token) for node in capacities])
    nodes = []
    for node, found in zip(capacities, markers):
        report = NodeReport(node.node_id, seen[node.node_id]["host"], node.address, node.cpus, node.gpus,
                            node.node_id == head_id, **{k: v for k, v in seen[node.node_id].items() if k != "host"})
        report.markers_seen = found
        nodes.append(report)
    return capacities, nodes


def worker_nodes(capacities: list[NodeCapacity], spec: JobSpec | None) -> list[NodeCapacity]:
    """The nodes a training worker of `spec` could be placed on (where its data must be)."""
    gpus = spec.resources.gpus_per_worker if spec is not None else 0
    return [node for node in capacities if node.cpus > 0 and node.gpus >= gpus]


def _head_node_id() -> str | None:
    for node in ray.nodes():
        if node.get("Alive") and "node:__internal_head__" in node.get("Resources", {}):
            return node["NodeID"]
    return None


def _on_node(node: NodeCapacity, function: Any, *args: Any) -> ray.ObjectRef:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(num_cpus=0, max_retries=0)(function)
    strategy = NodeAffinitySchedulingStrategy(node_id=node.node_id, soft=False)
    return remote.options(scheduling_strategy=strategy).remote(*args)


def _inspect_node(storage: str, tracking_uri: str, home: str, spec_tree: dict | None, token: str) -> dict[str, Any]:
    """On one node: who am I, does the tracking server answer, can I write storage, is the data here."""
    node_id = ray.get_runtime_context().get_node_id()
    found: dict[str, Any] = {"host": socket.gethostname(), **_tracking_seen(tracking_uri)}
    try:
        filesystem, folder = _storage(storage)
        filesystem.create_dir(f"{folder}/{MARKER_FOLDER}/{token}", recursive=True)
        with filesystem.open_output_stream(f"{folder}/{MARKER_FOLDER}/{token}/{node_id}") as stream:
            stream.write(socket.gethostname().encode())
    except Exception as error:  # a read-only path, a bucket without credentials, ...
        found["storage_error"] = str(error).splitlines()[0] if str(error) else type(error).__name__
    if spec_tree is not None:
        # Named here, where the workers read it: the driver's host (a head) may not hold the data.
        found["data_problems"], found["dataset"] = check_and_name(parse_spec(spec_tree).data, home=Path(home))
    return found


def _read_markers(storage: str, token: str) -> list[str]:
    from pyarrow import fs

    try:
        filesystem, folder = _storage(storage)
        entries = filesystem.get_file_info(fs.FileSelector(f"{folder}/{MARKER_FOLDER}/{token}", allow_not_found=True))
    except Exception:
        return []
    return sorted(entry.base_name for entry in entries)


def _remove_marker(storage: str, token: str) -> None:
    try:
        filesystem, folder = _storage(storage)
        filesystem.delete_dir(f"{folder}/{MARKER_FOLDER}/{token}")
    except Exception:  # another host removed it first, or it was never written
        pass


def _storage(storage: str) -> tuple[Any, str]:
    from pyarrow import fs

    if is_remote_uri(storage):
        return fs.FileSystem.from_uri(storage)
    return fs.LocalFileSystem(), os.path.abspath(local_path(storage))


def _tracking_seen(tracking_uri: str) -> dict[str, Any]:
    """Does the tracking store answer this node, signed in as this node's own MLflow client would be?"""
    if not tracking_uri.startswith(("http://", "https://")):
        problem = store_problem(tracking_uri, TrackingAuth())
        return {"tracking_error": None if problem is None else problem.reason}
    # This node's own credentials: they never travel, each host carries its own (read where MLflow reads them).
    auth = TrackingAuth.from_environment(os.environ, tracking_uri)
    problem = store_problem(tracking_uri, auth)
    return {"tracking_error": None if problem is None else problem.reason,
            "tracking_refused": problem is not None and problem.credentials, "tracking_credentials": auth.present}
