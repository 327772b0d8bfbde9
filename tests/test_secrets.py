"""Secrets stay secret: a planted password and Ray token never show in any output, MLflow param or tag."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from arena import cli
from arena.errors import ArenaError, mask_secrets

PASSWORD = "PLANTED-pw-7c1e"
TOKEN = "PLANTED-ray-token-93ab"
SECRETS = (PASSWORD, TOKEN)


@pytest.mark.parametrize(("text", "shown"), [
    (f"postgresql+psycopg://arena:{PASSWORD}@db:5432/arena", "postgresql+psycopg://arena:***@db:5432/arena"),
    (f"cannot reach http://me:{PASSWORD}@mlflow:5000/ (refused)", "cannot reach http://me:***@mlflow:5000/ (refused)"),
    (f"host=db user=arena password={PASSWORD} dbname=x", "host=db user=arena password=*** dbname=x"),
    (f"https://h/x?token={TOKEN}&a=1", "https://h/x?token=***&a=1"),
    ("sqlite:////home/me/.arena/mlflow.db", "sqlite:////home/me/.arena/mlflow.db"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
])
def test_mask_secrets(text: str, shown: str) -> None:
    assert mask_secrets(text) == shown


def test_every_arena_error_is_masked() -> None:
    assert PASSWORD not in str(ArenaError(f"cannot open postgresql://u:{PASSWORD}@h/db"))


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings whose URIs carry a password, and a Ray token, none of it reachable."""
    home = tmp_path / "home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_TRACKING_URI", f"http://arena:{PASSWORD}@127.0.0.1:1")
    monkeypatch.setenv("ARENA_DB_URL", f"postgresql+psycopg://arena:{PASSWORD}@127.0.0.1:1/arena")
    monkeypatch.setenv("ARENA_STORAGE", str(home / "ray_results"))
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    return home


def invoke(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> str:
    """Every character `arena ARGS` printed, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["arena", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main()
    captured = capsys.readouterr()
    return captured.out + captured.err


def spec_file(tmp_path: Path) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"name": "secret-scan", "model": "resnet18", "data": {"dataset": "synthetic", "image_size": 32},
                                    "train": {"epochs": 1, "batch_size": 8}}))
    return str(path)


COMMANDS = [
    ("leaderboard", "show"),
    ("leaderboard", "sync"),
    ("leaderboard", "--view", "runs"),
    ("eval", "0123456789abcdef0123456789abcdef"),
    ("ensemble", "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"),
    ("train", "{spec}"),
    ("submit", "{spec}", "--address", f"http://ray:{PASSWORD}@127.0.0.1:1"),
    ("jobs", "list", "--address", "http://127.0.0.1:1"),
    ("dashboard", "--port", "0"),
    ("ui",),
    ("models", "list"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:2]))
def test_no_command_prints_a_planted_secret(planted: Path, monkeypatch, capsys, tmp_path: Path, args) -> None:  # noqa: ANN001
    output = invoke(monkeypatch, capsys, *(arg.format(spec=spec_file(tmp_path)) for arg in args))
    assert output.strip()
    for secret in SECRETS:
        assert secret not in output


def test_sync_summary_masks_the_tracking_uri(planted: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    import arena.leaderboard
    import arena.training.grown_models
    import arena.webpage
    from arena.leaderboard.sync import SyncReport

    monkeypatch.setenv("ARENA_DB_URL", f"sqlite:///{planted / 'leaderboard.db'}")
    monkeypatch.setattr(arena.leaderboard, "sync_runs", lambda store, uri, full, home: SyncReport(added=1, updated=0, skipped=0))
    monkeypatch.setattr(arena.webpage, "publish_leaderboard_to_mlflow", lambda *args, **kwargs: None)
    monkeypatch.setattr(arena.training.grown_models, "make_all_resolvable", lambda **kwargs: 0)
    output = invoke(monkeypatch, capsys, "leaderboard", "sync")
    assert "leaderboard synced from http://arena:***@127.0.0.1:1: 1 added" in output
    assert PASSWORD not in output


def test_dashboard_beyond_loopback_warns(arena_env, monkeypatch, capsys) -> None:  # noqa: ANN001
    import arena.webpage

    monkeypatch.setattr(arena.webpage, "make_dashboard_server", lambda store, **kwargs: None)
    monkeypatch.setattr(arena.webpage, "serve", lambda server, **kwargs: None)
    assert "warning: the dashboard on 0.0.0.0 is reachable from other machines" in invoke(
        monkeypatch, capsys, "dashboard", "--host", "0.0.0.0")
    assert "warning" not in invoke(monkeypatch, capsys, "dashboard", "--host", "127.0.0.1")


def test_mlflow_params_and_tags_carry_no_secret(arena_env, monkeypatch) -> None:  # noqa: ANN001
    from _runs import digits_spec, record_checkpoint

    from arena.tracking.client import client_for

    monkeypatch.setenv("ARENA_DB_URL", f"postgresql+psycopg://arena:{PASSWORD}@db/arena")
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    run_id = record_checkpoint(arena_env, digits_spec(), None)
    run = client_for(arena_env.tracking_uri).get_run(run_id)
    logged = " ".join(f"{key}={value}" for key, value in {**run.data.params, **run.data.tags}.items())
    assert "train.epochs=2" in logged
    for secret in SECRETS:
        assert secret not in logged
