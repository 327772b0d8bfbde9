"""arena's training path against plain baselines, side by side in one run.

1. Steady-state step rate: a plain PyTorch loop against arena's worker path (`arena train`: Ray Train
   V2, one worker with every CPU) on the same model, synthetic data, batch and threads; and arena's
   own loop (the worker's `TrainingSession`) in this process, without Ray, which tells arena's code
   apart from the Ray runtime beside it.
2. Start-up: seconds from launching `arena train` to its first training step, against a plain Ray
   Train example (ray.init + TorchTrainer with a one-step loop) launched the same way.

Run: .venv/bin/python benchmarks/train_overhead.py [--model resnet18] [--image-size 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch
import yaml

BIN = Path(sys.executable).parent
THREADS = os.cpu_count() or 1


def job(model: str, image_size: int, batch: int, steps: int, epochs: int, workers: int = 1) -> dict:
    return {
        "name": f"overhead-{model}",
        "model": model,
        "data": {"dataset": "synthetic", "image_size": image_size, "num_classes": 10,
                 "train_size": batch * steps, "val_size": batch},
        "train": {"epochs": epochs, "batch_size": batch, "optimizer": {"name": "sgd", "lr": 0.01},
                  "max_steps_per_epoch": steps},
        "resources": {"workers": workers, "cpus_per_worker": THREADS // workers},
    }


def plain_loop_images_per_second(model_name: str, image_size: int, batch: int, steps: int) -> float:
    """The baseline: forward, backward, step over the same synthetic batches, nothing else."""
    from arena import models
    from arena.data import SyntheticImages

    torch.set_num_threads(THREADS)
    model = models.build(model_name, num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = torch.nn.CrossEntropyLoss()
    data = torch.utils.data.DataLoader(SyntheticImages(batch * steps, 10, image_size), batch_size=batch, shuffle=True)
    model.train()
    for epoch in range(2):  # the first pass warms up allocators and kernels, as arena's epoch 1 does
        start = time.perf_counter()
        for images, labels in data:
            optimizer.zero_grad(set_to_none=True)
            criterion(model(images), labels).backward()
            optimizer.step()
        seconds = time.perf_counter() - start
    return batch * steps / seconds


def arena_loop_images_per_second(spec: dict, home: Path) -> float:
    """The worker's own path (`build_session` + `run_epoch`) in this process, without Ray or MLflow."""
    from arena.spec import parse_spec
    from arena.training.session import build_session

    torch.set_num_threads(THREADS)
    session = build_session(parse_spec(spec), home=home)
    while session.epoch < session.spec.train.epochs:
        session.run_epoch()
    return statistics.median(row["images_per_second"] for row in session.history[1:])  # epoch 1 warms up


def arena_run(spec: dict, home: Path) -> dict:
    """Run `arena train` in a fresh process; return its per-epoch images/s and start-up seconds."""
    from mlflow.tracking import MlflowClient

    home.mkdir(parents=True, exist_ok=True)
    spec_path = home / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "ARENA_HOME": str(home)}
    for key in ("ARENA_TRACKING_URI", "ARENA_DB_URL", "ARENA_STORAGE", "RAY_ADDRESS"):
        env.pop(key, None)
    launched = time.time()
    result = subprocess.run([str(BIN / "arena"), "train", str(spec_path), "--format", "json"],
                            env=env, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"arena train failed:\n{result.stderr[-3000:]}")
    import json

    run_id = json.loads(result.stdout)["run_id"]
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    history = sorted(client.get_metric_history(run_id, "images_per_second"), key=lambda m: m.step)
    first_step = float(client.get_run(run_id).data.tags["arena.first_step_at"])
    return {"images_per_second": [m.value for m in history], "startup_seconds": first_step - launched}


PLAIN_RAY_TRAIN = textwrap.dedent('''
    import sys, time
    import ray
    from ray.train import ScalingConfig, RunConfig
    from ray.train.torch import TorchTrainer

    def loop(config):
        # The same first step as arena's job: torchvision's model, batch, image size, SGD.
        import torch, torchvision
        model = getattr(torchvision.models, config["model"])(num_classes=10)
        batch, size = config["batch"], config["image_size"]
        images, labels = torch.randn(batch, 3, size, size), torch.randint(0, 10, (batch,))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
        open(config["marker"], "w").write(repr(time.time()))

    ray.init(include_dashboard=False, log_to_driver=False)
    TorchTrainer(loop, train_loop_config={"marker": sys.argv[1], "model": sys.argv[3],
                                          "batch": int(sys.argv[4]), "image_size": int(sys.argv[5])},
                 scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": %d}),
                 run_config=RunConfig(storage_path=sys.argv[2])).fit()
''')


