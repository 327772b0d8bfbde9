"""arena's Ray-free training loop on a GPU: images/s and model FLOP utilisation per precision setting.

For each model (ResNet-50, then EfficientNet-B0, at 224 px on synthetic data) it times four settings of
the job spec: fp32, bf16 autocast, bf16 + channels_last, bf16 + channels_last + torch.compile. Each one
is a real arena session (`build_session`) trained by arena's `train_one_epoch`, DataLoader included:
the warm-up steps (allocator, cuDNN, torch.compile) are skipped, then the steps are timed in windows
and the median window's images/s is reported. MFU = images/s x training FLOPs per image / peak FLOP/s,
with training FLOPs = 3 x forward FLOPs (forward + backward for activations and weights) and forward
FLOPs = 2 x the zoo's counted multiply-accumulates.

The default GPU run (2 models x 4 settings, batch 256, 5 warm-up + 3 x 10 timed steps) is estimated at
about 5 minutes on an H100/H200, under 8; the two torch.compile warm-ups are most of it. On a CPU it
runs too (no peak, so no MFU unless --peak-tflops), which is how the tests exercise it at tiny size.

Run: .venv/bin/python benchmarks/gpu_loop.py [--device cuda] [--models resnet50,efficientnet_b0] [--configs fp32,bf16]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from arena import models
from arena.spec import JobSpec, parse_spec
from arena.training.loop import train_one_epoch
from arena.training.session import build_session


@dataclass(frozen=True)
class Config:
    """One setting of the job spec's train section."""

    precision: str
    channels_last: bool
    compile: bool
    description: str


CONFIGS = {
    "fp32": Config("fp32", False, False, "train.precision fp32"),
    "bf16": Config("bf16", False, False, "bf16 autocast"),
    "bf16-cl": Config("bf16", True, False, "bf16 + train.channels_last"),
    "bf16-cl-compile": Config("bf16", True, True, "bf16 + channels_last + train.compile"),
}

# Dense (no sparsity) peak TFLOP/s per GPU: (bf16 tensor core, fp32 non-tensor), matched as a word in
# torch.cuda.get_device_name(). NVIDIA's datasheets quote bf16 "with sparsity"; dense is half of that.
PEAK_TFLOPS = {
    "H100": (989.0, 67.0),  # H100 SXM datasheet: BF16 1,979 (sparse) -> 989 dense; FP32 67
    "H200": (989.0, 67.0),  # H200 SXM datasheet: same compute as H100 SXM (BF16 1,979 sparse; FP32 67)
    "A100": (312.0, 19.5),  # A100 datasheet (SXM and PCIe): BF16 312 dense; FP32 19.5
    "L4": (121.0, 30.3),  # L4 datasheet: BF16 242 (sparse) -> 121 dense; FP32 30.3
}
# H100/H200 PCIe and NVL cards run at lower clocks and power than SXM: their peaks are not the above.
NOT_SXM = ("PCIe", "NVL")


def peak_tflops(device: torch.device, override: list[float] | None) -> tuple[float | None, float | None, str]:
    """Return (bf16 peak, fp32 peak, where they come from); (None, None, why) when unknown."""
    if override:
        bf16, fp32 = (override[0], override[0]) if len(override) == 1 else override
        return bf16, fp32, f"--peak-tflops {' '.join(f'{value:g}' for value in override)}"
    if device.type != "cuda":
        return None, None, "no peak known for a CPU (give --peak-tflops for MFU)"
    name = torch.cuda.get_device_name(device)
    for key, (bf16, fp32) in PEAK_TFLOPS.items():
        if re.search(rf"\b{key}\b", name) and not (key in ("H100", "H200") and any(v in name for v in NOT_SXM)):
            return bf16, fp32, f"{name}: datasheet dense peak bf16 {bf16:g}, fp32 {fp32:g} TFLOP/s"
    return None, None, f"{name}: not in the peak table (give --peak-tflops for MFU)"


