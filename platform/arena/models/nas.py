"""The `nas:<id>` models: searched architectures persisted as JSON under $ARENA_HOME/models/nas/.

An architecture is a small JSON document, `{"version": 1, "stages": [7 stage objects]}`, each stage
naming its op, kernel, expansion, se_ratio, skip, filters and layers (see `nas_network`). The NAS
search writes every candidate here before it trains, so Ray workers, `arena train` and `arena
models show` can build it by name. Importing this module registers the `nas` namespace.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from torch import nn

from arena.errors import SpecError
from arena.models.info import ModelInfo, imagenet_input
from arena.models.persisted import document_names, document_path, read_document, record_from_document, write_document
from arena.models.nas_stages import EXPANSIONS, HEAD_FILTERS, KERNELS, OPS, SE_RATIOS, SKELETON, SKIPS, STEM_FILTERS, Stage
from arena.models.registry import register_namespace
from arena.models.resnet import round_channels
from arena.settings import load_settings

PREFIX = "nas"
FOLDER = Path("models") / "nas"
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


def scale_stages(stages: Sequence[Stage], width_multiplier: float, depth_multiplier: float) -> tuple[Stage, ...]:
    """Each stage's filters times width_multiplier and layers times depth_multiplier, as compound scaling rounds them.

    Filters round to a multiple of 8 keeping at least 90% (`round_channels`, the rule of every scaled
    builder), layers round up; multipliers of 1 return the stages unchanged.
    """
    if width_multiplier <= 0 or depth_multiplier <= 0:
        raise ValueError(f"width_multiplier and depth_multiplier must be positive, got {width_multiplier}, {depth_multiplier}")
    return tuple(
        replace(stage, filters=round_channels(stage.filters * width_multiplier), layers=math.ceil(depth_multiplier * stage.layers))
        for stage in stages
    )


def build_network(
    architecture: Architecture, num_classes: int, drop_rate: float | None = None, drop_path_rate: float | None = None,
    *, width_multiplier: float = 1.0, depth_multiplier: float = 1.0,
) -> nn.Module:
    """Build the architecture, compound-scaled by the multipliers (stem and head widen with the stages).

    None rates keep MnasNet's 0.2 dropout and no stochastic depth.
    """
    from arena.models.nas_network import NasNetwork  # torch loads only when a net is built

    return NasNetwork(
        scale_stages(architecture.stages, width_multiplier, depth_multiplier), num_classes,
        0.2 if drop_rate is None else drop_rate, drop_path_rate or 0.0,
        stem_filters=round_channels(STEM_FILTERS * width_multiplier),
        head_filters=round_channels(HEAD_FILTERS * width_multiplier),
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


def models_folder(home: Path) -> Path:
    """Where the nas models of an arena home live."""
    return home / FOLDER


def _path_of(name: str, home: Path) -> Path | None:
    return document_path(models_folder(home), PREFIX, name)


def save_nas_model(model: NasModel, home: Path) -> Path:
    """Validate and write the model's JSON atomically (a worker may read it meanwhile); return its path."""
    path = _path_of(model.name, home)
    if not model.name.startswith(PREFIX + ":") or path is None:
        raise ValueError(f"nas model names look like {PREFIX}:<id>, got {model.name!r}")
    parse_architecture(model.architecture, source=model.name)
    return write_document(path, asdict(model))


def load_nas_model(name: str, home: Path) -> NasModel | None:
    """Read a persisted nas model; None when there is none of that name."""
    document = read_document(_path_of(name, home))
    return None if document is None else record_from_document(NasModel, document, name)


def load_nas_architecture(name: str, home: Path) -> Architecture | None:
    """The validated architecture of a persisted nas model; None when there is none of that name."""
    model = load_nas_model(name, home)
    return None if model is None else parse_architecture(model.architecture, source=name)


def nas_model_names(home: Path) -> list[str]:
    """Every persisted nas model name under `home`."""
    return document_names(models_folder(home), PREFIX)


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


def _resolve(name: str) -> tuple[ModelInfo, Callable[..., nn.Module]] | None:
    # The home is read at lookup time: a Ray worker gets ARENA_HOME from the job's environment.
    model = load_nas_model(name, load_settings().home)
    if model is None:
        return None
    architecture = parse_architecture(model.architecture, source=name)

    def builder(num_classes: int, drop_rate: float | None = None, drop_path_rate: float | None = None) -> nn.Module:
        return build_network(architecture, num_classes, drop_rate, drop_path_rate)

    return model_info(model, architecture), builder


def _list_names() -> list[str]:
    return nas_model_names(load_settings().home)


register_namespace(PREFIX, _resolve, _list_names)
