"""Grown models (scaled:, nas:) published to MLflow from one arena home resolve from any other (docs/mlflow.md).

The searching host is one ARENA_HOME; every other host is a fresh, empty ARENA_HOME with the same
tracking URI. The searches' own tests (test_search_*.py) check that a search publishes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from conftest import free_port
from sqlalchemy import select

from arena import cli, models
from arena.errors import ArenaError
from arena.models.nas import NasModel, load_nas_model, save_nas_model
from arena.models.persisted import CorruptDocument
from arena.models.scaled import ScaledModel, save_scaled_model
from arena.search.nas import space as nas_space
from arena.settings import Settings, load_settings
from arena.tracking import model_catalogue
from arena.training.grown_models import make_all_resolvable, make_resolvable, publish

NAS_BASE = "nas:grown-base"
SCALED = "scaled:grown-phi1"


@pytest.fixture(scope="module")
def searching_host(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The host that ran the searches: a nas: base and a scaled: model grown from it, saved and published."""
    root = tmp_path_factory.mktemp("grown")
    settings = load_settings({
        "ARENA_HOME": str(root / "searching-home"), "ARENA_TRACKING_URI": f"sqlite:///{root / 'tracking' / 'mlflow.db'}",
        "ARENA_ARTIFACT_ROOT": str(root / "tracking" / "artifacts"),
    })
    architecture = nas_space.sample_architectures(1, 3)[0]
    save_nas_model(NasModel(name=NAS_BASE, architecture=architecture.to_json(), resolution=16, search="grown-nas",
                            params=1234, gflops=0.001), settings.home)
    save_scaled_model(ScaledModel(name=SCALED, base=NAS_BASE, width_multiplier=1.0, depth_multiplier=1.0, resolution=16,
                                  phi=1, alpha=1.2, beta=1.1, gamma=1.15, search="grown-scaling"), settings.home)
    assert publish([SCALED], settings) == 2  # the scaled model brings the nas: base it grows from
    assert publish([SCALED], settings) == 0  # the same definitions again change nothing
    return settings


