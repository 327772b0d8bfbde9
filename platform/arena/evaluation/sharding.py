"""The Ray boundary of evaluation: a large val set is split over Ray tasks, one shard each.

Each task rebuilds the model once from the weights in the object store and returns the
log-probabilities of its shard; the driver joins the shards in order. The shards follow batch
boundaries, so the result is the one a single process gets.
"""

from __future__ import annotations

from collections.abc import Sequence

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
