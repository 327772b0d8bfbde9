"""Every check a job passes before it trains: spec, model, data, resume, the cluster's nodes, resources.

`arena train` (`launcher.run_training`), the searches and `arena submit` (whose check job runs
`cluster_report` on the cluster) call these entry points, in this order:

| entry point | when | finds |
|---|---|---|
| `check_job` / `check_jobs` | before Ray starts | model (a grown one fetched from MLflow), data (without a cluster), image size, batch split, fp16 |
| `check_resume` | `--resume RUN_ID` | the run exists, is the same model, its driver is gone, its checkpoints are kept |
| `check_on_nodes` | on a cluster, once Ray is reached | data on the worker hosts, shared storage, the tracking server from every host |
| `check_resources` | once Ray is reached | the workers fit the nodes (waiting for an autoscaler); local mode or a worker group |
| `cluster_report` | `arena cluster check`, `arena submit` | `check_job`, the node checks and the resources, as a report that never raises |

Each raises every problem it finds together (a SpecError, or an ArenaError for `--resume`). The
tasks that look at each node run there (`node_inspection`); what their findings mean is here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from arena import models
from arena.data.layout import check_data, dataset_identity
from arena.errors import ArenaError, SpecError, mask_secrets
from arena.settings import CREDENTIALS_HINT, Settings, credential_problems, shown_settings
from arena.spec import JobSpec
from arena.training.grown_models import make_resolvable
from arena.training.placement import (
    TRIAL_DRIVER_CPUS, NodeCapacity, WorkerResources, plan_workers, runs_in_local_mode,
)
from arena.training.reporting import CHECKPOINT_PREFIX
from arena.training.resume import DRIVER_TAG, checkpoint_epochs, driver_is_alive

if TYPE_CHECKING:  # node_inspection imports Ray: loaded only once a cluster is reached
    from arena.training.node_inspection import ClusterReport, NodeReport

FILE_TRACKING_SCHEMES = ("sqlite", "file", "")
"""Tracking URIs that are a file on one host's disk: every host would write a store of its own."""
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def check_job(spec: JobSpec, settings: Settings, *, in_trial: bool = False) -> None:
    """Find every problem a job has before anything starts; raise them together as one SpecError.

    A search trial leaves the data out: its search checked it (here, or on the worker hosts), and a
    multi-worker trial's actor may run on a host without the data.
    """
    problems: list[str] = []
    info = None
    try:
        # A grown model (scaled:, nas:) is defined in MLflow: bring its definition here first.
        make_resolvable([spec.model], tracking_uri=settings.tracking_uri, home=settings.home)
        info = models.get_model_info(spec.model, settings.home)
    except ArenaError as error:  # unknown, a grown model that is corrupt, or MLflow out of reach
        problems.append(f"model: {error}")
    if settings.ray_address is None and not in_trial:
        # On a cluster the data is read on the worker hosts, not where the driver runs (often a
        # head without the dataset): `check_on_nodes` looks for it there once Ray is reached.
        problems += check_data(spec.data, home=settings.home)
    if info is not None and spec.data.image_size is not None and spec.data.image_size < info.input.min_input:
        problems.append(
            f"data.image_size: {spec.data.image_size} is below {spec.model}'s smallest input "
            f"({info.input.min_input} px)"
        )
    holders = spec.resources.workers * spec.train.accumulation_steps
    if spec.train.batch_size < holders:
        problems.append(
            f"train.batch_size: {spec.train.batch_size} is smaller than resources.workers x "
            f"train.accumulation_steps ({holders}); each micro-batch needs at least one image"
        )
    if spec.train.precision == "fp16" and spec.resources.gpus_per_worker == 0:
        problems.append("train.precision: fp16 needs GPUs (resources.gpus_per_worker >= 1); use bf16 or fp32 on CPU")
    if problems:
        raise SpecError(problems)


def check_jobs(specs: Sequence[JobSpec], settings: Settings) -> None:
    """Check every job; raise all their problems together, each prefixed by its job's name."""
    if len(specs) == 1:
        check_job(specs[0], settings)
        return
    problems: list[str] = []
    for spec in specs:
        try:
            check_job(spec, settings)
        except SpecError as error:
            problems += [f"{spec.name}: {problem}" for problem in error.problems]
    if problems:
        raise SpecError(problems, source="job specs")


def resumable_run(settings: Settings, run_id: str) -> dict:
    """The MLflow summary of run `run_id` for `--resume` (a job's or a search's); ArenaError for an id that is not one."""
    from arena.tracking import run_log

    if not _RUN_ID.fullmatch(run_id):
        raise ArenaError(f"--resume {run_id!r}: not an MLflow run id (32 hex digits)")
    return run_log.get_run_summary(settings.tracking_uri, run_id)


