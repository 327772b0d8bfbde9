"""Each ILSVRC recipe against its paper: a table of what the papers state, checked field by field.

A new recipe under jobs/ilsvrc/ must join the table. The lr is stated at the paper's reference batch
and checked again at the recipe's global batch (linear scaling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arena.spec import JobSpec, load_spec

RECIPES = Path(__file__).resolve().parents[1] / "jobs" / "ilsvrc"

# Caffe and Torch7 recipes decayed every parameter; the TensorFlow and timm ones skip norms and biases.
CAFFE_SGD = {"optimizer": "sgd", "momentum": 0.9, "decay_on": "all", "label_smoothing": 0.0, "ema": None,
             "drop_path": None, "bn_momentum": None, "auto_augment": "none", "mixup": 0.0, "cutmix": 0.0,
             "random_erasing": 0.0, "repeated": 1, "clip": None}
# "lr divided by 10 when the validation error rate stopped improving" (AlexNet 5, ZFNet 3, VGG 3.1)
PLATEAU = {"schedule": "plateau", "gamma": 0.1, "warmup": 0}
ALEXNET = {**CAFFE_SGD, **PLATEAU, "lr": 0.01, "reference_batch": 128, "batch": 128, "weight_decay": 5e-4, "dropout": 0.5}
VGG = {**ALEXNET, "reference_batch": 256, "batch": 256, "epochs": 74}
# He et al. 2015 section 3.4 (the Torch7 schedule: /10 every 30 epochs), also Xie et al. and Zagoruyko et al.
RESNET = {**CAFFE_SGD, "lr": 0.1, "reference_batch": 256, "batch": 256, "weight_decay": 1e-4, "schedule": "step",
          "step_size": 30, "gamma": 0.1, "warmup": 0, "epochs": 90, "dropout": None}
SENET = {**RESNET, "lr": 0.6, "reference_batch": 1024, "batch": 1024, "epochs": 100}  # Hu et al. section 6
# Szegedy et al. 2016: RMSProp decay 0.9, eps 1.0, lr 0.045 x 0.94 every 2 epochs, batch 32 x 50 replicas.
INCEPTION = {"optimizer": "rmsprop", "lr": 0.045, "reference_batch": 1600, "batch": 1600, "alpha": 0.9, "eps": 1.0,
             "weight_decay": 4e-5, "decay_on": "weights", "schedule": "exponential", "gamma": 0.94 ** 0.5, "warmup": 0,
             "epochs": 100, "label_smoothing": 0.1, "ema": None, "bn_momentum": None, "auto_augment": "none",
             "mixup": 0.0, "cutmix": 0.0, "random_erasing": 0.0, "repeated": 1}
# Tan & Le 2019 section 5.2 and its TPU code: RMSProp 0.9/0.9, bn momentum 0.99, wd 1e-5, lr 0.016 x batch/256
# decayed 0.97 every 2.4 epochs after 5 warmup epochs, AutoAugment, stochastic depth 0.2, EMA 0.9999, 350 epochs.
EFFICIENTNET = {"optimizer": "rmsprop", "lr": 0.016, "reference_batch": 256, "batch": 4096, "alpha": 0.9, "eps": 1e-3,
                "momentum": 0.9, "weight_decay": 1e-5, "decay_on": "weights", "schedule": "exponential",
                "gamma": 0.97 ** (1 / 2.4), "warmup": 5, "epochs": 350, "label_smoothing": 0.0, "ema": 0.9999,
                "drop_path": 0.2, "bn_momentum": 0.01, "auto_augment": "autoaugment", "mixup": 0.0, "cutmix": 0.0,
                "random_erasing": 0.0, "repeated": 1, "clip": None}
# Brock et al. 2021 appendix C: Nesterov SGD, lr 0.1 x batch/256 at batch 4096, 5 warmup epochs then cosine,
# wd 2e-5 not on gains and biases, 360 epochs, AGC 0.01, label smoothing 0.1, EMA 0.99999, stochastic depth 0.25.
NFNET = {"optimizer": "sgd", "nesterov": True, "momentum": 0.9, "lr": 0.1, "reference_batch": 256, "batch": 4096,
         "weight_decay": 2e-5, "decay_on": "weights", "schedule": "cosine", "warmup": 5, "epochs": 360,
         "label_smoothing": 0.1, "ema": 0.99999, "drop_path": 0.25, "agc": 0.01, "auto_augment": "randaugment",
         "mixup": 0.2, "cutmix": 1.0, "random_erasing": 0.0, "repeated": 1, "bn_momentum": None}
# Touvron et al. 2021 table 9: AdamW lr 5e-4 x batch/512, wd 0.05, cosine after 5 warmup epochs, 300 epochs,
# RandAugment, mixup 0.8, cutmix 1.0, random erasing 0.25, repeated augmentation 3, label smoothing 0.1, sd 0.1.
DEIT = {"optimizer": "adamw", "lr": 5e-4, "reference_batch": 512, "batch": 1024, "weight_decay": 0.05,
        "decay_on": "weights", "schedule": "cosine", "warmup": 5, "epochs": 300, "label_smoothing": 0.1,
        "ema": None, "drop_path": 0.1, "auto_augment": "randaugment", "mixup": 0.8, "cutmix": 1.0,
        "random_erasing": 0.25, "repeated": 3, "clip": None, "bn_momentum": None}

PAPERS: dict[str, dict[str, Any]] = {
    "alexnet": {**ALEXNET, "epochs": 90},
    "zfnet": {**ALEXNET, "epochs": 70},  # Zeiler & Fergus section 3: AlexNet's recipe, annealed by hand
    "vgg11": VGG, "vgg16": VGG, "vgg19": VGG,
    # Szegedy et al. 2014 section 6: momentum 0.9, lr down 4% every 8 epochs (wd 2e-4 from its Caffe solver).
    "googlenet": {**CAFFE_SGD, "lr": 0.01, "reference_batch": 256, "batch": 256, "weight_decay": 2e-4,
                  "schedule": "exponential", "gamma": 0.96 ** (1 / 8), "warmup": 0, "epochs": 120, "dropout": 0.4},
    "inception_v3": {**INCEPTION, "clip": 2.0},  # "gradient clipping with threshold 2.0"
    "inception_v4": {**INCEPTION, "clip": None}, "inception_resnet_v2": {**INCEPTION, "clip": None},
    **{name: RESNET for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                                 "wide_resnet50_2")},
    **{name: SENET for name in ("seresnet50", "seresnext50_32x4d", "senet154")},
    **{f"efficientnet_b{index}": {**EFFICIENTNET, "dropout": dropout}
       for index, dropout in enumerate((0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5))},
    **{f"nfnet_f{index}": {**NFNET, "dropout": dropout} for index, dropout in enumerate((0.2, 0.3, 0.4, 0.4))},
    "vit_b_16": DEIT,  # ImageNet-1k alone: the DeiT recipe beats the ViT paper's own
    "deit_s": DEIT,
    # Liu et al. 2021 appendix A2.1: DeiT's recipe without repeated augmentation and EMA, 20 warmup epochs,
    # gradient clipping at norm 5, stochastic depth 0.2 for Swin-T.
    "swin_t": {**DEIT, "warmup": 20, "repeated": 1, "clip": 5.0, "drop_path": 0.2},
}

FIELDS = {  # table key -> where the spec holds it
    "optimizer": "train.optimizer.name", "lr": "train.optimizer.lr", "reference_batch": "train.optimizer.reference_batch",
    "batch": "train.batch_size", "momentum": "train.optimizer.momentum", "nesterov": "train.optimizer.nesterov",
    "alpha": "train.optimizer.alpha", "eps": "train.optimizer.eps", "weight_decay": "train.optimizer.weight_decay",
    "decay_on": "train.optimizer.weight_decay_on", "schedule": "train.schedule.name", "gamma": "train.schedule.gamma",
    "step_size": "train.schedule.step_size", "warmup": "train.schedule.warmup_epochs", "epochs": "train.epochs",
    "label_smoothing": "train.label_smoothing", "ema": "train.ema_decay", "drop_path": "train.drop_path_rate",
    "dropout": "train.drop_rate", "bn_momentum": "train.bn_momentum", "clip": "train.clip_grad_norm",
    "agc": "train.agc_clip", "auto_augment": "data.augment.auto_augment", "mixup": "data.augment.mixup_alpha",
    "cutmix": "data.augment.cutmix_alpha", "random_erasing": "data.augment.random_erasing",
    "repeated": "data.repeated_augment",
}


def _same(value: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(value, float):
        return value == pytest.approx(expected, rel=1e-4)
    return value == expected and type(value) is type(expected)


def _get(spec: JobSpec, path: str) -> Any:
    value: Any = spec
    for part in path.split("."):
        value = getattr(value, part)
    return value


def test_every_recipe_has_a_row_and_every_row_a_recipe() -> None:
    assert sorted(path.stem for path in RECIPES.glob("*.yaml")) == sorted(PAPERS)


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_recipe_matches_its_paper(name: str) -> None:
    spec = load_spec(RECIPES / f"{name}.yaml")
    wrong = {key: (_get(spec, FIELDS[key]), expected) for key, expected in PAPERS[name].items()
             if not _same(_get(spec, FIELDS[key]), expected)}
    assert not wrong, f"{name}: (recipe, paper) differ for {wrong}"
    assert spec.data.dataset == "imagenet"  # trained through a prepared folder's index


@pytest.mark.parametrize(("name", "lr"), [("efficientnet_b0", 0.256), ("nfnet_f0", 1.6), ("deit_s", 1e-3),
                                          ("swin_t", 1e-3), ("resnet50", 0.1), ("alexnet", 0.01)])
def test_lr_scales_linearly_from_the_reference_batch(name: str, lr: float) -> None:
    spec = load_spec(RECIPES / f"{name}.yaml")
    assert spec.train.scaled_lr() == pytest.approx(lr)
    halved = load_spec(RECIPES / f"{name}.yaml", [f"train.batch_size={spec.train.batch_size // 2}"])
    assert halved.train.scaled_lr() == pytest.approx(lr / 2)


@pytest.mark.parametrize(("name", "most_per_gpu"), [("efficientnet_b7", 32), ("nfnet_f3", 64)])
def test_largest_models_keep_the_paper_batch_without_holding_it_at_once(name: str, most_per_gpu: int) -> None:
    spec = load_spec(RECIPES / f"{name}.yaml")
    workers, accumulation = spec.resources.workers, spec.train.accumulation_steps
    assert spec.train.batch_size == 4096 and accumulation > 1
    assert spec.train.micro_batch(workers) <= most_per_gpu
    assert spec.train.micro_batch(workers) * workers * accumulation == 4096
