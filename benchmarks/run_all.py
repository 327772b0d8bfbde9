"""Run every benchmark (each measures arena against a baseline it runs itself) and write BENCHMARKS.md.

    make bench            # or: .venv/bin/python benchmarks/run_all.py [--only NAME ...] [--timm-train PATH]

--timm-train names a checkout's train.py: the comparisons with timm then time that script too. With --only, the named sections are measured again and replace theirs in the existing file; the
others are kept as they were, each with the date it was measured.
"""

from __future__ import annotations

import argparse
import os
import re
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

BENCHMARKS = {
    "train_overhead": ["train_overhead.py", "--repeats", "2", "--ddp"],
    "train_overhead_resnet50": ["train_overhead.py", "--model", "resnet50", "--steps", "6", "--repeats", "2"],
    "vs_timm": ["vs_timm.py", "--repeats", "3"],
    "vs_timm_resnet50": ["vs_timm.py", "--model", "resnet50", "--image-size", "64", "--repeats", "3"],
    "input_pipeline": ["input_pipeline.py", "--repeats", "3"],
    "leaderboard": ["leaderboard.py"],
    "dashboard_load": ["dashboard_load.py"],
    "search_efficiency": ["search_efficiency.py"],
    "trial_marginal": ["trial_marginal.py"],
    "imagenet_index": ["imagenet_index.py", "--repeats", "3"],
}


def describe_machine() -> str:
    """CPU, cores, memory and library versions: what a reader needs to compare figures."""
    import torch

    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB memory"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores{memory}, {gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}")


SECTION = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)(?=<!-- bench:|\Z)", re.S)


def read_sections(path: Path) -> dict[str, str]:
    """The sections of an existing BENCHMARKS.md, by benchmark name (empty when there is none)."""
    if not path.exists():
        return {}
    return {match["name"]: match["body"] for match in SECTION.finditer(path.read_text())}


TAKES_TIMM_TRAIN = {"vs_timm", "vs_timm_resnet50"}
"""The benchmarks that also time timm's train.py when given a checkout's (--timm-train)."""


def run_one(name: str, extra: Sequence[str] = ()) -> str:
    """Run one benchmark in its own process (its arguments, then `extra`); return its markdown section (or its failure)."""
    command = [sys.executable, str(HERE / BENCHMARKS[name][0]), *BENCHMARKS[name][1:], *extra]
    print(f"running {name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    minutes = (time.perf_counter() - started) / 60
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    if result.returncode == 0:
        # Each benchmark prints its own markdown: a heading, a table with its ratios, a Reproduce line.
        return f"{result.stdout.strip()}\n\n({minutes:.1f} min, measured {when})\n\n"
    return f"## {name}: FAILED (exit {result.returncode}, {when})\n\n```\n{result.stderr[-2000:]}\n```\n\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--timm-train", type=Path, help="a checkout's train.py, for the comparisons with timm")
    args = parser.parse_args()
    if args.timm_train and not args.timm_train.is_file():
        parser.error(f"--timm-train: {args.timm_train} is not a file")
    sections = read_sections(args.out) if args.only else {}
    for name in args.only or BENCHMARKS:
        timm_train = ["--timm-train", str(args.timm_train.resolve())] if args.timm_train and name in TAKES_TIMM_TRAIN else []
        sections[name] = run_one(name, timm_train)
    header = (f"# Benchmarks\n\nEach figure is a ratio against a baseline run side by side in the same run.\n\n"
              f"Machine: {describe_machine()}\n\nWritten by `make bench` (`benchmarks/run_all.py`).\n\n")
    ordered = [name for name in BENCHMARKS if name in sections]
    args.out.write_text(header + "".join(f"<!-- bench:{name} -->\n{sections[name]}" for name in ordered))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
