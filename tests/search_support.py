"""Tiny search specs on digits and a fresh-process model lookup, shared by the search tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def tiny_search_tree(name: str, epochs: int, sections: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A search spec tree on digits at 16 px, a few steps an epoch; `sections` override (merging dicts)."""
    tree = {
        "name": name,
        "base": {
            "name": name,
            "data": {"dataset": "digits", "image_size": 16, "holdout": 360, "augment": {"random_resized_crop": False, "hflip": False}},
            "train": {"epochs": epochs, "batch_size": 32, "optimizer": {"name": "adamw", "lr": 0.003},
                      "max_steps_per_epoch": 2, "drop_rate": 0.0, "drop_path_rate": 0.0},
            "resources": {"workers": 1, "cpus_per_worker": 0.99},
        },
        **fields,
    }
    for key, value in sections.items():
        tree[key] = {**tree.get(key, {}), **value} if isinstance(value, dict) else value
    return tree


def facts_in_a_fresh_process(name: str) -> dict[str, Any]:
    """Look a saved model up and build it in a new interpreter, as a Ray worker would, with its home from the env."""
    code = (
        "import json, arena.models as m\n"
        "from arena.settings import load_settings\n"
        "home = load_settings().home\n"
        f"info = m.get_model_info({name!r}, home)\n"
        f"model = m.build({name!r}, num_classes=10, home=home)\n"
        "print(json.dumps({'family': info.family, 'resolution': info.resolution, 'gflops': info.gflops,"
        f" 'block': info.block, 'params': m.count_params(model), 'listed': {name!r} in m.model_names(home)}}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
