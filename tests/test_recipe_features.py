"""The recipe features the papers need: accumulation, plateau decay, batch-norm momentum, clipping,
weight decay on every parameter, random erasing, repeated augmentation, and the printed batch line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from arena.data.transforms import build_train_transform
from arena.models import get_model_info
from arena.spec import AugmentSpec, OptimizerSpec, ScheduleSpec, parse_spec
from arena.training.checks import check_job
from arena.training.launcher import describe_batch
from arena.training.loop import train_one_epoch
from arena.training.optim import build_optimizer, build_scheduler, set_batchnorm_momentum, step_scheduler
from arena.training.session import build_session
from arena.errors import SpecError
from arena.settings import load_settings


def _data(count: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(count, 6, generator=generator)
    labels = torch.randint(0, 3, (count,), generator=generator)
    return [(images, labels)]


def _trained(accumulation: int, clip: float | None = None) -> tuple[nn.Module, dict]:
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    (images, labels), = _data()
    micro = len(images) // accumulation
    loader = [(images[i:i + micro], labels[i:i + micro]) for i in range(0, len(images), micro)]
    result = train_one_epoch(model, loader, optimizer, nn.CrossEntropyLoss(), device=torch.device("cpu"),
                             accumulation_steps=accumulation, clip_grad_norm=clip)
    return model, result


def test_accumulated_micro_batches_take_the_full_batch_step() -> None:
    whole, whole_result = _trained(1)
    accumulated, result = _trained(4)
    assert result["steps"] == whole_result["steps"] == 1  # steps count optimizer steps, not micro-batches
    assert result["images"] == 8
    for a, b in zip(whole.parameters(), accumulated.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_clip_grad_norm_bounds_the_step() -> None:
    torch.manual_seed(0)
    start = nn.Linear(6, 3).weight.detach().clone()
    clipped, _ = _trained(1, clip=1e-3)
    free, _ = _trained(1)
    assert (free.weight - start).norm() > 0.01
    assert (clipped.weight - start).norm() <= 0.5 * 1e-3 + 1e-7  # lr x clip bounds the weights' move


def test_plateau_divides_the_lr_after_patience_epochs_without_improvement() -> None:
    model = nn.Linear(2, 2)
    optimizer = build_optimizer(model, OptimizerSpec(lr=0.01))
    scheduler = build_scheduler(optimizer, ScheduleSpec(name="plateau", gamma=0.1, patience=2), 90, 0.01)
    lrs = []
    for error in (50.0, 40.0, 40.0, 41.0, 39.0, 39.5, 39.5):
        step_scheduler(scheduler, error)
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.01, 0.01, 0.01, 0.001, 0.001, 0.001, 0.0001])
    with pytest.raises(SpecError, match="a plateau schedule takes no warmup"):
        parse_spec({"name": "x", "model": "alexnet", "data": {"dataset": "synthetic"},
                    "train": {"epochs": 1, "batch_size": 2, "schedule": {"name": "plateau", "warmup_epochs": 2}}})


def test_weight_decay_on_every_parameter_or_only_weights() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    every = build_optimizer(model, OptimizerSpec(weight_decay=5e-4, weight_decay_on="all"))
    weights = build_optimizer(model, OptimizerSpec(weight_decay=5e-4, weight_decay_on="weights"))
    decayed = lambda optimizer: sum(len(g["params"]) for g in optimizer.param_groups if g["weight_decay"] > 0)  # noqa: E731
    assert decayed(every) == 4 and decayed(weights) == 1  # conv weight, conv bias, bn scale, bn shift


def test_batchnorm_momentum_reaches_every_layer(tmp_path: Path) -> None:
    spec = parse_spec({"name": "bn", "model": "efficientnet_b0", "data": {"dataset": "synthetic", "image_size": 32,
                       "train_size": 4, "val_size": 2, "num_classes": 3},
                       "train": {"epochs": 1, "batch_size": 2, "bn_momentum": 0.01}})
    session = build_session(spec, home=tmp_path)
    momenta = {m.momentum for m in session.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    assert momenta == {0.01}
    assert set_batchnorm_momentum(nn.Linear(2, 2), 0.5) == 0


def test_random_erasing_joins_the_train_transform() -> None:
    contract = get_model_info("resnet18").input
    image = torch.full((3, 40, 40), 128, dtype=torch.uint8)
    erased = build_train_transform(contract, AugmentSpec(random_resized_crop=False, hflip=False, random_erasing=1.0), 32)
    plain = build_train_transform(contract, AugmentSpec(random_resized_crop=False, hflip=False), 32)
    flat, patched = plain(image).std(dim=(1, 2)), erased(image).std(dim=(1, 2))
    assert flat.max() < 1e-4 and patched.min() > 0.1  # a random-valued rectangle on a flat image


def test_repeated_augmentation_shows_each_image_on_several_workers(tmp_path: Path) -> None:
    tree = {"name": "ra", "model": "resnet18", "data": {"dataset": "synthetic", "image_size": 16, "train_size": 12,
            "val_size": 2, "num_classes": 3, "repeated_augment": 3}, "train": {"epochs": 1, "batch_size": 6}}
    shown = []
    for rank in range(3):
        session = build_session(parse_spec(tree), home=tmp_path, rank=rank, world_size=3)
        shown += list(session.train_loader.sampler)
    assert len(shown) == 12 and len(set(shown)) == 4  # an epoch keeps its length: 4 images, 3 times each


def test_arena_train_states_the_batch_split_and_the_scaled_lr(arena_env) -> None:  # noqa: ANN001
    spec = parse_spec({"name": "b7", "model": "efficientnet_b0", "data": {"dataset": "synthetic"},
                       "train": {"epochs": 1, "batch_size": 4096, "accumulation_steps": 4,
                                 "optimizer": {"name": "rmsprop", "lr": 0.016, "reference_batch": 256}},
                       "resources": {"workers": 32}})
    assert describe_batch(spec) == ("b7: global batch 4096 = 32 worker(s) x 32 images x 4 accumulation step(s); "
                                    "lr 0.256 (0.016 at the reference batch 256, scaled linearly)")
    tiny = spec.model_copy(update={"train": spec.train.model_copy(update={"batch_size": 64})})
    with pytest.raises(SpecError, match="smaller than resources.workers x train.accumulation_steps"):
        check_job(tiny, load_settings())
