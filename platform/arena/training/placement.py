"""Plan a job's workers against the nodes of a Ray cluster: pure arithmetic, no Ray calls.

Ray places each Train worker on one node, with all of its CPUs and GPUs there, so what matters is
how many workers each node can hold, not the cluster's totals: 2 workers of 2 GPUs need two GPUs
on each of two nodes (or four on one), and 4 CPUs spread over a 0-CPU head and two 2-CPU workers
hold at most two 2-CPU workers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any


TRIAL_DRIVER_CPUS = 0.01
"""A multi-worker trial's own Tune actor only waits on its TorchTrainer; Tune refuses 0, and 0.01 leaves the CPUs to Train workers."""
MOST_CONCURRENT_TRIALS = 1000
"""A bound on `concurrent_trials` for workers that take no CPU at all."""


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


def workers_that_fit(
    nodes: Sequence[NodeCapacity], cpus_per_worker: float, gpus_per_worker: int, beside_cpus: float = 0.0
) -> int:
    """How many workers of this size the nodes can hold together, beside an actor of `beside_cpus` on one of them.

    The actor (a multi-worker trial's own Tune actor) goes on the node where it costs the fewest
    workers; with no node of `beside_cpus` CPUs it has nowhere to go, and no worker fits.
    """
    room = [workers_per_node(node, cpus_per_worker, gpus_per_worker) for node in nodes]
    if beside_cpus <= 0:
        return sum(room)
    beside = [
        sum(room) - room[index] + workers_per_node(replace(node, cpus=node.cpus - beside_cpus), cpus_per_worker, gpus_per_worker)
        for index, node in enumerate(nodes)
        if node.cpus + 1e-9 >= beside_cpus
    ]
    return max(beside, default=0)


def default_cpus_per_worker(
    nodes: Sequence[NodeCapacity], workers: int, gpus_per_worker: int, beside_cpus: float = 0.0
) -> float | None:
    """The most CPUs per worker with which `workers` workers still fit (beside an actor); None when not even 1 does.

    Whole CPUs, or whole CPUs less the actor's share (0.99 beside a trial's 0.01-CPU actor): Ray
    takes fractional CPUs, and two one-CPU hosts then hold a two-worker trial and its actor.
    """
    most = int(max((node.cpus for node in nodes), default=0))
    sizes = [float(cpus) for cpus in range(most, 0, -1)]
    if beside_cpus > 0:
        sizes = [size for whole in sizes for size in (whole, round(whole - beside_cpus, 4)) if size > 0]
    for cpus in sizes:
        if workers_that_fit(nodes, cpus, gpus_per_worker, beside_cpus) >= workers:
            return cpus
    return None


def _count(number: float, noun: str) -> str:
    return f"{number:g} {noun}{'' if number == 1 else 's'}"


def describe_nodes(nodes: Sequence[NodeCapacity]) -> str:
    """The nodes in a few words: `10.0.0.2: 8 CPUs 1 GPU; 10.0.0.3: 8 CPUs 0 GPUs`."""
    if not nodes:
        return "no nodes"
    return "; ".join(f"{node.address}: {_count(node.cpus, 'CPU')} {_count(node.gpus, 'GPU')}" for node in nodes)


def plan_workers(
    nodes: Sequence[NodeCapacity], workers: int, cpus_per_worker: float | None, gpus_per_worker: int,
    beside_cpus: float = 0.0,
) -> tuple[WorkerResources | None, str | None]:
    """Size the workers for these nodes: (the plan, None), or (None, why they do not fit).

    `beside_cpus`: an actor that must fit on one of the nodes too (a multi-worker trial's own Tune
    actor, `TRIAL_DRIVER_CPUS`).
    """
    beside = f" beside the trial's own actor ({_count(beside_cpus, 'CPU')})" if beside_cpus > 0 else ""
    cpus = cpus_per_worker
    if cpus is None:
        cpus = default_cpus_per_worker(nodes, workers, gpus_per_worker, beside_cpus)
        if cpus is None:
            least = round(1 - beside_cpus, 4) if beside_cpus > 0 else 1
            size = _count(least, "CPU") + (f" and {_count(gpus_per_worker, 'GPU')}" if gpus_per_worker else "")
            return None, (
                f"resources: {_count(workers, 'worker')} of at least {size} each do not fit{beside} on the cluster's "
                f"nodes ({describe_nodes(nodes)})"
            )
    room = workers_that_fit(nodes, cpus, gpus_per_worker, beside_cpus)
    if room < workers:
        size = _count(cpus, "CPU") + (f" and {_count(gpus_per_worker, 'GPU')}" if gpus_per_worker else "")
        smaller = ""
        if beside_cpus > 0 and workers_that_fit(nodes, round(cpus - beside_cpus, 4), gpus_per_worker, beside_cpus) >= workers:
            smaller = f"; resources.cpus_per_worker: {round(cpus - beside_cpus, 4):g} would leave it room"
        return None, (
            f"resources: {_count(workers, 'worker')} of {size} each do not fit{beside} on the cluster's nodes, which "
            f"hold {room} ({describe_nodes(nodes)}){smaller}"
        )
    return WorkerResources(workers, cpus, gpus_per_worker), None


def concurrent_trials(nodes: Sequence[NodeCapacity], resources: WorkerResources, actor_cpus: float) -> int:
    """How many trials of this size the nodes hold at once, each with its own actor of `actor_cpus` (at least 1).

    Placed one trial after another, as Ray would, on what the trials before left: the actor on the
    node with the most CPUs free, then each worker on the first node with room. In local mode the
    actor is the worker (`resources.workers` 1, `actor_cpus` 0).
    """
    free = [[node.cpus, node.gpus] for node in nodes]

    def take(cpus: float, gpus: float) -> bool:
        for room in sorted(free, key=lambda room: -room[0]):
            if room[0] + 1e-9 >= cpus and room[1] + 1e-9 >= gpus:
                room[0], room[1] = room[0] - cpus, room[1] - gpus
                return True
        return False

    trials = 0
    while trials < MOST_CONCURRENT_TRIALS:
        if actor_cpus > 0 and not take(actor_cpus, 0):
            break
        if not all(take(resources.cpus_per_worker, resources.gpus_per_worker) for _ in range(resources.workers)):
            break
        trials += 1
    return max(1, trials)


def runs_in_local_mode(workers: int, gpus_per_worker: int, max_failures: int, *, in_trial: bool, allowed: bool = True) -> bool:
    """Whether a job trains in Ray Train's local mode rather than in a worker group of its own.

    One worker with at most one GPU needs no worker group; a fresh one costs more start-up than a
    search trial or a demo job trains. Worker-group retries (`max_failures`) keep the worker group,
    except in a Tune trial, where Tune restarts a failed trial from its own checkpoint instead.
    """
    return allowed and workers == 1 and gpus_per_worker <= 1 and (in_trial or max_failures == 0)
