"""Per-image predictions as log-probabilities, in plain PyTorch (the Ray tasks call the same code).

Log-probabilities rather than probabilities: a confident model's small probabilities underflow to
0.0 in float32 and would tie, changing which classes make the top five.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from arena.data import ImageFolderDataset
from arena.training.loop import autocast_context


@dataclass(frozen=True)
class Predictions:
    """N x C log-probabilities (averaged over crops in probability space) and the N labels."""

    log_probs: Tensor
    labels: Tensor


def eval_device() -> torch.device:
    """The first GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def eval_precision(precision: str, device: torch.device) -> str:
    """The recipe's precision, except fp16, which needs a GPU."""
    return "fp32" if precision == "fp16" and device.type != "cuda" else precision


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int,
    precision: str = "fp32",
    device: torch.device | None = None,
    indices: Sequence[int] | None = None,
) -> Predictions:
    """Run `model` over `dataset` (or its `indices`) in order; multi-crop samples are averaged."""
    device = device or eval_device()
    model = model.to(device).eval()
    subset = dataset if indices is None else Subset(dataset, list(indices))
    loader = DataLoader(subset, batch_size=batch_size, shuffle=False)
    log_probs, labels = [], []
    for images, targets in loader:
        crops = images.shape[1] if images.dim() == 5 else 1
        images = images.flatten(0, 1) if crops > 1 else images
        with autocast_context(device, eval_precision(precision, device)):
            logits = model(images.to(device, non_blocking=True))
        scores = torch.log_softmax(logits.float(), dim=1)
        if crops > 1:
            # log of the mean softmax over the crops, as AlexNet and VGG averaged their views
            scores = torch.logsumexp(scores.unflatten(0, (-1, crops)), dim=1) - math.log(crops)
        log_probs.append(scores.cpu())
        labels.append(torch.as_tensor(targets, dtype=torch.int64))
    if isinstance(dataset, ImageFolderDataset):
        dataset.end_epoch()  # warns about unreadable images; raises when too many were
    if not log_probs:
        return Predictions(torch.empty(0, 0), torch.empty(0, dtype=torch.int64))
    return Predictions(torch.cat(log_probs), torch.cat(labels))


def shard_ranges(length: int, shards: int, batch_size: int) -> list[range]:
    """Split 0..length into at most `shards` contiguous ranges whose boundaries fall between batches.

    Whole batches keep each image in the same batch as in one process, so the sharded result is
    the in-process one.
    """
    batches = math.ceil(length / batch_size)
    per_shard = math.ceil(batches / max(1, min(shards, batches))) * batch_size if batches else 0
    return [range(start, min(start + per_shard, length)) for start in range(0, length, per_shard or 1)]


def concatenate(parts: Sequence[Predictions]) -> Predictions:
    """Join shards' predictions in order."""
    return Predictions(torch.cat([part.log_probs for part in parts]), torch.cat([part.labels for part in parts]))
