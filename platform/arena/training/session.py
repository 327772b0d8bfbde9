"""Everything one training process needs, built from a job spec: model, data, optimizer, state.

`build_session` runs with or without Ray: the Ray worker wraps it, and a GPU box without Ray can
time it directly (`arena.training.session.run_without_ray`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from arena import models
from arena.data import build_batch_mixer, build_datasets
from arena.spec import JobSpec, spec_to_yaml
from arena.training.checkpoint import Checkpoint
from arena.training.loop import StepCallback, _unwrap, evaluate, train_one_epoch
from arena.training.optim import (
    Scheduler, build_ema, build_optimizer, build_scheduler, set_batchnorm_momentum, step_scheduler,
)


class ShardSampler(Sampler[int]):
    """Every rank's share of the val set, in order, with no padded duplicates (exact metrics)."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


@dataclass
class TrainingSession:
    """A model with its optimizer, schedule, data and progress; `run_epoch` advances it by one."""

    spec: JobSpec
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler
    criterion: nn.Module
    train_loader: DataLoader
    val_loader: DataLoader
    device: torch.device
    num_classes: int
    class_names: list[str]
    datasets: Any = None
    """The data behind the loaders: it counts unreadable images and enforces data.max_bad_fraction."""
    scaler: torch.amp.GradScaler | None = None
    ema: nn.Module | None = None
    mixer: Any = None
    epoch: int = 0
    """Epochs completed."""
    history: list[dict[str, float]] = field(default_factory=list)
    best_val_top1_error: float = math.inf

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps an epoch takes (micro-batches over accumulation steps, rounded up)."""
        steps = math.ceil(len(self.train_loader) / self.spec.train.accumulation_steps)
        cap = self.spec.train.max_steps_per_epoch
        return min(steps, cap) if cap else steps

    def run_epoch(self, on_step: StepCallback | None = None) -> dict[str, float]:
        """Train and evaluate the next epoch; return its metrics (the names docs/mlflow.md lists)."""
        train = self.spec.train
        sampler = self.train_loader.sampler
        if hasattr(sampler, "set_epoch"):  # DistributedSampler or the repeated-augmentation sampler
            sampler.set_epoch(self.epoch)
        lr = self.optimizer.param_groups[0]["lr"]
        trained = train_one_epoch(
            self.model, self.train_loader, self.optimizer, self.criterion,
            device=self.device, precision=train.precision, scaler=self.scaler, mixer=self.mixer,
            agc_clip=train.agc_clip, clip_grad_norm=train.clip_grad_norm, ema=self.ema,
            channels_last=train.channels_last, accumulation_steps=train.accumulation_steps,
            max_steps=train.max_steps_per_epoch, on_step=on_step,
        )
        eval_model = self.ema.module if self.ema is not None else self.model
        validated = evaluate(
            eval_model, self.val_loader, nn.CrossEntropyLoss(), device=self.device,
            precision=train.precision, channels_last=train.channels_last,
        )
        skipped = self.datasets.end_epoch() if self.datasets is not None else 0
        step_scheduler(self.scheduler, validated["val_top1_error"])
        self.epoch += 1
        row = {"epoch": self.epoch, "lr": lr, **trained, **validated, "images_skipped": skipped}
        self.best_val_top1_error = min(self.best_val_top1_error, row["val_top1_error"])
        self.history.append(row)
        return row

    def to_checkpoint(self) -> Checkpoint:
        """A self-describing checkpoint: weights unwrapped from DDP/compile, optimizer, schedule, spec."""
        return Checkpoint(
            model=_unwrap(self.model).state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict() if self.scaler is not None else None,
            ema=self.ema.module.state_dict() if self.ema is not None else None,
            epoch=self.epoch,
            best_val_top1_error=self.best_val_top1_error,
            history=list(self.history),
            spec_yaml=spec_to_yaml(self.spec),
            model_name=self.spec.model,
            num_classes=self.num_classes,
            class_names=self.class_names,
        )

    def restore(self, checkpoint: Checkpoint) -> None:
        """Continue from a checkpoint written by `to_checkpoint`."""
        _unwrap(self.model).load_state_dict(checkpoint.model)
        self.optimizer.load_state_dict(checkpoint.optimizer)
        self.scheduler.load_state_dict(checkpoint.scheduler)
        if self.scaler is not None and checkpoint.scaler:
            self.scaler.load_state_dict(checkpoint.scaler)
        if self.ema is not None and checkpoint.ema:
            self.ema.module.load_state_dict(checkpoint.ema)
        self.epoch = int(checkpoint.epoch)
        self.best_val_top1_error = float(checkpoint.best_val_top1_error)
        self.history = list(checkpoint.history)


def _is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _loaders(spec: JobSpec, datasets: Any, rank: int, world_size: int, device: torch.device) -> tuple[DataLoader, DataLoader]:
    per_worker = spec.train.micro_batch(world_size)
    train_sampler = _train_sampler(spec, datasets.train, rank, world_size)
    common = {
        "num_workers": spec.data.loader_workers,
        "pin_memory": device.type == "cuda",
        "collate_fn": datasets.collate_fn,
        "persistent_workers": spec.data.loader_workers > 0,
    }
    # Drop the ragged last batch only when there is more than one batch: BatchNorm cannot
    # normalise a batch of one, and tiny datasets must still train.
    drop_last = len(datasets.train) // world_size > per_worker
    train = DataLoader(datasets.train, batch_size=per_worker, sampler=train_sampler, drop_last=drop_last, **common)
    val = DataLoader(datasets.val, batch_size=per_worker, sampler=ShardSampler(len(datasets.val), rank, world_size), **common)
    return train, val


def _train_sampler(spec: JobSpec, dataset: Any, rank: int, world_size: int) -> Sampler[int]:
    """Shuffled shards of the train set, or DeiT's repeated-augmentation shards (timm's sampler)."""
    if spec.data.repeated_augment > 1:
        from timm.data.distributed_sampler import RepeatAugSampler

        # selected_round=0: an epoch keeps the dataset's length, however small the dataset.
        return RepeatAugSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True,
                                num_repeats=spec.data.repeated_augment, selected_round=0)
    return DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=spec.train.seed)


def build_session(
    spec: JobSpec, *, home: Path, rank: int = 0, world_size: int = 1, device: torch.device | None = None
) -> TrainingSession:
    """Build the model, data, optimizer and schedule of `spec` for one process."""
    device = device or torch.device("cpu")
    torch.manual_seed(spec.train.seed + rank)
    info = models.get_model_info(spec.model, home)
    image_size = spec.data.image_size or info.input.resolution
    datasets = build_datasets(spec.data, info.input, image_size, home=home)
    model = models.build(
        spec.model, num_classes=datasets.num_classes,
        drop_rate=spec.train.drop_rate, drop_path_rate=spec.train.drop_path_rate, home=home,
    ).to(device)
    if spec.train.bn_momentum is not None:
        set_batchnorm_momentum(model, spec.train.bn_momentum)
    if spec.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    lr = spec.train.scaled_lr()
    optimizer = build_optimizer(model, spec.train.optimizer, lr)
    scheduler = build_scheduler(optimizer, spec.train.schedule, spec.train.epochs, lr)
    ema = build_ema(model, spec.train.ema_decay) if spec.train.ema_decay else None
    if _is_distributed():
        ids = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if spec.train.compile:
        model = torch.compile(model)
    train_loader, val_loader = _loaders(spec, datasets, rank, world_size, device)
    return TrainingSession(
        spec=spec, model=model, optimizer=optimizer, scheduler=scheduler,
        criterion=nn.CrossEntropyLoss(label_smoothing=spec.train.label_smoothing),
        train_loader=train_loader, val_loader=val_loader, device=device,
        num_classes=datasets.num_classes, class_names=list(datasets.class_names),
        scaler=torch.amp.GradScaler(device.type) if spec.train.precision == "fp16" else None,
        ema=ema, mixer=build_batch_mixer(spec.data.augment, datasets.num_classes), datasets=datasets,
    )


def run_without_ray(spec: JobSpec, *, home: Path, device: torch.device | None = None) -> list[dict[str, float]]:
    """Train `spec` in this process, without Ray or MLflow; return the per-epoch metrics."""
    session = build_session(spec, home=home, device=device)
    while session.epoch < spec.train.epochs:
        session.run_epoch()
    return session.history
