"""ASHA against FIFO on the same compound-scaling grid: trial-epochs spent, and whether the winner is the same.

Runs `arena search scaling` twice on the built-in digits (scaled ResNet-50s at 16 px) in a
temporary ARENA_HOME, once with the ASHA scheduler and once with FIFO (every trial trains every
epoch), and prints the trial-epochs each used and the ratio ASHA / FIFO (goal: at most 0.40).

    python benchmarks/search_efficiency.py [--base resnet50] [--epochs 9] [--steps 10] [--tolerance 0.05] [--reduction-factor 3]

The base is ResNet-50 because its val error means something after one epoch here: EfficientNet-B0
at 16 px sits at chance on digits for its first few epochs of 10 steps (its BatchNorm running
statistics lag), so ASHA's first rung would rank ties, and a tie continues.

Uses RAY_ADDRESS when set, else a local Ray started for the run. Takes several minutes on a laptop.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from arena.search.scaling.plan import enumerate_candidates, run_scaling_search
from arena.search.scaling.spec import ScalingSearchSpec, parse_scaling_spec
from arena.settings import load_settings
from arena.training import ray_driver


def grid_search_spec(scheduler: str, args: argparse.Namespace) -> ScalingSearchSpec:
    """The benchmark's search: a 0.1-step grid on digits, one worker of 0.99 CPU per trial."""
    name = f"bench-{scheduler}"
    return parse_scaling_spec({
        "name": name,
        "base": {
            "name": name,
            "model": args.base,
            # Trials rank on 360 images held out of train (as large as digits' val/, which searches never read).
            "data": {"dataset": "digits", "image_size": 16, "holdout": 360,
                     "augment": {"random_resized_crop": False, "hflip": False}},
            "train": {"epochs": args.epochs, "batch_size": 32, "optimizer": {"name": "adamw", "lr": 0.003},
                      "max_steps_per_epoch": args.steps, "drop_rate": 0.0, "drop_path_rate": 0.0, "seed": 0},
            "resources": {"workers": 1, "cpus_per_worker": 0.99},
        },
        "grid": {"alpha": {"min": 1.0, "max": 1.4, "step": 0.1}, "beta": {"min": 1.0, "max": 1.2, "step": 0.1},
                 "gamma": {"min": 1.0, "max": 1.2, "step": 0.1}, "target": 2.0, "tolerance": args.tolerance},
        "budget": {"num_classes": 10},
        "tune": {"scheduler": scheduler, "grace_period": 1, "reduction_factor": args.reduction_factor},
        "max_phi": 1,
    }, source="benchmark")


def main() -> int:
    """Run both searches and print trial-epochs, wall time, winners and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="resnet50", help="the net to scale: resnet50 or efficientnet_b0")
    parser.add_argument("--epochs", type=int, default=9, help="epochs per trial (ASHA's max_t)")
    parser.add_argument("--steps", type=int, default=10, help="training steps per epoch")
    parser.add_argument("--tolerance", type=float, default=0.05, help="relative slack around alpha*beta^2*gamma^2 = 2")
    parser.add_argument("--reduction-factor", type=float, default=3.0, help="ASHA's reduction factor")
    args = parser.parse_args()
    rows, final = {}, {}
    with tempfile.TemporaryDirectory(prefix="arena-bench-search-") as home:
        # Runs, models and checkpoints stay in `home`; `scaled:` names resolve from $ARENA_HOME.
        for key in [key for key in os.environ if key.startswith("ARENA_")]:
            del os.environ[key]
        os.environ["ARENA_HOME"] = home
        settings = load_settings()
        started = ray_driver.connect(settings, dashboard=True)
        try:
            for scheduler in ("fifo", "asha"):
                spec = grid_search_spec(scheduler, args)
                print(f"{scheduler}: {len(enumerate_candidates(spec, spec.base_network(settings.home)))} candidates x {args.epochs} epochs", file=sys.stderr)
                began = time.perf_counter()
                result = run_scaling_search(spec, settings)
                seconds = time.perf_counter() - began
                rows[scheduler] = (sum(t.epochs for t in result.trials), seconds, (result.alpha, result.beta, result.gamma), len(result.trials))
                final[scheduler] = {(t.alpha, t.beta, t.gamma): t.val_top1_error for t in result.trials
                                    if t.val_top1_error is not None}
        finally:
            if started:
                ray_driver.disconnect()
    ratio = rows["asha"][0] / rows["fifo"][0]
    print(f"## Search efficiency (compound-scaling grid of {args.base} on digits, {args.epochs} epochs x {args.steps} "
          f"steps per trial)\n")
    print("| scheduler | trials | trial-epochs | wall s | winner (alpha, beta, gamma) |\n|---|---|---|---|---|")
    for scheduler, (epochs, seconds, winner, trials) in rows.items():
        print(f"| {scheduler} | {trials} | {epochs} | {seconds:.0f} | {winner} |")
    print(f"\nASHA / FIFO trial-epochs: **{ratio:.2f}** (goal <= 0.40); same winner: {rows['asha'][2] == rows['fifo'][2]}\n")
    # What ASHA's pick gives up: its error after every epoch (from the FIFO run) against the grid's best.
    fifo_errors = final["fifo"]
    print(f"ASHA's pick {rows['asha'][2]} trained every epoch in the FIFO run: {fifo_errors[rows['asha'][2]]:.2f}% val top-1 "
          f"error, against the grid's best {min(fifo_errors.values()):.2f}% (the {len(fifo_errors)} trials span "
          f"{min(fifo_errors.values()):.2f}-{max(fifo_errors.values()):.2f}%)\n")
    print(f"Reproduce: `.venv/bin/python benchmarks/search_efficiency.py --base {args.base} --epochs {args.epochs} --steps {args.steps} "
          f"--tolerance {args.tolerance} --reduction-factor {args.reduction_factor:g}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
