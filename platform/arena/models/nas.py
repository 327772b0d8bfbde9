"""The `nas:<id>` models: searched architectures kept as JSON under $ARENA_HOME/models/nas/.

An architecture is a small JSON document, `{"version": 1, "stages": [7 stage objects]}`, each stage
naming its op, kernel, expansion, se_ratio, skip, filters and layers (see `nas_network`). The NAS
search writes every candidate here, and publishes it to MLflow, before it trains; every other host
caches it here from MLflow (`training/grown_models.py`), so Ray workers, `arena train` and `arena
models show` can build it by name. Importing this module registers the `nas` namespace.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from torch import nn

from arena.errors import SpecError
from arena.models.info import ModelInfo, imagenet_input
from arena.models.nas_stages import EXPANSIONS, HEAD_FILTERS, KERNELS, OPS, SE_RATIOS, SKELETON, SKIPS, STEM_FILTERS, Stage
from arena.models.persisted import SavedModels
from arena.models.registry import register_namespace
from arena.models.stage_layout import StageLayout, scaled_layout

PREFIX = "nas"
VERSION = 1
STAGE_FIELDS = ("op", "kernel", "expansion", "se_ratio", "skip", "filters", "layers")


@dataclass(frozen=True)
class Architecture:
    """A searched net: one Stage per skeleton stage."""

    stages: tuple[Stage, ...]
    version: int = VERSION

    def to_json(self) -> dict[str, Any]:
        """The architecture document."""
        return {"version": self.version, "stages": [asdict(stage) for stage in self.stages]}

    @property
    def id(self) -> str:
        """A short content hash: equal architectures get equal ids."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(canonical.encode()).hexdigest()[:10]

    def describe(self) -> str:
        """One line per stage, readable."""
        return "; ".join(f"{i + 1}: {describe_stage(stage)}" for i, stage in enumerate(self.stages))


def describe_stage(stage: Stage) -> str:
    """A stage in MnasNet's notation, e.g. `MBConv6 k5 SE x3 -> 40 (skip)`."""
    name = {"conv": "Conv", "sepconv": "SepConv", "mbconv": f"MBConv{stage.expansion}"}[stage.op]
    se = " SE" if stage.se_ratio else ""
    skip = " +id" if stage.skip == "identity" else ""
    return f"{name} k{stage.kernel}{se}{skip} x{stage.layers} -> {stage.filters}"


def _stage_problems(index: int, stage: Any) -> list[str]:
    where = f"stages[{index}]"
    if not isinstance(stage, dict):
        return [f"{where}: expected an object with {', '.join(STAGE_FIELDS)}, got {stage!r}"]
    problems = [f"{where}.{key}: unknown key (valid: {', '.join(STAGE_FIELDS)})" for key in stage if key not in STAGE_FIELDS]
    problems += [f"{where}.{key}: required field is missing" for key in STAGE_FIELDS if key not in stage]
    choices = {"op": OPS, "kernel": KERNELS, "expansion": EXPANSIONS, "se_ratio": SE_RATIOS, "skip": SKIPS}
    for key, valid in choices.items():
        value = stage.get(key)
        if key in stage and (isinstance(value, bool) or value not in valid):
            problems.append(f"{where}.{key}: {value!r} is not one of {', '.join(map(str, valid))}")
    if stage.get("op") in ("conv", "sepconv") and stage.get("expansion", 1) != 1:
        problems.append(f"{where}.expansion: {stage['op']} has no expansion; it must be 1, got {stage['expansion']!r}")
    for key, lowest in (("filters", 8), ("layers", 1)):
        value = stage.get(key)
        if key in stage and (not isinstance(value, int) or isinstance(value, bool) or value < lowest):
            problems.append(f"{where}.{key}: must be an integer >= {lowest}, got {value!r}")
    filters = stage.get("filters")
    if isinstance(filters, int) and filters >= 8 and filters % 8:
        problems.append(f"{where}.filters: must be a multiple of 8, got {filters}")
    return problems


def parse_architecture(document: Any, source: str = "architecture") -> Architecture:
    """Validate an architecture document; every problem, each naming its field, is raised together."""
    if not isinstance(document, dict):
        raise SpecError([f"expected an object with version and stages, got {type(document).__name__}"], source)
    problems = [f"{key}: unknown key (valid: version, stages)" for key in document if key not in ("version", "stages")]
    if document.get("version") != VERSION:
        problems.append(f"version: must be {VERSION}, got {document.get('version')!r}")
    stages = document.get("stages")
    if not isinstance(stages, list):
        problems.append(f"stages: required list of {len(SKELETON)} stages, got {stages!r}")
    else:
        if len(stages) != len(SKELETON):
            problems.append(f"stages: the skeleton has {len(SKELETON)} stages, got {len(stages)}")
        for index, stage in enumerate(stages):
            problems += _stage_problems(index, stage)
    if problems:
        raise SpecError(problems, source)
    return Architecture(tuple(Stage(**{key: stage[key] for key in STAGE_FIELDS}) for stage in stages))