def training_flops_per_image(model_name: str, image_size: int) -> float:
    """Return 3 x forward FLOPs of one image; the zoo counts GMACs at the native resolution."""
    info = models.get_model_info(model_name)
    gmacs = info.gflops
    if image_size != info.resolution or gmacs is None:
        gmacs = models.count_gflops(models.build(model_name), image_size)
    return 3 * 2 * gmacs * 1e9


def job_spec(model_name: str, config: Config, args: argparse.Namespace) -> JobSpec:
    """A synthetic-data job whose one epoch is exactly the warm-up plus the timed windows."""
    steps = args.warmup + args.windows * args.steps
    return parse_spec({
        "name": f"gpu-loop-{model_name}",
        "model": model_name,
        "data": {"dataset": "synthetic", "image_size": args.image_size, "train_size": args.batch * steps,
                 "val_size": args.batch, "loader_workers": args.loader_workers},
        "train": {"epochs": 1, "batch_size": args.batch, "precision": config.precision,
                  "channels_last": config.channels_last, "compile": config.compile,
                  "optimizer": {"name": "sgd", "lr": 0.01}, "max_steps_per_epoch": steps},
    }, source="gpu_loop")


def unsupported(config: Config, device: torch.device) -> str | None:
    """Why `config` cannot run on `device`, or None."""
    native_bf16 = device.type != "cuda" or torch.cuda.is_bf16_supported(including_emulation=False)
    if config.precision == "bf16" and not native_bf16:
        return f"bf16 not supported by {torch.cuda.get_device_name(device)}"
    return None


def steady_images_per_second(model_name: str, config: Config, args: argparse.Namespace, device: torch.device) -> float:
    """Train one arena epoch; return the median images/s over the timed windows after the warm-up."""
    stamps: list[float] = []

    def on_step(step: int, images: int, seconds: float) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory(prefix="arena-gpu-loop-") as home:
        session = build_session(job_spec(model_name, config, args), home=Path(home), device=device)
        train = session.spec.train
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        # The same call as TrainingSession.run_epoch, without its evaluation pass (a second compile).
        trained = train_one_epoch(
            session.model, session.train_loader, session.optimizer, session.criterion,
            device=device, precision=train.precision, scaler=session.scaler, mixer=session.mixer,
            agc_clip=train.agc_clip, ema=session.ema, channels_last=train.channels_last,
            max_steps=train.max_steps_per_epoch, on_step=on_step,
        )
        del session
    assert trained["steps"] == args.warmup + args.windows * args.steps, trained
    # stamps[k - 1] is taken after step k; window i runs from after step warmup + i*steps to the next.
    ends = [stamps[args.warmup - 1 + i * args.steps] for i in range(args.windows + 1)]
    return statistics.median(args.batch * args.steps / (end - start) for start, end in zip(ends, ends[1:]))


