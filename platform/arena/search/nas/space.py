"""MnasNet's factorised hierarchical search space on B0's skeleton: pure sampling, mutation, encoding.

Per stage (Tan et al., 2019, section 4.1): conv op (conv, sepconv, MBConv), kernel 3 or 5, MBConv
expansion 1/3/6, SE ratio 0 or 0.25, skip (none or identity), filters of the skeleton's -25%, 0,
+25% (the nearest multiple of 8, `stage_layout.round_to_multiple`) and layers of the skeleton's -1,
0, +1 (at least one). Nothing here builds a network; every function takes and returns plain values.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from arena.models.nas import Architecture
from arena.models.nas_stages import EXPANSIONS, KERNELS, OPS, SE_RATIOS, SKELETON, SKIPS, Stage
from arena.models.stage_layout import round_to_multiple

FILTER_CHANGES = (-0.25, 0.0, 0.25)
LAYER_CHANGES = (-1, 0, 1)


def stage_choices(index: int) -> dict[str, tuple[Any, ...]]:
    """Every value each field of stage `index` may take."""
    fixed = SKELETON[index]
    return {
        "op": OPS,
        "kernel": KERNELS,
        "expansion": EXPANSIONS,
        "se_ratio": SE_RATIOS,
        "skip": SKIPS,
        "filters": tuple(sorted({round_to_multiple(fixed.filters * (1 + change)) for change in FILTER_CHANGES})),
        "layers": tuple(sorted({max(1, fixed.layers + change) for change in LAYER_CHANGES})),
    }


def outside_space(architecture: Architecture) -> list[str]:
    """Why a (valid) architecture is not in the search space: one line a field; [] when it is."""
    problems = []
    for index, stage in enumerate(architecture.stages):
        for key in ("filters", "layers"):
            allowed = stage_choices(index)[key]
            if getattr(stage, key) not in allowed:
                problems.append(f"stages[{index}].{key}: {getattr(stage, key)} is outside the space ({', '.join(map(str, allowed))})")
    return problems


def _stage(values: Mapping[str, Any]) -> Stage:
    # Only MBConv expands; the other ops carry expansion 1 so equal nets get equal ids.
    expansion = values["expansion"] if values["op"] == "mbconv" else 1
    return Stage(values["op"], values["kernel"], expansion, values["se_ratio"], values["skip"], values["filters"], values["layers"])


def sample_architecture(rng: random.Random) -> Architecture:
    """Draw every choice of every stage uniformly."""
    stages = []
    for index in range(len(SKELETON)):
        stages.append(_stage({key: rng.choice(values) for key, values in stage_choices(index).items()}))
    return Architecture(tuple(stages))


def sample_architectures(count: int, seed: int) -> list[Architecture]:
    """`count` seeded uniform samples (duplicates possible, as in random search)."""
    rng = random.Random(seed)
    return [sample_architecture(rng) for _ in range(count)]


def mutate(architecture: Architecture, rng: random.Random) -> Architecture:
    """Change one field of one stage to another value of the space (regularised evolution's step)."""
    while True:
        index = rng.randrange(len(architecture.stages))
        stage = architecture.stages[index]
        choices = stage_choices(index)
        key = rng.choice(list(choices))
        if key == "expansion" and stage.op != "mbconv":
            continue  # expansion means nothing for conv and sepconv: pick another field
        others = [value for value in choices[key] if value != getattr(stage, key)]
        if not others:
            continue  # e.g. a stage whose -25% and 0 widths round alike and has only one
        values = {**asdict(stage), key: rng.choice(others)}
        if key == "op" and values["op"] == "mbconv" and stage.op != "mbconv":
            values["expansion"] = rng.choice(EXPANSIONS)
        stages = list(architecture.stages)
        stages[index] = _stage(values)
        return replace(architecture, stages=tuple(stages))


def flat_space() -> dict[str, tuple[Any, ...]]:
    """The space as one categorical per stage field, `stage<i>.<field>` (what TPE samples)."""
    return {f"stage{index}.{key}": values for index in range(len(SKELETON)) for key, values in stage_choices(index).items()}


def from_flat(values: Mapping[str, Any]) -> Architecture:
    """The architecture a flat sample (see `flat_space`) stands for."""
    stages = []
    for index in range(len(SKELETON)):
        stages.append(_stage({key: values[f"stage{index}.{key}"] for key in stage_choices(index)}))
    return Architecture(tuple(stages))


def to_flat(architecture: Architecture) -> dict[str, Any]:
    """The flat encoding of an architecture (inverse of `from_flat`)."""
    return {f"stage{index}.{key}": value for index, stage in enumerate(architecture.stages) for key, value in asdict(stage).items()}


def skeleton_architecture() -> Architecture:
    """EfficientNet-B0's own choices (MBConv, SE, identity skips) in this space: a seed and a yardstick."""
    kernels = (3, 3, 5, 3, 5, 5, 3)
    expansions = (1, 6, 6, 6, 6, 6, 6)
    return Architecture(tuple(
        Stage("mbconv", kernel, expansion, 0.25, "identity", fixed.filters, fixed.layers)
        for fixed, kernel, expansion in zip(SKELETON, kernels, expansions)
    ))