def plain_ray_train_startup(folder: Path, model: str, batch: int, image_size: int) -> float:
    """Seconds from launching a plain Ray Train example (same model, batch, size) to its first step."""
    script = folder / "plain_ray_train.py"
    script.write_text(PLAIN_RAY_TRAIN % THREADS)
    marker = folder / "first-step"
    launched = time.time()
    subprocess.run([sys.executable, str(script), str(marker), str(folder / "results"), model, str(batch), str(image_size)],
                   capture_output=True, timeout=900, check=True)
    return float(marker.read_text()) - launched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ddp", action="store_true", help="also time 2 DDP workers (half the CPUs each) against 1")
    args = parser.parse_args()
    plain, loop_rates, arena_rates, arena_startups, plain_startups, ddp_rates = [], [], [], [], [], []
    group_rates, group_startups = [], []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="arena-bench-") as folder:
            folder = Path(folder)
            spec = job(args.model, args.image_size, args.batch, args.steps, epochs=3)
            plain.append(plain_loop_images_per_second(args.model, args.image_size, args.batch, args.steps))
            loop_rates.append(arena_loop_images_per_second(spec, folder))
            measured = arena_run(spec, folder)
            arena_rates.append(statistics.median(measured["images_per_second"][1:]))  # epoch 1 warms up
            arena_startups.append(measured["startup_seconds"])
            plain_startups.append(plain_ray_train_startup(folder, args.model, args.batch, args.image_size))
            # The same single-worker job in a worker group of its own, as every job trained before local mode.
            group = arena_run({**spec, "resources": {**spec["resources"], "local_mode": False}}, folder / "group")
            group_rates.append(statistics.median(group["images_per_second"][1:]))
            group_startups.append(group["startup_seconds"])
            if args.ddp and THREADS >= 2:
                ddp = arena_run(job(args.model, args.image_size, args.batch, args.steps, epochs=3, workers=2), folder / "ddp")
                ddp_rates.append(statistics.median(ddp["images_per_second"][1:]))
        print(f"repeat {repeat + 1}: plain {plain[-1]:.1f} img/s, arena loop without Ray {loop_rates[-1]:.1f} img/s, "
              f"arena {arena_rates[-1]:.1f} img/s, "
              f"start-up arena {arena_startups[-1]:.1f} s (a worker group: {group_startups[-1]:.1f} s) "
              f"vs plain Ray Train {plain_startups[-1]:.1f} s", file=sys.stderr)
    rate_ratio = statistics.median(arena_rates) / statistics.median(plain)
    startup_ratio = statistics.median(arena_startups) / statistics.median(plain_startups)
    print(f"## Training overhead ({args.model}, {args.image_size} px, batch {args.batch}, {THREADS} threads, "
          f"median of {args.repeats})\n")
    print("| measure | arena | baseline | ratio |\n|---|---|---|---|")
    print(f"| steady-state images/s (arena worker path / plain PyTorch loop; goal >= 0.97) | "
          f"{statistics.median(arena_rates):.1f} | {statistics.median(plain):.1f} | {rate_ratio:.3f} |")
    print(f"| steady-state images/s (arena's loop without Ray, this process / plain PyTorch loop) | "
          f"{statistics.median(loop_rates):.1f} | {statistics.median(plain):.1f} | "
          f"{statistics.median(loop_rates) / statistics.median(plain):.3f} |")
    print(f"| seconds from launch to first step (arena train / plain Ray Train example; goal <= 0.5) | "
          f"{statistics.median(arena_startups):.1f} | {statistics.median(plain_startups):.1f} | {startup_ratio:.3f} |")
    print(f"| seconds from launch to first step (arena train: local mode in a lane / a worker group of one) | "
          f"{statistics.median(arena_startups):.1f} | {statistics.median(group_startups):.1f} | "
          f"{statistics.median(arena_startups) / statistics.median(group_startups):.3f} |")
    print(f"| steady-state images/s (arena train: local mode in a lane / a worker group of one) | "
          f"{statistics.median(arena_rates):.1f} | {statistics.median(group_rates):.1f} | "
          f"{statistics.median(arena_rates) / statistics.median(group_rates):.3f} |")
    if ddp_rates:
        print(f"| DDP images/s (2 workers x {THREADS // 2} CPUs / 1 worker x {THREADS} CPUs, both arena) | "
              f"{statistics.median(ddp_rates):.1f} | {statistics.median(arena_rates):.1f} | "
              f"{statistics.median(ddp_rates) / statistics.median(arena_rates):.3f} |")
    print(f"\nReproduce: `.venv/bin/python benchmarks/train_overhead.py --model {args.model} "
          f"--image-size {args.image_size} --batch {args.batch} --steps {args.steps} --repeats {args.repeats}"
          f"{' --ddp' if args.ddp else ''}`")


if __name__ == "__main__":
    main()
