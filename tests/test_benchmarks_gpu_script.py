"""The prepared GPU check (benchmarks/gpu_loop.py) runs end to end on a CPU at tiny size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = ["--device", "cpu", "--image-size", "32", "--batch", "2", "--warmup", "1", "--steps", "1", "--windows", "1",
        "--models", "resnet18", "--configs", "fp32,bf16", "--peak-tflops", "1"]


@pytest.mark.timeout(60)
def test_gpu_loop_prints_a_markdown_table_and_the_command_that_reproduces_it() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "benchmarks/gpu_loop.py", *TINY], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=50)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("## Training loop on CPU")
    assert "| model | config | batch | images/s | ratio to fp32 | MFU % |" in lines
    rows = [line.strip("|").split("|") for line in lines if line.startswith("| resnet18 |")]
    assert [[cell.strip() for cell in row[:3]] for row in rows] == [["resnet18", "fp32", "2"], ["resnet18", "bf16", "2"]]
    for model, config, batch, rate, ratio, mfu in rows:
        assert float(rate) > 0 and float(ratio) > 0 and float(mfu) >= 0, (config, rate, ratio, mfu)
    assert rows[0][4].strip() == "1.00"  # fp32 against itself
    reproduce = [line for line in lines if line.startswith("Reproduce: ")]
    assert reproduce == ["Reproduce: `.venv/bin/python benchmarks/gpu_loop.py " + " ".join(TINY[:-2])
                         + " --loader-workers 0 --peak-tflops 1`"]