def refuse_live_driver(summary: dict, *, force: bool) -> None:
    """ArenaError for a RUNNING run whose driver may still be alive, unless `force`: two drivers would share one run."""
    if summary["status"] != "RUNNING" or force:
        return
    tag = summary["tags"].get(DRIVER_TAG)
    alive = driver_is_alive(tag)
    if alive is not False:
        where = f"its driver {tag.rsplit(':', 1)[0]} (host:pid)" if tag else "its driver"
        how = "it is still running here" if alive else "check that the process is gone on that machine (ps -p PID), " \
            "and for a submitted job that `arena jobs status ID` says FAILED or STOPPED"
        raise ArenaError(
            f"--resume {summary['run_id']}: the run is still RUNNING in MLflow, driven by {where}; {how}; "
            "then add --force to resume it"
        )


def check_resume(spec: JobSpec, settings: Settings, run_id: str, *, force: bool = False) -> None:
    """Raise ArenaError unless run `run_id` can honestly continue with `spec` from a kept checkpoint."""
    summary = resumable_run(settings, run_id)
    logged_model = summary["tags"].get("arena.model")
    if logged_model != spec.model:
        raise SpecError([f"model: {spec.model!r} differs from the model of run {run_id} ({logged_model!r})"], "--resume")
    refuse_live_driver(summary, force=force)
    if not checkpoint_epochs(settings.storage, run_id):
        raise ArenaError(
            f"--resume {run_id}: no checkpoint of this run is left in ARENA_STORAGE={settings.storage} "
            f"(looked in {run_id}/{CHECKPOINT_PREFIX}*); resuming would train again from epoch 0 into the same run: "
            "start a new run instead, or point ARENA_STORAGE where its checkpoints are"
        )


def check_on_nodes(spec: JobSpec, settings: Settings) -> str | None:
    """On a cluster: the data on the worker hosts, shared storage, the tracking server from every host.

    Returns the data's `arena.dataset` name as the worker hosts read it; None when no worker host
    is up yet to look (an autoscaler adds them later).
    """
    from arena.training.node_inspection import inspect_nodes

    _, nodes = inspect_nodes(spec, settings)
    problems = node_problems(nodes, spec, settings)
    if problems:
        raise SpecError(problems)
    return named_dataset(nodes)


def name_dataset(spec: JobSpec, settings: Settings) -> str | None:
    """The `arena.dataset` name of a spec's data, computed where it is read; None when no worker host is up yet.

    Without a cluster this machine trains and names it; on a cluster the node checks run on the
    worker hosts (raising their problems) and name it there, never on a head without the data.
    """
    if settings.ray_address is None:
        return dataset_identity(spec.data)
    return check_on_nodes(spec, settings)


def named_dataset(nodes: list[NodeReport]) -> str | None:
    """The dataset name the worker hosts computed (`node_problems` refuses hosts that disagree); None when none looked."""
    names = sorted({node.dataset for node in nodes if node.dataset is not None})
    return names[0] if names else None


def check_resources(
    spec: JobSpec, *, in_trial: bool = False, say: Callable[[str], None] | None = None
) -> WorkerResources:
    """Size the workers against the cluster's nodes, and choose local mode or a worker group.

    What cannot fit is a SpecError. On a cluster with an autoscaler, a job that does not fit yet
    asks it for the nodes and waits for them up to `resources.scale_up_timeout_s`, saying so
    through `say`.
    """
    from arena.training import ray_driver  # imports Ray: checks.py is read before Ray starts

    wanted = spec.resources
    local = runs_in_local_mode(wanted.workers, wanted.gpus_per_worker, wanted.max_failures, in_trial=in_trial,
                               allowed=wanted.local_mode)
    beside = trial_actor_cpus(in_trial=in_trial, local=local)
    plan, problem = ray_driver.node_plan(spec, beside)
    if plan is None and ray_driver.autoscaler_running():
        plan, problem = ray_driver.wait_for_nodes(spec, problem or "", say or (lambda text: print(text, file=sys.stderr)), beside)
    if plan is None:
        raise SpecError([problem or "resources: the job does not fit on the cluster"])
    return replace(plan, local=local)


def trial_actor_cpus(*, in_trial: bool, local: bool) -> float:
    """The CPUs a job's workers must leave free on some node: a multi-worker trial's own Tune actor, else none.

    In local mode the trial's actor is its worker; a job's driver is a process, not an actor.
    """
    return TRIAL_DRIVER_CPUS if in_trial and not local else 0.0


