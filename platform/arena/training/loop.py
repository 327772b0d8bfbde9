"""The training loop: plain PyTorch, no Ray, no MLflow, so it runs (and can be timed) anywhere."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterable

import torch
import torch.distributed as dist
from torch import nn

from arena.training.metrics import top_k_misses
from arena.training.optim import adaptive_gradient_clip

StepCallback = Callable[[int, int, float], None]
"""Called after each step with (step, images so far, seconds so far)."""


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for bf16/fp16, nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum a few numbers across ranks (identity when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def _to_device(images: torch.Tensor, targets: torch.Tensor, device: torch.device, channels_last: bool):
    images = images.to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, targets.to(device, non_blocking=True)


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    *,
    device: torch.device,
    precision: str = "fp32",
    scaler: torch.amp.GradScaler | None = None,
    mixer: Callable | None = None,
    agc_clip: float | None = None,
    clip_grad_norm: float | None = None,
    ema: nn.Module | None = None,
    channels_last: bool = False,
    accumulation_steps: int = 1,
    max_steps: int | None = None,
    on_step: StepCallback | None = None,
) -> dict[str, float]:
    """Train one pass over `loader`; return the mean loss, images seen, seconds and images/s (global).

    Every `accumulation_steps` micro-batches make one optimizer step (the last, shorter group too);
    `max_steps`, `steps` and `on_step` count optimizer steps.
    """
    model.train()
    clipped = [p for name, p in model.named_parameters() if not _is_classifier(name)] if agc_clip else []
    # The loss adds up on the device: a .item() per step would make the host wait for the GPU.
    loss_total, images_seen, steps = torch.zeros((), device=device), 0, 0
    start = time.perf_counter()
    batches = iter(loader)
    while max_steps is None or steps < max_steps:
        group = list(itertools.islice(batches, accumulation_steps))
        if not group:
            break
        optimizer.zero_grad(set_to_none=True)
        group_images = sum(images.shape[0] for images, _targets in group)
        for index, (images, targets) in enumerate(group):
            images, targets = _to_device(images, targets, device, channels_last)
            if mixer is not None:
                images, targets = mixer(images, targets)
            # DDP all-reduces gradients on the group's last backward only.
            syncing = index == len(group) - 1 or not hasattr(model, "no_sync")
            with contextlib.nullcontext() if syncing else model.no_sync():
                with autocast_context(device, precision):
                    loss = criterion(model(images), targets)
                # Weighted by its share of the group's images: the step sees the group's mean loss.
                share = loss * (images.shape[0] / group_images)
                (scaler.scale(share) if scaler is not None else share).backward()
            loss_total += loss.detach().float() * images.shape[0]
        _clip_and_step(model, optimizer, scaler, clipped, agc_clip, clip_grad_norm)
        if ema is not None:
            ema.update_parameters(_unwrap(model))
        images_seen += group_images
        steps += 1
        if on_step is not None:
            on_step(steps, images_seen, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    loss_sum, images_total = _all_reduce_sum([loss_total.item(), float(images_seen)], device)
    return {
        "train_loss": loss_sum / max(images_total, 1.0),
        "images": images_total,
        "steps": steps,
        "seconds": seconds,
        "images_per_second": images_total / seconds if seconds > 0 else 0.0,
    }


def _clip_and_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    clipped: list[nn.Parameter],
    agc_clip: float | None,
    clip_grad_norm: float | None,
) -> None:
    """Unscale (fp16), clip (AGC and/or the global norm), then take the optimizer step."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    if agc_clip:
        adaptive_gradient_clip(clipped, agc_clip)
    if clip_grad_norm:
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    criterion: nn.Module,
    *,
    device: torch.device,
    precision: str = "fp32",
    channels_last: bool = False,
) -> dict[str, float]:
    """Loss and top-1 / top-5 error (percent) over `loader`, summed across ranks."""
    model.eval()
    loss_sum, correct1, correct5, count = 0.0, 0.0, 0.0, 0.0
    for images, targets in loader:
        images, targets = _to_device(images, targets, device, channels_last)
        with autocast_context(device, precision):
            logits = model(images)
        logits = logits.float()
        loss_sum += criterion(logits, targets).item() * images.shape[0]
        wrong1, wrong5 = top_k_misses(logits, targets)
        correct1 += images.shape[0] - wrong1.sum().item()
        correct5 += images.shape[0] - wrong5.sum().item()
        count += images.shape[0]
    loss_sum, correct1, correct5, count = _all_reduce_sum([loss_sum, correct1, correct5, count], device)
    count = max(count, 1.0)
    return {
        "val_loss": loss_sum / count,
        "val_top1_error": 100.0 * (1.0 - correct1 / count),
        "val_top5_error": 100.0 * (1.0 - correct5 / count),
        "val_images": count,
    }


def _unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def _is_classifier(name: str) -> bool:
    # NFNet does not clip the final linear layer (Brock et al. 2021, section 4.1).
    last = name.split(".")
    return any(part in {"fc", "head", "classifier", "heads"} for part in last[:-1][-2:])
