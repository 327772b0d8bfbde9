"""Tiny search specs on digits, shared by the search tests."""

from __future__ import annotations

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
