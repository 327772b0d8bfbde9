"""`arena train` against what a user would otherwise run: a loop built from timm's own factories.

The same job both ways, in the same run, alternating: a model on the digits image folder, batch 64,
SGD with a cosine schedule, no augmentation, the data loaded in the training process, N threads.

- arena: `arena train SPEC` in a fresh process (a local Ray, a lane, MLflow on SQLite under a
  temporary ARENA_HOME whose store exists already, as after a first run), started as `python -m
  arena.cli` through a shim that records, in the driver, when each phase ends (checks, Ray start,
  MLflow run creation, training, final upload, Ray shutdown, exit); the lane's side comes from the
  run itself (first step tag, epoch metrics, checkpoint files).
- timm loop: `timm.data.create_dataset` / `create_loader`, `timm.create_model`,
  `timm.optim.create_optimizer_v2`, `timm.scheduler.create_scheduler_v2` and the standard train step
  (forward, loss, zero_grad, backward, step), evaluated and checkpointed every epoch, in a fresh process.
- timm's train.py (with --timm-train PATH, a checkout's train.py): the script itself, same job.

Printed: steady-state images/s (epochs 2.., the first warms up), the whole command's wall, their
ratios, and the timeline of arena's seconds.

Run: .venv/bin/python benchmarks/vs_timm.py [--model resnet18] [--image-size 32] [--repeats 3]
     [--timm-train ~/pytorch-image-models/train.py]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve()
BIN = Path(sys.executable).parent
LR, MOMENTUM, WEIGHT_DECAY = 0.05, 0.9, 1.0e-4


def job_spec(model: str, image_size: int, batch: int, epochs: int, threads: int) -> dict:
    """The arena job: the same recipe the timm loop and train.py get."""
    return {
        "name": f"vs-timm-{model}",
        "model": model,
        "data": {"dataset": "digits", "image_size": image_size,
                 "augment": {"random_resized_crop": False, "hflip": False}},
        "train": {"epochs": epochs, "batch_size": batch,
                  "optimizer": {"name": "sgd", "lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY},
                  "schedule": {"name": "cosine"}},
        "resources": {"workers": 1, "cpus_per_worker": threads},
    }


# --- the timm loop (runs in its own process: `vs_timm.py timm-loop ...`) -------------------------------


def timm_loop(args: argparse.Namespace) -> None:
    """Train with timm's factories and the standard step; print per-epoch images/s as JSON."""
    import torch
    from timm import create_model
    from timm.data import create_dataset, create_loader, resolve_data_config
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=10)
    config = resolve_data_config({"input_size": (3, args.image_size, args.image_size)}, model=model)
    loaders = {}
    for split, training in (("train", True), ("val", False)):
        dataset = create_dataset("", root=args.data, split=split, is_training=training)
        loaders[split] = create_loader(
            dataset, input_size=config["input_size"], batch_size=args.batch, is_training=training, no_aug=True,
            use_prefetcher=False, num_workers=0, interpolation=config["interpolation"], mean=config["mean"],
            std=config["std"], crop_pct=config["crop_pct"], device=torch.device("cpu"),
        )
    optimizer = create_optimizer_v2(model, opt="sgd", lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    scheduler, epochs = create_scheduler_v2(optimizer, sched="cosine", num_epochs=args.epochs, warmup_epochs=0)
    criterion = torch.nn.CrossEntropyLoss()
    rates, errors = [], []
    for epoch in range(epochs):
        model.train()
        images, start = 0, time.perf_counter()
        for inputs, targets in loaders["train"]:
            loss = criterion(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            images += inputs.shape[0]
        rates.append(images / (time.perf_counter() - start))
        model.eval()
        wrong = seen = 0
        with torch.no_grad():
            for inputs, targets in loaders["val"]:
                wrong += int((model(inputs).argmax(1) != targets).sum())
                seen += inputs.shape[0]
        errors.append(100.0 * wrong / seen)
        scheduler.step(epoch + 1)
        torch.save({"epoch": epoch, "state_dict": model.state_dict(), "optimizer": optimizer.state_dict()},
                   Path(args.out) / "last.pth.tar")
    print(json.dumps({"images_per_second": rates, "val_top1_error": errors}))


# --- arena train, through a shim that times the driver's phases (`vs_timm.py arena-shim ...`) ----------


def arena_shim(args: argparse.Namespace) -> None:
    """Run `arena train` (`python -m arena.cli`, as a submitted job does) with the driver's phases timed."""
    events: list[tuple[str, float]] = [("shim started (interpreter up)", time.time())]
    timeline = Path(args.timeline)

    def mark(name: str) -> None:
        events.append((name, time.time()))
        timeline.write_text(json.dumps(events))  # now: a finished `arena train` leaves by os._exit

    from arena.training import launcher, ray_driver

    def timed(module: object, attribute: str, before: str | None, after: str) -> None:
        original = getattr(module, attribute, None)
        if original is None:  # an older arena without this phase
            return

        def wrapper(*positional, **keywords):
            if before:
                mark(before)
            try:
                return original(*positional, **keywords)
            finally:
                mark(after)

        setattr(module, attribute, wrapper)

    timed(launcher, "check_job", None, "spec and job checked")
    timed(ray_driver, "connect", None, "Ray started")
    timed(ray_driver, "prestart_lane", None, "lane requested")
    timed(launcher, "_open_run", "driver's imports done (torch, Ray Train, MLflow)", "MLflow run created")
    timed(ray_driver, "copy_latest_checkpoint", "training returned", "final checkpoint copied out of storage")
    timed(launcher, "_finish_run", None, "final checkpoint uploaded, run FINISHED")
    timed(ray_driver, "disconnect", None, "Ray shut down")
    leave = os._exit
    os._exit = lambda code: (mark("output flushed, teardown skipped"), leave(code))
    import atexit
    import runpy

    atexit.register(mark, "interpreter tearing down")
    sys.argv = ["arena", "train", args.spec, "--format", "json"]
    runpy.run_module("arena.cli", run_name="__main__", alter_sys=True)


# --- the parent: run the three side by side and compare -----------------------------------------------


def run(command: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a command; return its result, its launch time (epoch seconds) and its wall seconds."""
    launched = time.time()
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result, launched, wall


def arena_home(home: Path) -> Path:
    """The ARENA_HOME every arena run shares: the digits folder and an MLflow store already created.

    As for a user who has run arena before: the first use of a tracking store creates its tables,
    which is not what this benchmark compares.
    """
    folder = home / "arena-home"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "digits").symlink_to(home / "data" / "digits")
    from mlflow.tracking import MlflowClient

    MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    return folder


def measure_arena(args: argparse.Namespace, run_home: Path, spec_path: Path, repeat: int, platform: Path | None = None) -> dict:
    """One `arena train` in a fresh process (the arena under `platform`, when given, instead of this one)."""
    from mlflow.tracking import MlflowClient

    env = {**os.environ, "ARENA_HOME": str(run_home)}
    if platform is not None:
        env["PYTHONPATH"] = str(platform)
    for key in ("ARENA_TRACKING_URI", "ARENA_DB_URL", "ARENA_STORAGE", "RAY_ADDRESS"):
        env.pop(key, None)
    timeline_file = run_home / f"timeline-{repeat}{'-before' if platform else ''}.json"
    result, launched, wall = run([sys.executable, str(HERE), "arena-shim", "--spec", str(spec_path),
                                  "--timeline", str(timeline_file)], env)
    ended = launched + wall
    run_id = json.loads(result.stdout)["run_id"]
    client = MlflowClient(f"sqlite:///{run_home / 'mlflow.db'}")
    history = sorted(client.get_metric_history(run_id, "images_per_second"), key=lambda m: m.step)
    record = client.get_run(run_id)
    events = [tuple(event) for event in json.loads(timeline_file.read_text())]
    events.append(("first training step", float(record.data.tags["arena.first_step_at"])))
    events += [(f"epoch {m.step} logged to MLflow", m.timestamp / 1000) for m in history]
    storage = run_home / "ray_results" / run_id
    for folder in sorted(storage.glob("epoch_*")):
        written = max(path.stat().st_mtime for path in folder.rglob("*") if path.is_file())
        events.append((f"checkpoint {folder.name} stored", written))
    events.append(("process exited", ended))
    events.sort(key=lambda event: event[1])
    return {"rates": [m.value for m in history], "wall": wall, "launched": launched, "events": events}


def measure_timm_loop(args: argparse.Namespace, home: Path, repeat: int) -> dict:
    out = home / f"timm-loop-{repeat}"
    out.mkdir(parents=True, exist_ok=True)
    result, _, wall = run([sys.executable, str(HERE), "timm-loop", "--model", args.model, "--image-size",
                           str(args.image_size), "--batch", str(args.batch), "--epochs", str(args.epochs),
                           "--threads", str(args.threads), "--data", str(home / "data" / "digits"),
                           "--out", str(out)])
    return {"rates": json.loads(result.stdout.strip().splitlines()[-1])["images_per_second"], "wall": wall}


TRAIN_PY_RATE = re.compile(r"Train: (\d+) \[\s*(\d+)/(\d+).*?\(\s*[\d.]+s,\s*([\d.]+)/s\)")


def measure_train_py(args: argparse.Namespace, home: Path, repeat: int) -> dict:
    """timm's train.py on the same job; its epoch rate is the last step's running average."""
    out = home / f"timm-train-py-{repeat}"
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    command = [
        sys.executable, str(args.timm_train), "--data-dir", str(home / "data" / "digits"), "--train-split", "train",
        "--val-split", "val", "--model", args.model, "--num-classes", "10", "--img-size", str(args.image_size),
        "-b", str(args.batch), "--opt", "sgd", "--lr", str(LR), "--momentum", str(MOMENTUM), "--weight-decay",
        str(WEIGHT_DECAY), "--sched", "cosine", "--epochs", str(args.epochs), "--warmup-epochs", "0", "--no-aug",
        "--workers", "0", "--device", "cpu", "--log-interval", "1", "--output", str(out), "--seed", "0",
    ]
    result, _, wall = run(command, env)
    last_of_epoch: dict[int, float] = {}
    for match in TRAIN_PY_RATE.finditer(result.stdout + result.stderr):
        epoch, step, steps, rate = int(match[1]), int(match[2]), int(match[3]), float(match[4])
        if step == steps - 1:
            last_of_epoch[epoch] = rate
    if len(last_of_epoch) != args.epochs:
        raise SystemExit(f"train.py: found the rates of {len(last_of_epoch)} epochs, expected {args.epochs}")
    return {"rates": [last_of_epoch[epoch] for epoch in sorted(last_of_epoch)], "wall": wall}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a"


def steady(rates: list[float]) -> float:
    """Images/s over the epochs after the first (median of them)."""
    return statistics.median(rates[1:] if len(rates) > 1 else rates)


def print_timeline(measured: dict) -> None:
    launched, previous = measured["launched"], measured["launched"]
    print("| at s | phase ends | s |\n|---|---|---|")
    print("| 0.0 | `arena train` launched | |")
    for name, moment in measured["events"]:
        print(f"| {moment - launched:.1f} | {name} | {moment - previous:.1f} |")
        previous = moment


def compare(args: argparse.Namespace) -> None:
    from arena.data.digits import prepare_digits

    threads = args.threads
    results: dict[str, list[dict]] = {"arena": [], "arena before": [], "timm loop": [], "timm train.py": []}
    loads = [load_average()]
    with tempfile.TemporaryDirectory(prefix="arena-vs-timm-") as folder:
        home = Path(folder)
        prepare_digits(home / "data" / "digits")
        shared_home = arena_home(home)
        spec_path = home / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(job_spec(args.model, args.image_size, args.batch, args.epochs, threads)))
        for repeat in range(args.repeats):
            order = ["arena", "timm loop", "arena before", "timm train.py"]
            if repeat % 2:  # alternate who goes first: the machine's load drifts
                order.reverse()
            for who in order:
                if who == "arena":
                    results[who].append(measure_arena(args, shared_home, spec_path, repeat))
                elif who == "arena before":
                    if args.before:
                        results[who].append(measure_arena(args, shared_home, spec_path, repeat, args.before))
                elif who == "timm loop":
                    results[who].append(measure_timm_loop(args, home, repeat))
                elif args.timm_train:
                    results[who].append(measure_train_py(args, home, repeat))
            loads.append(load_average())
            print(f"repeat {repeat + 1}: " + ", ".join(
                f"{who} {steady(rows[-1]['rates']):.1f} img/s, {rows[-1]['wall']:.1f} s" for who, rows in results.items() if rows
            ) + f" (load {loads[-1]})", file=sys.stderr, flush=True)
    baselines = [who for who in ("timm loop", "timm train.py") if results[who]]
    print(f"## arena train against timm ({args.model}, digits at {args.image_size} px, batch {args.batch}, "
          f"SGD + cosine, no augmentation, {args.epochs} epochs, {threads} threads, data loaded in the training "
          f"process; median of {args.repeats}, alternating)\n")
    print("| measure | arena | value | baseline | value | ratio (arena / baseline) | goal |\n|---|---|---|---|---|---|---|")
    for arena in ("arena", "arena before"):
        if not results[arena]:
            continue
        arena_rate = statistics.median(steady(row["rates"]) for row in results[arena])
        arena_wall = statistics.median(row["wall"] for row in results[arena])
        for who in baselines:
            rate = statistics.median(steady(row["rates"]) for row in results[who])
            wall = statistics.median(row["wall"] for row in results[who])
            print(f"| steady-state images/s (epochs 2-{args.epochs}) | {arena} | {arena_rate:.1f} | {who} | {rate:.1f} | "
                  f"{arena_rate / rate:.3f} | >= 0.97 |")
            print(f"| whole command, wall s | {arena} | {arena_wall:.1f} | {who} | {wall:.1f} | {arena_wall / wall:.2f}x | "
                  f"<= 1.5x |")
    print("\nEvery repeat (steady-state images/s, wall s):\n")
    for who, rows in results.items():
        if rows:
            print(f"- {who}: " + "; ".join(f"{steady(row['rates']):.1f}, {row['wall']:.1f}" for row in rows))
    print(f"\nLoad average (1, 5, 15 min) before and after each repeat: {' | '.join(loads)}.\n")
    print("Where arena's seconds go (the median-wall repeat; driver phases from the shim, the lane's from the run):\n")
    print_timeline(sorted(results["arena"], key=lambda row: row["wall"])[len(results["arena"]) // 2])
    if results["arena before"]:
        print("\nAnd the arena before (--before):\n")
        print_timeline(sorted(results["arena before"], key=lambda row: row["wall"])[len(results["arena before"]) // 2])
    timm_flag = " --timm-train PATH/train.py" if args.timm_train else ""
    timm_flag += " --before OLD/platform" if args.before else ""
    print(f"\nReproduce: `.venv/bin/python benchmarks/vs_timm.py --model {args.model} --image-size {args.image_size} "
          f"--batch {args.batch} --epochs {args.epochs} --threads {threads} --repeats {args.repeats}{timm_flag}`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", nargs="?", default="compare", choices=["compare", "timm-loop", "arena-shim"])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timm-train", type=Path, help="a checkout's train.py: time the script itself too")
    parser.add_argument("--before", type=Path, help="an earlier arena's platform/ folder: time its `arena train` too")
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--timeline", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.timm_train and not args.timm_train.is_file():
        raise SystemExit(f"--timm-train: {args.timm_train} is not a file")
    {"compare": compare, "timm-loop": timm_loop, "arena-shim": arena_shim}[args.role](args)


if __name__ == "__main__":
    main()
