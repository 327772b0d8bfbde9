"""The plain-PyTorch loop (no Ray): steps, precision, clipping, schedules, EMA and checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from arena.spec import ScheduleSpec, parse_spec
from arena.training.checkpoint import Checkpoint
from arena.training.loop import evaluate, train_one_epoch
from arena.training.optim import adaptive_gradient_clip, build_ema, lr_factor
from arena.training.session import build_session


def tiny_net(classes: int = 3) -> nn.Module:
    # No conv bias before batch norm: its gradient is zero by construction, so "every weight moves" could not hold.
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes))


def loader(n: int = 32, classes: int = 3, batch: int = 8) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(n, 3, 16, 16, generator=generator)
    labels = torch.randint(0, classes, (n,), generator=generator)
    return DataLoader(TensorDataset(images, labels), batch_size=batch)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_two_steps_change_the_weights_and_report_throughput(precision: str) -> None:
    model = tiny_net()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    steps = []
    result = train_one_epoch(
        model, loader(), optimizer, nn.CrossEntropyLoss(), device=torch.device("cpu"),
        precision=precision, max_steps=2, on_step=lambda step, images, seconds: steps.append((step, images)),
    )
    assert steps == [(1, 8), (2, 16)]
    assert result["images"] == 16 and result["steps"] == 2
    assert result["images_per_second"] > 0 and math.isfinite(result["train_loss"])
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_bf16_autocast_really_computes_in_bfloat16() -> None:
    seen = []
    model = tiny_net()
    model[0].register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    train_one_epoch(model, loader(), torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                    device=torch.device("cpu"), precision="bf16", max_steps=1)
    assert seen == [torch.bfloat16]


def test_channels_last_inputs_train() -> None:
    model = tiny_net().to(memory_format=torch.channels_last)
    result = train_one_epoch(model, loader(), torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                             device=torch.device("cpu"), channels_last=True, max_steps=1)
    assert result["steps"] == 1


def test_evaluate_counts_top1_and_top5_errors() -> None:
    class Fixed(nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            # class scores 0 > 1 > ... > 5 > 6: top-1 is class 0, top-5 is classes 0-4
            return torch.arange(7, 0, -1, dtype=torch.float32).expand(images.shape[0], 7)

    images = torch.zeros(4, 3, 2, 2)
    labels = torch.tensor([0, 3, 5, 6])  # right, in top 5, wrong, wrong
    metrics = evaluate(Fixed(), DataLoader(TensorDataset(images, labels), batch_size=2), nn.CrossEntropyLoss(), device=torch.device("cpu"))
    assert metrics["val_top1_error"] == pytest.approx(75.0)
    assert metrics["val_top5_error"] == pytest.approx(50.0)


def test_adaptive_gradient_clipping_bounds_the_unit_wise_ratio() -> None:
    weight = nn.Parameter(torch.ones(4, 3))
    weight.grad = torch.full((4, 3), 100.0)
    adaptive_gradient_clip([weight], clip=0.01)
    ratio = weight.grad.norm(dim=1) / weight.detach().norm(dim=1)
    assert torch.allclose(ratio, torch.full((4,), 0.01), atol=1e-5)
    small = nn.Parameter(torch.ones(2, 2))
    small.grad = torch.full((2, 2), 1e-4)
    adaptive_gradient_clip([small], clip=0.01)
    assert torch.equal(small.grad, torch.full((2, 2), 1e-4))  # under the threshold: untouched


@pytest.mark.parametrize(
    ("schedule", "epoch", "expected"),
    [
        (ScheduleSpec(name="step", step_size=30, gamma=0.1), 65, 0.01),
        (ScheduleSpec(name="multistep", milestones=(30, 60, 80), gamma=0.1), 80, 0.001),
        (ScheduleSpec(name="exponential", gamma=0.5), 3, 0.125),
        (ScheduleSpec(name="cosine"), 50, 0.5),
        (ScheduleSpec(name="cosine", warmup_epochs=5), 0, 0.1),
        (ScheduleSpec(name="constant"), 99, 1.0),
    ],
)
def test_schedules_follow_the_papers(schedule: ScheduleSpec, epoch: int, expected: float) -> None:
    assert lr_factor(schedule, epoch, total_epochs=100) == pytest.approx(expected)


def test_ema_lags_behind_the_live_weights() -> None:
    model = nn.Linear(2, 1)
    ema = build_ema(model, 0.9)
    ema.update_parameters(model)  # the first update copies the weights
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update_parameters(model)
    assert torch.allclose(ema.module.weight, start + 0.1)  # 0.9 * old + 0.1 * new


def synthetic_spec(**train: object):
    return parse_spec({
        "name": "loop", "model": "resnet18",
        "data": {"dataset": "synthetic", "image_size": 32, "num_classes": 4, "train_size": 16, "val_size": 8},
        "train": {"epochs": 2, "batch_size": 8, "max_steps_per_epoch": 2, **train},
    })


def test_session_trains_two_steps_on_synthetic_and_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    spec = synthetic_spec(optimizer={"name": "sgd", "lr": 0.05, "nesterov": True}, ema_decay=0.99)
    session = build_session(spec, home=tmp_path)
    first = session.run_epoch()
    assert first["epoch"] == 1 and first["steps"] == 2
    assert set(first) >= {"train_loss", "val_loss", "val_top1_error", "val_top5_error", "images_per_second", "lr"}
    session.to_checkpoint().save(tmp_path / "ckpt")
    checkpoint = Checkpoint.load(tmp_path / "ckpt")
    assert checkpoint.epoch == 1 and checkpoint.model_name == "resnet18" and "name: loop" in checkpoint.spec_yaml
    assert not any(key.startswith(("module.", "_orig_mod.")) for key in checkpoint.model)
    assert checkpoint.ema is not None and checkpoint.eval_weights is checkpoint.ema
    resumed = build_session(spec, home=tmp_path)
    resumed.restore(checkpoint)
    assert resumed.epoch == 1 and resumed.history == session.history
    for key, value in resumed.model.state_dict().items():
        assert torch.equal(value, session.model.state_dict()[key])
    assert resumed.run_epoch()["epoch"] == 2


@pytest.mark.parametrize("optimizer", ["rmsprop", "adamw"])
def test_paper_optimizers_and_agc_run(tmp_path: Path, optimizer: str) -> None:
    spec = synthetic_spec(optimizer={"name": optimizer, "lr": 0.001}, agc_clip=0.01, label_smoothing=0.1, precision="bf16")
    row = build_session(spec, home=tmp_path).run_epoch()
    assert math.isfinite(row["train_loss"])


def test_checkpoint_loading_refuses_a_torn_file(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    from arena.errors import ArenaError

    with pytest.raises(ArenaError, match="cannot read checkpoint"):
        Checkpoint.load(tmp_path)


def test_a_checkpoint_saved_as_a_plain_dict_loads_and_one_missing_fields_is_named(tmp_path: Path) -> None:
    from arena.training.checkpoint import NotACheckpoint

    fields = {"model": {"w": torch.ones(1)}, "optimizer": {}, "scheduler": {}, "epoch": 3, "best_val_top1_error": 9.5,
              "history": [], "spec_yaml": "name: old", "model_name": "resnet18", "num_classes": 4, "class_names": list("abcd")}
    torch.save(fields, tmp_path / "checkpoint.pt")  # what arena wrote before checkpoints were a record
    checkpoint = Checkpoint.load(tmp_path)
    assert checkpoint.epoch == 3 and checkpoint.scaler is None and checkpoint.eval_weights is checkpoint.model
    torch.save({key: value for key, value in fields.items() if key not in {"optimizer", "class_names"}}, tmp_path / "checkpoint.pt")
    with pytest.raises(NotACheckpoint, match="missing optimizer, class_names"):
        Checkpoint.load(tmp_path)


def test_top_k_misses_counts_the_label_among_the_best_classes() -> None:
    from arena.training.metrics import top_k_misses

    scores = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    wrong1, wrong2 = top_k_misses(scores, torch.tensor([0, 1, 2]), k=2)
    assert wrong1.tolist() == [False, True, True] and wrong2.tolist() == [False, False, True]
    assert top_k_misses(scores, torch.tensor([0, 1, 2]))[1].tolist() == [False, False, False]  # 3 classes < top-5