def layout_of(architecture: Architecture) -> StageLayout:
    """The architecture's stage table: its stages' filters and layers between B0's stem and head."""
    return StageLayout(
        stem_width=STEM_FILTERS,
        stage_widths=tuple(stage.filters for stage in architecture.stages),
        stage_depths=tuple(stage.layers for stage in architecture.stages),
        head_width=HEAD_FILTERS,
    )


def build_network(
    architecture: Architecture, num_classes: int, drop_rate: float | None = None, drop_path_rate: float | None = None,
    *, width_multiplier: float = 1.0, depth_multiplier: float = 1.0,
) -> nn.Module:
    """Build the architecture, compound-scaled by the multipliers (stem and head widen with the stages).

    None rates keep MnasNet's 0.2 dropout and no stochastic depth.
    """
    from arena.models.nas_network import NasNetwork  # torch loads only when a net is built

    # Compound scaling's rounding (`stage_layout`); multipliers of 1 leave every count as it is.
    layout = scaled_layout(layout_of(architecture), width_multiplier, depth_multiplier)
    stages = tuple(
        replace(stage, filters=filters, layers=layers)
        for stage, filters, layers in zip(architecture.stages, layout.stage_widths, layout.stage_depths)
    )
    return NasNetwork(
        stages, num_classes, 0.2 if drop_rate is None else drop_rate, drop_path_rate or 0.0,
        stem_filters=layout.stem_width, head_filters=layout.head_width,
    )


@dataclass(frozen=True)
class NasModel:
    """A persisted architecture with where it came from and what it costs."""

    name: str
    """The full model name, nas:<id>."""
    architecture: dict[str, Any]
    """The architecture document."""
    resolution: int
    """The side it was searched (and priced) at."""
    search: str
    params: int | None = None
    """Counted with the search's classifier size."""
    gflops: float | None = None
    """GMACs at `resolution`."""
    latency_ms: float | None = None
    """Measured CPU latency per image at batch 1, when the search used latency."""
    reward: float | None = None
    val_top1_error: float | None = None


SAVED = SavedModels(PREFIX, NasModel)


def save_nas_model(model: NasModel, home: Path) -> Path:
    """Validate and write the model's JSON under `home` atomically (a worker may read it meanwhile); return its path."""
    parse_architecture(model.architecture, source=model.name)
    return SAVED.save(model.name, asdict(model), home)


def load_nas_model(name: str, home: Path) -> NasModel | None:
    """Read a persisted nas model; None when there is none of that name."""
    return SAVED.load(name, home)


def load_nas_architecture(name: str, home: Path) -> Architecture | None:
    """The validated architecture of a persisted nas model; None when there is none of that name."""
    model = load_nas_model(name, home)
    return None if model is None else parse_architecture(model.architecture, source=name)


def nas_model_names(home: Path) -> list[str]:
    """Every persisted nas model name under `home`."""
    return SAVED.names(home)


def model_info(model: NasModel, architecture: Architecture) -> ModelInfo:
    """The zoo facts of a searched net: MnasNet's paper, its stages, its input size and cost."""
    found = f"val top-1 error {model.val_top1_error:.2f}%, reward {model.reward:.4f}" if model.reward is not None else ""
    return ModelInfo(
        name=model.name,
        family="nas",
        year=2019,
        paper_title="MnasNet: Platform-Aware Neural Architecture Search for Mobile",
        paper_authors="Tan, Chen, Pang, Vasudevan, Sandler, Howard, Le",
        key_idea=(
            "Found by a MnasNet-style search over a factorised hierarchical space: each of B0's 7 stages picks "
            "its own block (conv, sepconv, MBConv), kernel, expansion, SE, skip, width and depth, rewarded by "
            "ACC x (cost/target)^w."
        ),
        block=architecture.describe(),
        input=imagenet_input(model.resolution, min_input=1),
        paper_top1_error=None,
        paper_top5_error=None,
        params=model.params,
        gflops=model.gflops,
        notes=f"Made by the NAS search {model.search!r}" + (f" ({found})" if found else "") + "; no paper figures.",
    )


def _resolve(name: str, home: Path) -> tuple[ModelInfo, Callable[..., nn.Module]] | None:
    model = load_nas_model(name, home)
    if model is None:
        return None
    architecture = parse_architecture(model.architecture, source=name)

    def builder(num_classes: int, drop_rate: float | None = None, drop_path_rate: float | None = None) -> nn.Module:
        return build_network(architecture, num_classes, drop_rate, drop_path_rate)

    return model_info(model, architecture), builder


register_namespace(PREFIX, _resolve, SAVED.names, saved=SAVED)
