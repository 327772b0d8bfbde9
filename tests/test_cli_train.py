"""`arena train` from the command line: bad input gives one clear line, exit 2, nothing started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent


def run_arena(*args: str, env_home: Path, ray_address: str | None = "127.0.0.1:1") -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "ARENA_HOME": str(env_home)}
    env.pop("ARENA_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    if ray_address is not None:
        env["RAY_ADDRESS"] = ray_address
    return subprocess.run([str(BIN / "arena"), *args], capture_output=True, text=True, env=env, timeout=120)


def test_bad_spec_exits_2_naming_each_field_and_writes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "bad", "model": "resnet5O",
        "data": {"dataset": "imagefolder", "root": str(tmp_path / "missing")},
        "train": {"epochs": 1, "batch_size": 8, "precision": "fp16"},
    }))
    home = tmp_path / "home"
    result = run_arena("train", str(spec), env_home=home, ray_address=None)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "model: unknown model 'resnet5O'" in result.stderr and "resnet50" in result.stderr
    assert "data.root" in result.stderr and "train.precision" in result.stderr
    assert not (home / "mlflow.db").exists() and not (home / "ray_results").exists()
    # On a cluster the data is checked on the worker hosts, which read it, not where the driver runs.
    on_cluster = run_arena("train", str(spec), env_home=home)
    assert on_cluster.returncode == 2 and "model: unknown model" in on_cluster.stderr
    assert "data.root" not in on_cluster.stderr
    assert not (home / "mlflow.db").exists() and not (home / "ray_results").exists()


def test_unknown_key_and_override_errors_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "x", "model": "resnet18", "data": {"dataset": "synthetic", "image_size": 32}, "train": {"epochs": 1, "batch_size": 8},
        "trian": {},
    }))
    result = run_arena("train", str(spec), "--set", "train.epochs=zero", env_home=tmp_path / "home")
    assert result.returncode == 2
    assert "trian: unknown key" in result.stderr and "train.epochs" in result.stderr


def test_unreachable_cluster_is_one_line_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "x", "model": "resnet18", "data": {"dataset": "synthetic", "image_size": 32}, "train": {"epochs": 1, "batch_size": 8},
    }))
    home = tmp_path / "home"
    result = run_arena("train", str(spec), env_home=home)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "127.0.0.1:1" in result.stderr and "Traceback" not in result.stderr
    assert not (home / "mlflow.db").exists()


def test_unknown_model_in_models_show_suggests_names(tmp_path: Path) -> None:
    result = run_arena("models", "show", "efficientnet_b9", env_home=tmp_path)
    assert result.returncode == 2 and "efficientnet_b" in result.stderr and "Traceback" not in result.stderr
