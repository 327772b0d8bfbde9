"""Regenerate the checked-in complexity table: `python -m arena.models.complexity --write [NAME ...]`.

The table (complexity.json: name -> params, gflops) lets `list_models()` answer without building
models. Regeneration builds each model once and counts its multiply-accumulates at its native
resolution; the largest ones take minutes on a CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from arena.models import build, count_gflops, count_params, get_model_info, model_names
from arena.models.registry import COMPLEXITY_PATH, NAMESPACE_SEPARATOR


def measure(name: str) -> dict[str, float]:
    """Build model `name` and return its counted params and GMACs at native resolution."""
    model = build(name)
    return {
        "params": count_params(model),
        "gflops": round(count_gflops(model, get_model_info(name).resolution), 4),
    }


def write_table(names: list[str]) -> dict[str, dict[str, float]]:
    """Measure `names` and merge them into complexity.json; return the whole table."""
    table = json.loads(COMPLEXITY_PATH.read_text()) if COMPLEXITY_PATH.exists() else {}
    for name in names:
        started = time.perf_counter()
        table[name] = measure(name)
        figures = table[name]
        print(f"{name}: {figures['params']:,} params, {figures['gflops']} GMACs ({time.perf_counter() - started:.1f} s)")
        # Written after every model so an interrupted regeneration keeps what it counted.
        COMPLEXITY_PATH.write_text(json.dumps(dict(sorted(table.items())), indent=2) + "\n")
    return table


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and regenerate (or print) the complexity table."""
    parser = argparse.ArgumentParser(prog="python -m arena.models.complexity", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="models to count (default: every registered model)")
    parser.add_argument("--write", action="store_true", help="count the models and update complexity.json")
    arguments = parser.parse_args(argv)
    registered = [name for name in model_names() if NAMESPACE_SEPARATOR not in name]
    names = arguments.names or registered
    unknown = sorted(set(names) - set(registered))
    if unknown:
        parser.error(f"unknown models: {', '.join(unknown)}")
    if not arguments.write:
        for name in names:
            print(f"{name}: {measure(name)}")
        return 0
    write_table(names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