def cluster_report(spec: JobSpec | None, settings: Settings) -> ClusterReport:
    """Run the job's own checks, every node check and whether `spec`'s workers fit, on the connected cluster; never raises for what it finds."""
    from arena.training.node_inspection import ClusterReport, inspect_nodes

    problems: list[str] = []
    if spec is not None:  # what `arena train` would refuse on the cluster, before a job is sent there
        try:
            check_job(spec, settings)
        except SpecError as error:
            problems += error.problems
    capacities, nodes = inspect_nodes(spec, settings)
    return ClusterReport(settings=shown_settings(settings), nodes=nodes, problems=problems + node_problems(nodes, spec, settings, capacities))


def tracking_is_file(tracking_uri: str) -> bool:
    """True for a tracking URI that names a file (SQLite, a file store) rather than a server or database."""
    scheme = tracking_uri.split("://", 1)[0] if "://" in tracking_uri else ""
    return scheme in FILE_TRACKING_SCHEMES


def node_problems(
    nodes: list[NodeReport], spec: JobSpec | None, settings: Settings, capacities: list[NodeCapacity] | None = None
) -> list[str]:
    """What the nodes' findings mean for a job: tracking, storage, data and (given `capacities`) whether it fits."""
    problems: list[str] = []
    hosts = len({node.address for node in nodes})
    if hosts > 1 and tracking_is_file(settings.tracking_uri):
        problems.append(
            f"ARENA_TRACKING_URI={mask_secrets(settings.tracking_uri)} is a file, and each of the cluster's {hosts} hosts "
            "would write its own copy, so the run would exist on none of them; point ARENA_TRACKING_URI at an "
            "MLflow tracking server every node reaches (http://HOST:5000; see infra/README.md)"
        )
    unreachable = [f"{node.host} ({node.tracking_error})" for node in nodes if node.tracking_error and not node.tracking_refused]
    if unreachable:
        problems.append(f"ARENA_TRACKING_URI={mask_secrets(settings.tracking_uri)} does not answer from {', '.join(unreachable)}")
    refused = [f"{node.host} ({node.tracking_error})" for node in nodes if node.tracking_refused]
    if refused:
        problems.append(
            f"the MLflow tracking server {mask_secrets(settings.tracking_uri)} refuses the credentials of {', '.join(refused)}: "
            f"{CREDENTIALS_HINT}"
        )
    if settings.tracking_uri.startswith(("http://", "https://")):
        problems += credential_problems({node.host: node.tracking_credentials for node in nodes}, settings.tracking_auth, "the driver")
    problems += storage_problems(nodes, settings, hosts)
    for node in nodes:
        problems += [f"{problem} (on {node.host})" for problem in node.data_problems]
    problems += dataset_problems(nodes)
    if spec is not None and capacities is not None:
        _, misfit = plan_workers(capacities, spec.resources.workers, spec.resources.cpus_per_worker, spec.resources.gpus_per_worker)
        if misfit and not _autoscaling():  # an autoscaler adds the nodes: `arena train` waits for them
            problems.append(misfit)
    return problems


def dataset_problems(nodes: list[NodeReport]) -> list[str]:
    """Worker hosts that hold different data under data.root: each worker would train on its own copy."""
    hosts_of: dict[str, list[str]] = {}
    for node in nodes:
        if node.dataset is not None:
            hosts_of.setdefault(node.dataset, []).append(node.host)
    if len(hosts_of) < 2:
        return []
    found = "; ".join(f"{name} on {', '.join(sorted(set(hosts)))}" for name, hosts in sorted(hosts_of.items()))
    return [f"data.root: the worker hosts hold different data ({found}); give every worker host the same copy"]


def _autoscaling() -> bool:
    from arena.training.ray_driver import autoscaler_running

    return autoscaler_running()


def storage_problems(nodes: list[NodeReport], settings: Settings, hosts: int) -> list[str]:
    """ARENA_STORAGE that a node cannot write, or that the hosts do not share."""
    broken = [f"{node.host}: {node.storage_error}" for node in nodes if node.storage_error]
    if broken:
        return [f"ARENA_STORAGE={mask_secrets(settings.storage)} cannot be written on {'; '.join(broken)}"]
    everyone = {node.node_id for node in nodes}
    blind = [node.host for node in nodes if set(node.markers_seen) != everyone]
    if hosts > 1 and blind:
        return [
            f"ARENA_STORAGE={mask_secrets(settings.storage)} is not shared between the cluster's hosts: a file written "
            f"there on one host is missing on {', '.join(sorted(set(blind)))}; every training worker must reach "
            "the same checkpoints (a bucket URI such as s3://BUCKET/arena, or a folder every host mounts, e.g. NFS)"
        ]
    return []
