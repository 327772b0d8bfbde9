"""The marginal wall time of one more search trial: local mode in reused Tune actors against a worker group per trial.

Two grid searches whose trials do the same tiny work (ResNet-18 on digits at 16 px, one epoch of a
few steps, with arena's whole trial: its nested MLflow run, data, evaluation, checkpoint) and differ
only in how many candidates they hold. One more trial costs (T(many) - T(one)) / (many - one). Both
ways run here, side by side: `resources.local_mode: true` (Ray Train's local mode inside reused Tune
trial actors) and `false` (a TorchTrainer worker group per trial, the way every trial ran before).

    python benchmarks/trial_marginal.py [--candidates 11] [--group-candidates 5] [--steps 2]

Uses RAY_ADDRESS when set, else a local Ray started for the run. Prints markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from arena.search.core.spec import TuneSpec
from arena.search.core.trials import TrialRequest, closing_parent_run, run_trials
from arena.settings import load_settings
from arena.spec import parse_spec
from arena.tracking import run_log
from arena.training import ray_driver


def trial_job(local_mode: bool, steps: int) -> object:
    return parse_spec({
        "name": "marginal", "model": "resnet18",
        "data": {"dataset": "digits", "image_size": 16, "augment": {"random_resized_crop": False, "hflip": False}},
        "train": {"epochs": 1, "batch_size": 32, "max_steps_per_epoch": steps, "seed": 0},
        "resources": {"workers": 1, "cpus_per_worker": 0.99, "local_mode": local_mode},
    })


def time_search(settings: object, candidates: int, local_mode: bool, steps: int) -> float:
    """Wall seconds of one FIFO grid search over `candidates` copies of the same tiny trial."""
    job = trial_job(local_mode, steps)
    parent = run_log.start_run(settings.tracking_uri, settings.artifact_root, experiment="arena", run_name=f"marginal-{candidates}",
                               tags={"arena.kind": "bench"}, params={})
    requests = [TrialRequest(f"c{index}", job) for index in range(candidates)]
    started = time.perf_counter()
    with closing_parent_run(settings, parent):
        outcomes = run_trials(requests, TuneSpec(scheduler="fifo"), settings, kind="bench-trial", parent_run_id=parent,
                              progress=lambda line: None)
    seconds = time.perf_counter() - started
    failed = [outcome for outcome in outcomes if outcome.status != "completed"]
    if failed:
        raise SystemExit(f"{len(failed)} trial(s) did not complete: {failed[0].error}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=11, help="trials in the larger grid (local mode)")
    parser.add_argument("--group-candidates", type=int, default=5, help="trials in the larger grid (worker groups)")
    parser.add_argument("--steps", type=int, default=2, help="training steps in each trial's one epoch")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with tempfile.TemporaryDirectory(prefix="arena-bench-marginal-") as home:
        os.environ["ARENA_HOME"] = home
        for name in ("ARENA_TRACKING_URI", "ARENA_ARTIFACT_ROOT", "ARENA_STORAGE"):
            os.environ.pop(name, None)
        settings = load_settings()
        started_ray = ray_driver.connect(settings, dashboard=True)
        try:
            rows = []
            for label, local_mode, many in (("worker group per trial", False, args.group_candidates),
                                            ("local mode, reused actors", True, args.candidates)):
                one = time_search(settings, 1, local_mode, args.steps)
                more = time_search(settings, many, local_mode, args.steps)
                rows.append((label, one, many, more, (more - one) / (many - 1)))
                print(f"{label}: 1 trial {one:.1f} s, {many} trials {more:.1f} s", file=sys.stderr, flush=True)
        finally:
            if started_ray:
                ray_driver.disconnect()
    print(f"## One more search trial (FIFO grids of resnet18 on digits at 16 px, 1 epoch x {args.steps} steps a trial)\n")
    print("| trials run as | 1 trial (s) | N | N trials (s) | one more trial (s) |")
    print("|---|---|---|---|---|")
    for label, one, many, more, marginal in rows:
        print(f"| {label} | {one:.1f} | {many} | {more:.1f} | {marginal:.2f} |")
    group, local = rows[0][4], rows[1][4]
    print(f"\nOne more trial, local mode / worker group: **{local / group:.3f}** ({local:.2f} s against {group:.2f} s; goal: at most 3 s).")
    print(f"\nReproduce: `python benchmarks/trial_marginal.py --candidates {args.candidates} "
          f"--group-candidates {args.group_candidates} --steps {args.steps}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
