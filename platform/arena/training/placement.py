"""Plan a job's workers against the nodes of a Ray cluster: pure arithmetic, no Ray calls.

Ray places each Train worker on one node, with all of its CPUs and GPUs there, so what matters is
how many workers each node can hold, not the cluster's totals: 2 workers of 2 GPUs need two GPUs
on each of two nodes (or four on one), and 4 CPUs spread over a 0-CPU head and two 2-CPU workers
hold at most two 2-CPU workers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NodeCapacity:
    """What one alive node offers to Ray."""

    node_id: str
    address: str
    cpus: float
    gpus: float


@dataclass(frozen=True)
class WorkerResources:
    """How many workers, and what each one gets."""

    workers: int
    cpus_per_worker: float
    gpus_per_worker: int
    local: bool = False
    """Ray Train runs the job in local mode: in a lane actor, or in the Tune trial's own actor."""

    @property
    def threads(self) -> int:
        """Torch threads per worker: the whole CPUs reserved (0.99 of a CPU still runs one thread)."""
        return max(1, round(self.cpus_per_worker))


def node_capacities(nodes: Iterable[Mapping[str, Any]]) -> list[NodeCapacity]:
    """The alive nodes of `ray.nodes()` with their CPUs and GPUs."""
    return [
        NodeCapacity(
            node_id=node["NodeID"],
            address=node.get("NodeManagerAddress", "?"),
            cpus=float(node.get("Resources", {}).get("CPU", 0)),
            gpus=float(node.get("Resources", {}).get("GPU", 0)),
        )
        for node in nodes
        if node.get("Alive", True)
    ]


def workers_per_node(node: NodeCapacity, cpus_per_worker: float, gpus_per_worker: int) -> int:
    """How many workers of this size one node can hold."""
    room = math.floor(node.cpus / cpus_per_worker + 1e-9) if cpus_per_worker > 0 else math.inf
    if gpus_per_worker > 0:
        room = min(room, math.floor(node.gpus / gpus_per_worker + 1e-9))
    return 0 if room == math.inf else int(room)


def workers_that_fit(nodes: Sequence[NodeCapacity], cpus_per_worker: float, gpus_per_worker: int) -> int:
    """How many workers of this size the nodes can hold together."""
    return sum(workers_per_node(node, cpus_per_worker, gpus_per_worker) for node in nodes)


def default_cpus_per_worker(nodes: Sequence[NodeCapacity], workers: int, gpus_per_worker: int) -> float | None:
    """The most whole CPUs per worker with which `workers` workers still fit; None when not even 1 does."""
    most = int(max((node.cpus for node in nodes), default=0))
    for cpus in range(most, 0, -1):
        if workers_that_fit(nodes, cpus, gpus_per_worker) >= workers:
            return float(cpus)
    return None


def _count(number: float, noun: str) -> str:
    return f"{number:g} {noun}{'' if number == 1 else 's'}"


def describe_nodes(nodes: Sequence[NodeCapacity]) -> str:
    """The nodes in a few words: `10.0.0.2: 8 CPUs 1 GPU; 10.0.0.3: 8 CPUs 0 GPUs`."""
    if not nodes:
        return "no nodes"
    return "; ".join(f"{node.address}: {_count(node.cpus, 'CPU')} {_count(node.gpus, 'GPU')}" for node in nodes)


def plan_workers(
    nodes: Sequence[NodeCapacity], workers: int, cpus_per_worker: float | None, gpus_per_worker: int
) -> tuple[WorkerResources | None, str | None]:
    """Size the workers for these nodes: (the plan, None), or (None, why they do not fit)."""
    cpus = cpus_per_worker
    if cpus is None:
        cpus = default_cpus_per_worker(nodes, workers, gpus_per_worker)
        if cpus is None:
            size = "1 CPU" + (f" and {_count(gpus_per_worker, 'GPU')}" if gpus_per_worker else "")
            return None, (
                f"resources: {_count(workers, 'worker')} of at least {size} each do not fit on the cluster's nodes "
                f"({describe_nodes(nodes)})"
            )
    room = workers_that_fit(nodes, cpus, gpus_per_worker)
    if room < workers:
        size = _count(cpus, "CPU") + (f" and {_count(gpus_per_worker, 'GPU')}" if gpus_per_worker else "")
        return None, (
            f"resources: {_count(workers, 'worker')} of {size} each do not fit on the cluster's nodes, which hold "
            f"{room} ({describe_nodes(nodes)})"
        )
    return WorkerResources(workers, cpus, gpus_per_worker), None


def runs_in_local_mode(workers: int, gpus_per_worker: int, max_failures: int, *, in_trial: bool, allowed: bool = True) -> bool:
    """Whether a job trains in Ray Train's local mode rather than in a worker group of its own.

    One worker with at most one GPU needs no worker group; a fresh one costs more start-up than a
    search trial or a demo job trains. Worker-group retries (`max_failures`) keep the worker group,
    except in a Tune trial, where Tune restarts a failed trial from its own checkpoint instead.
    """
    return allowed and workers == 1 and gpus_per_worker <= 1 and (in_trial or max_failures == 0)