@pytest.fixture
def fresh_host(searching_host: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Another host: an empty ARENA_HOME, the same tracking store, its own leaderboard."""
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_TRACKING_URI", searching_host.tracking_uri)
    monkeypatch.setenv("ARENA_ARTIFACT_ROOT", searching_host.artifact_root)
    monkeypatch.setenv("ARENA_DB_URL", f"sqlite:///{tmp_path / 'leaderboard.db'}")
    monkeypatch.setenv("ARENA_STORAGE", str(tmp_path / "ray_results"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return load_settings()


def invoke(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """`arena ARGS` in this process; the exit code."""
    monkeypatch.setattr(sys, "argv", ["arena", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    return exit_.value.code or 0


def test_a_fresh_home_lists_shows_and_builds_a_published_model(
    searching_host: Settings, fresh_host: Settings, monkeypatch, capsys
) -> None:
    assert not [name for name in models.model_names(fresh_host.home) if ":" in name]  # nothing grown here yet
    assert invoke(monkeypatch, "models", "list", "--format", "json") == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed[NAS_BASE]["family"] == "nas" and listed[NAS_BASE]["params"] == 1234
    assert listed[SCALED]["family"] == "nas" and listed[SCALED]["resolution"] == 16

    other = fresh_host.home.parent / "another-home"  # `models show` alone brings the model and its base
    monkeypatch.setenv("ARENA_HOME", str(other))
    assert invoke(monkeypatch, "models", "show", SCALED) == 0
    shown = capsys.readouterr().out
    assert SCALED in shown and "grown by compound scaling" in shown and "grown-scaling" in shown
    assert sorted(path.name for path in (other / "models").rglob("*.json")) == ["grown-base.json", "grown-phi1.json"]

    built_here = fresh_host.home.parent / "builder-home"
    make_resolvable([SCALED], tracking_uri=fresh_host.tracking_uri, home=built_here)
    built = models.build(SCALED, num_classes=10, home=built_here)
    assert models.count_params(built) == models.count_params(models.build(SCALED, num_classes=10, home=searching_host.home))


def test_a_republished_definition_replaces_the_stale_copy(searching_host: Settings, fresh_host: Settings) -> None:
    make_resolvable([NAS_BASE], tracking_uri=fresh_host.tracking_uri, home=fresh_host.home)
    assert load_nas_model(NAS_BASE, fresh_host.home).reward is None
    # The search records each trial's reward on its model once the trial ends, and publishes it again.
    model = load_nas_model(NAS_BASE, searching_host.home)
    save_nas_model(replace(model, reward=0.5, val_top1_error=40.0), searching_host.home)
    try:
        assert publish([NAS_BASE], searching_host) == 1
        make_resolvable([NAS_BASE], tracking_uri=fresh_host.tracking_uri, home=fresh_host.home)
        assert load_nas_model(NAS_BASE, fresh_host.home).reward == 0.5
        assert "reward 0.5000" in models.get_model_info(NAS_BASE, fresh_host.home).notes
    finally:
        save_nas_model(model, searching_host.home)
        publish([NAS_BASE], searching_host)


def test_an_unknown_grown_name_lists_the_published_ones(fresh_host: Settings, monkeypatch, capsys) -> None:
    assert invoke(monkeypatch, "models", "show", "scaled:grown-phi2") == 2
    said = capsys.readouterr().err
    assert "unknown model 'scaled:grown-phi2'" in said and SCALED in said and "Traceback" not in said
    assert invoke(monkeypatch, "models", "show", "resnet5") == 2  # the zoo's own names still suggest theirs
    assert "resnet50" in capsys.readouterr().err


def test_an_unreachable_tracking_server_is_one_clear_line(tmp_path: Path, monkeypatch, capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ARENA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARENA_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    assert invoke(monkeypatch, "models", "show", SCALED) == 2
    said = capsys.readouterr().err.strip()
    assert len(said.splitlines()) == 1 and url in said and "ARENA_TRACKING_URI" in said and "Traceback" not in said
    assert invoke(monkeypatch, "models", "show", "resnet50") == 0  # a zoo model needs no tracking server
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "x", "model": SCALED, "data": {"dataset": "synthetic", "image_size": 16},
                                    "train": {"epochs": 1, "batch_size": 8}}))
    assert invoke(monkeypatch, "train", str(spec)) == 2
    said = capsys.readouterr().err
    assert f"model: cannot use the MLflow tracking store {url}" in said and "ARENA_TRACKING_URI" in said


def test_a_corrupt_published_definition_is_named_and_never_replaces_a_good_copy(
    searching_host: Settings, fresh_host: Settings, caplog
) -> None:
    bad = "scaled:grown-bad"
    good = {**models.saved_document(SCALED, searching_host.home), "name": bad}
    model_catalogue.publish(searching_host.tracking_uri, searching_host.artifact_root, {bad: good})
    make_resolvable([bad], tracking_uri=fresh_host.tracking_uri, home=fresh_host.home)
    model_catalogue.publish(searching_host.tracking_uri, searching_host.artifact_root, {bad: {**good, "phi": "one"}})
    with pytest.raises(CorruptDocument, match="scaled:grown-bad is corrupt: phi: expected int"):
        make_resolvable([bad], tracking_uri=fresh_host.tracking_uri, home=fresh_host.home)
    assert models.get_model_info(bad, fresh_host.home).name == bad  # the good copy stays
    make_all_resolvable(tracking_uri=fresh_host.tracking_uri, home=fresh_host.home)  # a listing skips it, says why
    assert "skipped scaled:grown-bad" in caplog.text and models.get_model_info(SCALED, fresh_host.home)
    with pytest.raises(ArenaError, match="at most 8000 characters"):
        model_catalogue.publish(searching_host.tracking_uri, searching_host.artifact_root, {bad: {"x": "y" * 8000}})


def test_leaderboard_sync_from_a_fresh_home_lists_the_grown_architectures(fresh_host: Settings, monkeypatch) -> None:
    from arena.leaderboard import open_store
    from arena.leaderboard.schema import Architecture

    assert invoke(monkeypatch, "leaderboard", "sync") == 0
    with open_store(fresh_host.db_url) as store, store.reading() as connection:
        rows = {row.name: row for row in connection.execute(select(Architecture.name, Architecture.family))}
    assert rows[SCALED].family == "nas" and rows[NAS_BASE].family == "nas" and "resnet50" in rows


def test_arena_eval_from_a_fresh_home_evaluates_a_run_of_a_published_model(
    searching_host: Settings, fresh_host: Settings, monkeypatch, capsys
) -> None:
    from _runs import digits_spec, record_checkpoint

    from arena.training.session import build_session

    spec = digits_spec(SCALED, epochs=1, drop_rate=0.0, drop_path_rate=0.0)
    run_id = record_checkpoint(searching_host, spec, build_session(spec, home=searching_host.home).to_checkpoint())
    assert invoke(monkeypatch, "eval", run_id, "--format", "json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["run_id"] == run_id and result["images"] == 360 and result["val_top1_error"] is not None
    assert models.get_model_info(SCALED, fresh_host.home).family == "nas"


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_arena_train_from_a_fresh_home_trains_a_published_model(fresh_host: Settings, ray_head, monkeypatch, capsys) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    spec = fresh_host.home.parent / "grown.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "grown-on-a-fresh-home", "model": SCALED,
        "data": {"dataset": "digits", "image_size": 16, "augment": {"random_resized_crop": False, "hflip": False}},
        "train": {"epochs": 1, "batch_size": 32, "max_steps_per_epoch": 2, "drop_rate": 0.0, "drop_path_rate": 0.0},
        "resources": {"workers": 1, "cpus_per_worker": 0.99},
    }))
    assert invoke(monkeypatch, "train", str(spec), "--format", "json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs"] == 1 and result["val_top1_error"] is not None
    tags = MlflowClient(fresh_host.tracking_uri).get_run(result["run_id"]).data.tags
    assert tags["arena.model"] == SCALED and tags["arena.family"] == "nas"