def run_config(model_name: str, name: str, args: argparse.Namespace, device: torch.device) -> tuple[float | None, str]:
    """Return (images/s, "") or (None, why it did not run)."""
    config = CONFIGS[name]
    reason = unsupported(config, device)
    if reason:
        return None, reason
    try:
        return steady_images_per_second(model_name, config, args, device), ""
    except Exception as error:  # a row that says what failed beats losing the other rows
        traceback.print_exc(file=sys.stderr)
        first_line = (str(error).strip().splitlines() or [""])[0][:160]
        return None, f"failed: {type(error).__name__}: {first_line}".replace("|", "/")
    finally:
        gc.collect()
        if config.compile:
            torch.compiler.reset()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def names(text: str, valid: list[str] | None = None) -> list[str]:
    """Parse a comma-separated list, checking it against `valid` when given."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if valid is not None and item not in valid]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; valid: {', '.join(valid or [])}")
    return items


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the options; the batch and loader workers default by device (a GPU gets the big ones)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, help="images per step (default: 256 on a GPU, 16 on a CPU)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (torch.compile compiles in step 1)")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed window")
    parser.add_argument("--windows", type=int, default=3, help="timed windows; the median one is reported")
    parser.add_argument("--models", type=lambda text: names(text, models.model_names()), default="resnet50,efficientnet_b0")
    parser.add_argument("--configs", type=lambda text: names(text, list(CONFIGS)), default=",".join(CONFIGS))
    parser.add_argument("--loader-workers", type=int, help="data.loader_workers (default: min(8, CPUs) on a GPU, 0 on a CPU)")
    parser.add_argument("--peak-tflops", type=float, nargs="+", metavar="TFLOPS",
                        help="peak for MFU: one number for every row, or two: bf16 then fp32")
    args = parser.parse_args(argv)
    args.configs = sorted(args.configs, key=list(CONFIGS).index)  # fp32 first: the others' ratio needs it
    on_gpu = torch.device(args.device).type == "cuda"
    args.batch = args.batch or (256 if on_gpu else 16)
    args.loader_workers = args.loader_workers if args.loader_workers is not None else (min(8, os.cpu_count() or 1) if on_gpu else 0)
    if args.warmup < 1 or args.steps < 1 or args.windows < 1:
        parser.error("--warmup, --steps and --windows must be at least 1 (the first window starts after a step)")
    if args.peak_tflops and len(args.peak_tflops) > 2:
        parser.error("--peak-tflops takes one number (every row) or two (bf16, fp32)")
    return args


def reproduce_command(args: argparse.Namespace) -> str:
    """The exact command line that reruns this measurement."""
    words = [".venv/bin/python", "benchmarks/gpu_loop.py", "--device", args.device, "--image-size", str(args.image_size),
             "--batch", str(args.batch), "--warmup", str(args.warmup), "--steps", str(args.steps),
             "--windows", str(args.windows), "--models", ",".join(args.models), "--configs", ",".join(args.configs),
             "--loader-workers", str(args.loader_workers)]
    if args.peak_tflops:
        words += ["--peak-tflops", *(f"{value:g}" for value in args.peak_tflops)]
    return shlex.join(words)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    peak_bf16, peak_fp32, peak_source = peak_tflops(device, args.peak_tflops)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} torch threads"
    print(f"## Training loop on {where} ({args.image_size} px, synthetic data, {args.warmup} warm-up steps, "
          f"median of {args.windows} windows of {args.steps} steps, {args.loader_workers} loader workers)\n")
    print("Configs: " + "; ".join(f"`{name}` {CONFIGS[name].description}" for name in args.configs) + f". Peak: {peak_source}.\n")
    print("| model | config | batch | images/s | ratio to fp32 | MFU % |\n|---|---|---|---|---|---|")
    for model_name in args.models:
        flops = training_flops_per_image(model_name, args.image_size) if peak_bf16 else None
        fp32_rate = None
        for name in args.configs:
            print(f"timing {model_name} {name} ...", file=sys.stderr, flush=True)
            rate, note = run_config(model_name, name, args, device)
            if rate is None:
                print(f"| {model_name} | {name} | {args.batch} | {note} | - | - |", flush=True)
                continue
            fp32_rate = rate if name == "fp32" else fp32_rate
            ratio = f"{rate / fp32_rate:.2f}" if fp32_rate else "-"
            peak = peak_fp32 if CONFIGS[name].precision == "fp32" else peak_bf16
            mfu = f"{100 * rate * flops / (peak * 1e12):.1f}" if flops and peak else "-"
            print(f"| {model_name} | {name} | {args.batch} | {rate:.1f} | {ratio} | {mfu} |", flush=True)
    if device.type == "cuda" and "fp32" in args.configs and torch.backends.cudnn.allow_tf32:
        print("\nfp32 rows: cuDNN runs fp32 convolutions in TF32 (torch.backends.cudnn.allow_tf32, on by default), "
              "so their MFU against the non-tensor fp32 peak can pass 100%.")
    print(f"\nReproduce: `{reproduce_command(args)}`")


if __name__ == "__main__":
    main()
