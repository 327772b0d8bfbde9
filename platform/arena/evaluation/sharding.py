"""The Ray boundary of evaluation: a large val set is split over Ray tasks, one shard each.

Each task rebuilds the model once from the weights in the object store and returns the
log-probabilities of its shard; the driver joins the shards in order. The shards follow batch
boundaries, so the result is the one a single process gets. A driver whose host lacks the val set
(a cluster's head, where a submitted evaluation or search runs) hands the whole evaluation to a
node that holds it (`run_where_data_is`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import ray
import ray.exceptions
import torch
from torch import Tensor
from torch.utils.data import Dataset

from arena.errors import ArenaError, RunFailed
from arena.evaluation.loading import ModelRecipe
from arena.evaluation.predict import Predictions, concatenate, predict, shard_ranges
from arena.settings import Settings
from arena.training import ray_driver
from arena.training.grown_models import make_resolvable

T = TypeVar("T")


def predict_on_ray(
    recipe: ModelRecipe,
    weights: dict[str, Tensor],
    dataset: Dataset,
    settings: Settings,
    *,
    shards: int | None,
    batch_size: int,
    precision: str,
) -> Predictions:
    """Predict `dataset` with `shards` Ray tasks (None: one per GPU, else per CPU, of the cluster)."""
    started = ray_driver.connect(settings)
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = shards or gpus or max(1, int(resources.get("CPU", 1)))
        ranges = shard_ranges(len(dataset), count, batch_size)
        task = ray.remote(_predict_shard).options(num_cpus=1, num_gpus=1 if gpus else 0)
        weights_ref, dataset_ref = ray.put(weights), ray.put(dataset)
        refs = [
            task.remote(recipe, weights_ref, dataset_ref, list(shard), batch_size, precision, settings.tracking_uri)
            for shard in ranges
        ]
        return concatenate(_gather(refs))
    finally:
        if started:
            ray_driver.disconnect()


def _gather(refs: Sequence[ray.ObjectRef]) -> list[Predictions]:
    try:
        return list(ray.get(list(refs)))
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, ArenaError):
            raise error.cause from None  # an unreadable val set: the user's to fix, one line
        raise RunFailed(f"an evaluation shard failed: {str(error.cause or error).splitlines()[0]}") from error


def _predict_shard(
    recipe: ModelRecipe,
    weights: dict[str, Tensor],
    dataset: Dataset,
    indices: list[int],
    batch_size: int,
    precision: str,
    tracking_uri: str,
) -> Predictions:
    """One Ray task: load the checkpoint's weights once, predict one contiguous shard."""
    if recipe.home is not None:  # the task's host may not have the grown model the run trained
        make_resolvable([recipe.model_name], tracking_uri=tracking_uri, home=recipe.home)
    model = recipe.build()
    model.load_state_dict(weights)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return predict(model, dataset, batch_size=batch_size, precision=precision, device=device, indices=indices)


def run_where_data_is(function: Callable[..., T], folder: Path, settings: Settings, *args: Any) -> T:
    """Run `function(*args)` in a Ray task on a node that holds `folder` (this host does not); return its result."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    started = ray_driver.connect(settings)
    try:
        nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"] and node["Resources"].get("CPU", 0) > 0]
        probe = ray.remote(_is_folder)
        found = ray.get([
            probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(str(folder))
            for node in nodes
        ])
        holders = [node for node, there in zip(nodes, found) if there]
        if not holders:
            raise ArenaError(f"{folder} is on no node of the cluster that can run an evaluation ({len(nodes)} with CPUs)")
        task = ray.remote(function).options(
            num_cpus=1, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(holders[0], soft=False)
        )
        try:
            return ray.get(task.remote(*args))
        except ray.exceptions.RayTaskError as error:
            if isinstance(error.cause, ArenaError):
                raise error.cause from None
            raise RunFailed(f"the evaluation on the cluster failed: {str(error.cause or error).splitlines()[0]}") from error
    finally:
        if started:
            ray_driver.disconnect()


def _is_folder(path: str) -> bool:
    return Path(path).is_dir()
