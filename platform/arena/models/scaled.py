"""The `scaled:<id>` models: compound-scaled nets kept as JSON under $ARENA_HOME/models/scaled/.

A search writes each candidate's and each family member's definition here, and publishes it to
MLflow, before anything trains it; every other host caches it here from MLflow
(`training/grown_models.py`), so `arena train`, `arena models show` and every Ray worker (which
only knows the name) can build it. Importing this module registers the `scaled` namespace with the zoo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from arena.models.efficientnet import build_scaled_efficientnet
from arena.models.info import ModelInfo
from arena.models.nas import PREFIX as NAS_PREFIX
from arena.models.nas import build_network, load_nas_architecture
from arena.models.persisted import SavedModels
from arena.models.registry import get_model_info, register_namespace
from arena.models.resnet import build_scaled_resnet

if TYPE_CHECKING:
    from torch import nn

PREFIX = "scaled"


@dataclass(frozen=True)
class ScaledModel:
    """A persisted scaled net: enough to rebuild it, plus where it came from and what it costs."""

    name: str
    """The full model name, scaled:<id>."""
    base: str
    """The name of the base net: efficientnet_b0, resnet50, or a searched nas:<id>."""
    width_multiplier: float
    depth_multiplier: float
    resolution: int
    phi: int
    alpha: float
    beta: float
    gamma: float
    search: str
    """The search that made it."""
    params: int | None = None
    """Counted at 1000 classes, as the zoo counts."""
    gflops: float | None = None
    """GMACs at `resolution`."""


def _grown_base(model: ScaledModel) -> tuple[str, ...]:
    """A base that is itself a saved model (nas:<id>): a host needs its document too."""
    return (model.base,) if model.base.startswith(NAS_PREFIX + ":") else ()


SAVED = SavedModels(PREFIX, ScaledModel, built_from=_grown_base)


def save_scaled_model(model: ScaledModel, home: Path) -> Path:
    """Write the model's JSON under `home` (atomically: a worker may read it at the same moment); return its path."""
    return SAVED.save(model.name, asdict(model), home)


def load_scaled_model(name: str, home: Path) -> ScaledModel | None:
    """Read a persisted scaled model; None when there is none of that name."""
    return SAVED.load(name, home)


def build_architecture(
    base: str, width_multiplier: float, depth_multiplier: float, num_classes: int,
    drop_rate: float | None = None, drop_path_rate: float | None = None, *, home: Path | None = None,
) -> nn.Module:
    """Build `base` scaled by the multipliers; None rates keep the family's defaults; a nas: base is read from `home`."""
    if base.startswith(NAS_PREFIX + ":"):
        if home is None:
            raise ValueError(f"scaling {base!r} needs the arena home it is saved in")
        architecture = load_nas_architecture(base, home)
        if architecture is None:
            raise ValueError(f"no saved NAS model {base!r} to scale")
        return build_network(architecture, num_classes, drop_rate, drop_path_rate,
                             width_multiplier=width_multiplier, depth_multiplier=depth_multiplier)
    rates = {key: value for key, value in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)) if value is not None}
    if base == "efficientnet_b0":
        return build_scaled_efficientnet(width_multiplier, depth_multiplier, num_classes=num_classes, **rates)
    if base == "resnet50":
        return build_scaled_resnet(width_multiplier, depth_multiplier, num_classes=num_classes, **rates)
    raise ValueError(f"no scaled builder for base {base!r}")


def model_info(model: ScaledModel, home: Path) -> ModelInfo:
    """The zoo facts of a scaled model: its base's paper facts (a nas: base read from `home`), its own input size and cost."""
    base = get_model_info(model.base, home)
    contract = base.input
    if base.family == "efficientnet":
        # TensorFlow's EfficientNet evaluation resizes to resolution + 32 before the centre crop.
        contract = replace(contract, resolution=model.resolution, crop_pct=round(model.resolution / (model.resolution + 32), 3))
    else:
        contract = replace(contract, resolution=model.resolution)
    return ModelInfo(
        name=model.name,
        family=base.family,
        year=2019,
        paper_title="EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
        paper_authors="Tan, Le",
        key_idea=(
            f"{model.base} grown by compound scaling: depth x{model.depth_multiplier:.3g}, width "
            f"x{model.width_multiplier:.3g}, {model.resolution} px (alpha={model.alpha}, beta={model.beta}, "
            f"gamma={model.gamma}, phi={model.phi})."
        ),
        block=base.block,
        input=contract,
        paper_top1_error=None,
        paper_top5_error=None,
        params=model.params,
        gflops=model.gflops,
        notes=f"Made by the compound-scaling search {model.search!r}; no paper figures.",
    )


def _resolve(name: str, home: Path) -> tuple[ModelInfo, Callable[..., nn.Module]] | None:
    model = load_scaled_model(name, home)
    if model is None:
        return None

    def builder(num_classes: int, drop_rate: float | None = None, drop_path_rate: float | None = None) -> nn.Module:
        return build_architecture(model.base, model.width_multiplier, model.depth_multiplier, num_classes, drop_rate,
                                  drop_path_rate, home=home)

    return model_info(model, home), builder


register_namespace(PREFIX, _resolve, SAVED.names, saved=SAVED)
