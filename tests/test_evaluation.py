"""Evaluation and ensembles on real runs trained briefly on digits (no Ray except the sharding test)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from arena.errors import ArenaError
from arena.evaluation import EvalOptions, ensemble_runs, evaluate_run, render_evaluation
from arena.evaluation.class_names import readable_names
from arena.evaluation.fusion import fuse, resolve_weights
from arena.evaluation.predict import shard_ranges
from arena.evaluation.result import score_predictions
from arena.settings import Settings, load_settings
from arena.spec import parse_spec, spec_to_yaml
from arena.tracking import evaluation_log, run_log
from arena.training.checkpoint import Checkpoint
from arena.training.session import build_session
from _runs import all_run_ids, digits_spec, record_checkpoint, train_and_record


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One arena home for the module, so the trained runs are made once."""
    home = tmp_path_factory.mktemp("evaluation") / "arena-home"
    return load_settings({
        "ARENA_HOME": str(home),
        "ARENA_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "ARENA_ARTIFACT_ROOT": str(home / "mlartifacts"),
    })


@pytest.fixture(scope="module")
def resnet_run(store: Settings) -> str:
    return train_and_record(store, digits_spec("resnet18", epochs=2, max_steps_per_epoch=8))


@pytest.fixture(scope="module")
def efficientnet_run(store: Settings) -> str:
    return train_and_record(store, digits_spec("efficientnet_b0", epochs=2, max_steps_per_epoch=8))


def logged_errors(settings: Settings, run_id: str) -> tuple[float, float]:
    metrics = run_log.get_run_summary(settings.tracking_uri, run_id)["metrics"]
    return metrics["val_top1_error"], metrics["val_top5_error"]


def test_eval_matches_the_last_logged_epoch_and_is_recorded_as_a_nested_run(store: Settings, resnet_run: str) -> None:
    before = all_run_ids(store)
    result = evaluate_run(resnet_run, store, EvalOptions(top=3))
    top1, top5 = logged_errors(store, resnet_run)
    assert result.val_top1_error == pytest.approx(top1, abs=0.01)
    assert result.val_top5_error == pytest.approx(top5, abs=0.01)
    assert result.run_id == resnet_run and result.epochs == 2 and result.crops == 1 and result.images == 360
    # per-class errors add up to the total, and the hardest are the worst classes, worst first
    assert sum(row.images for row in result.per_class) == 360
    wrong = sum(row.top1_error * row.images / 100 for row in result.per_class)
    assert wrong == pytest.approx(result.val_top1_error * 360 / 100)
    assert sum(row.errors for row in result.per_class) == round(wrong)
    assert [row.folder for row in result.per_class] == [str(digit) for digit in range(10)]
    assert len(result.hardest) == 3
    assert [row.top1_error for row in result.hardest] == sorted((row.top1_error for row in result.per_class), reverse=True)[:3]
    # the nested eval run: found by the leaderboard like a training run
    assert all_run_ids(store) - before == {result.eval_run_id}
    recorded = run_log.get_run_summary(store.tracking_uri, result.eval_run_id)
    assert recorded["status"] == "FINISHED"
    assert recorded["tags"]["mlflow.parentRunId"] == resnet_run
    assert {key: recorded["tags"][key] for key in ("arena.kind", "arena.model", "arena.family", "arena.dataset")} == {
        "arena.kind": "eval", "arena.model": "resnet18", "arena.family": "resnet", "arena.dataset": "digits",
    }
    assert recorded["metrics"]["val_top1_error"] == pytest.approx(result.val_top1_error)
    assert recorded["params"]["train.epochs"] == "2" and recorded["params"]["eval.crops"] == "1"
    stored = evaluation_log.read_evaluation(store.tracking_uri, result.eval_run_id)
    assert stored == json.loads(json.dumps(result.to_json()))
    assert {"run_id", "val_top1_error", "val_top5_error", "epochs", "per_class", "hardest", "eval_run_id"} <= set(stored)
    text = render_evaluation(result)
    assert resnet_run in text and "3 hardest classes" in text and f"{result.val_top1_error:.2f}%" in text


def test_ten_crop_evaluates_every_image_ten_times(store: Settings, resnet_run: str) -> None:
    result = evaluate_run(resnet_run, store, EvalOptions(crops=10, top=0))
    assert result.crops == 10 and result.images == 360 and result.hardest == []
    assert 0.0 <= result.val_top5_error <= result.val_top1_error <= 100.0
    assert run_log.get_run_summary(store.tracking_uri, result.eval_run_id)["tags"]["arena.crops"] == "10"


def test_fusing_two_architectures_is_at_least_as_good_as_the_weaker(
    store: Settings, resnet_run: str, efficientnet_run: str
) -> None:
    weaker = max(logged_errors(store, resnet_run)[0], logged_errors(store, efficientnet_run)[0])
    result = ensemble_runs([resnet_run, efficientnet_run], store)
    assert result.kind == "ensemble" and result.method == "mean" and result.images == 360
    assert result.val_top1_error <= weaker
    assert sum(row.errors for row in result.per_class) == round(result.val_top1_error * 3.6)
    recorded = run_log.get_run_summary(store.tracking_uri, result.run_id)
    assert recorded["status"] == "FINISHED" and "mlflow.parentRunId" not in recorded["tags"]
    assert {key: recorded["tags"][key] for key in ("arena.kind", "arena.model", "arena.family", "arena.dataset", "arena.members")} == {
        "arena.kind": "ensemble", "arena.model": "ensemble", "arena.family": "ensemble", "arena.dataset": "digits",
        "arena.members": f"{resnet_run},{efficientnet_run}",
    }
    assert recorded["metrics"]["val_top1_error"] == pytest.approx(result.val_top1_error)
    weighted = ensemble_runs([resnet_run, efficientnet_run], store, weights=[3, 1], options=EvalOptions(top=0))
    assert weighted.method == "weighted" and weighted.weights == [0.75, 0.25]
    assert run_log.get_run_summary(store.tracking_uri, weighted.run_id)["params"]["ensemble.weights"] == "0.75,0.25"
    assert "ensemble" in render_evaluation(weighted) and "weights 0.75, 0.25" in render_evaluation(weighted)


def test_unusable_runs_raise_and_record_nothing(store: Settings, resnet_run: str) -> None:
    spec = digits_spec("resnet18", name="no-checkpoint")
    without = record_checkpoint(store, spec, None)
    checkpoint = Checkpoint.load(download(store, resnet_run))
    resnet34 = digits_spec("resnet34", name="renamed")
    renamed = record_checkpoint(store, resnet34, replace(checkpoint, model_name="resnet34", spec_yaml=spec_to_yaml(resnet34)))
    mistagged = record_checkpoint(store, spec, checkpoint, tags={"arena.model": "alexnet"})
    before = all_run_ids(store)
    cases = [
        ("0123456789abcdef0123456789abcdef", "no MLflow run"),
        (without, "has no checkpoint artifact"),
        (renamed, r"do not fit model 'resnet34'.*missing"),
        (mistagged, "tagged arena.model='alexnet'"),
    ]
    for run_id, message in cases:
        with pytest.raises(ArenaError, match=message):
            evaluate_run(run_id, store)
    with pytest.raises(ArenaError, match="has no checkpoint artifact"):
        ensemble_runs([resnet_run, without], store)
    with pytest.raises(ArenaError, match="give one per run"):
        ensemble_runs([resnet_run, renamed], store, weights=[1.0])
    assert all_run_ids(store) == before


def test_ensemble_members_must_share_the_val_set(store: Settings, resnet_run: str, tmp_path: Path) -> None:
    spec = parse_spec({
        "name": "synthetic", "model": "resnet18",
        "data": {"dataset": "synthetic", "image_size": 32, "num_classes": 10, "val_size": 8},
        "train": {"epochs": 1, "batch_size": 8},
    })
    untrained = record_checkpoint(store, spec, build_session(spec, home=store.home).to_checkpoint())
    before = all_run_ids(store)
    with pytest.raises(ArenaError, match=f"run {untrained} was validated on synthetic data"):
        ensemble_runs([resnet_run, untrained], store)
    (tmp_path / "val" / "cat").mkdir(parents=True)
    with pytest.raises(ArenaError, match="class folder.* not trained on: cat"):
        evaluate_run(resnet_run, store, EvalOptions(data_root=tmp_path))
    assert all_run_ids(store) == before


def download(settings: Settings, run_id: str) -> Path:
    return run_log.download_artifacts(settings.tracking_uri, run_id, "checkpoint", Path(settings.home) / "downloads" / run_id)


def test_vote_breaks_ties_by_summed_probability() -> None:
    # three members, one image, three classes: votes 1/1/1, so the summed probability decides
    probs = torch.tensor([[[0.5, 0.4, 0.1]], [[0.3, 0.6, 0.1]], [[0.05, 0.4, 0.55]]])
    scores = fuse(list(probs.log()), "vote")
    assert scores.argmax().item() == 1  # class 1 sums 1.4 against 0.85 and 0.75
    split = torch.tensor([[[0.51, 0.49]], [[0.51, 0.49]], [[0.01, 0.99]]]).log()
    assert fuse(list(split), "vote").argmax().item() == 0  # two votes beat a larger summed probability
    assert fuse(list(split), "mean").argmax().item() == 1
    mean = fuse(list(probs.log()), "mean").exp()
    assert torch.allclose(mean, probs.mean(dim=0))
    weighted = fuse(list(probs.log()), "weighted", [0.5, 0.5, 0.0]).exp()
    assert torch.allclose(weighted, (probs[0] + probs[1]) / 2)
    for method, weights, message in [
        ("median", None, "not one of"), ("vote", [1, 2], "takes no weights"), ("weighted", [1, -1], "non-negative"),
        ("weighted", [0, 0], "above 0"),
    ]:
        with pytest.raises(ArenaError, match=message):
            resolve_weights(method, weights, 2)


def test_shards_follow_batch_boundaries() -> None:
    assert shard_ranges(10, 2, 3) == [range(0, 6), range(6, 10)]
    assert shard_ranges(10, 8, 4) == [range(0, 4), range(4, 8), range(8, 10)]
    assert shard_ranges(5, 1, 64) == [range(0, 5)]
    assert shard_ranges(0, 3, 4) == []


def test_imagenet_wnids_get_readable_names_and_per_class_errors_add_up() -> None:
    assert readable_names(["n01440764", "n01443537"]) == ["tench", "goldfish"]
    assert readable_names(["n00000000", "n01443537"]) == ["n00000000", "n01443537"]
    assert readable_names(["0", "1"]) == ["0", "1"]
    scores = torch.tensor([[3.0, 2, 1], [1, 3, 2], [1, 2, 3], [3, 2, 1]]).log()
    labels = torch.tensor([0, 0, 2, 1])
    result = score_predictions(scores, labels, ["a", "b", "c"], ["A", "B", "C"], top=2)
    assert result.val_top1_error == pytest.approx(50.0)
    assert [(row.folder, row.images, row.errors) for row in result.per_class] == [("a", 2, 1), ("b", 1, 1), ("c", 1, 0)]
    assert [row.name for row in result.hardest] == ["B", "A"]


@pytest.mark.ray
@pytest.mark.slow
def test_sharded_evaluation_on_ray_matches_one_process(
    store: Settings, resnet_run: str, ray_head: str
) -> None:
    local = evaluate_run(resnet_run, store, EvalOptions(workers=1))
    sharded = evaluate_run(resnet_run, load_settings({**env_of(store), "RAY_ADDRESS": ray_head}), EvalOptions(workers=2))
    assert sharded.val_top1_error == local.val_top1_error
    assert sharded.val_top5_error == local.val_top5_error
    assert sharded.per_class == local.per_class


def env_of(settings: Settings) -> dict[str, str]:
    return {
        "ARENA_HOME": str(settings.home),
        "ARENA_TRACKING_URI": settings.tracking_uri,
        "ARENA_ARTIFACT_ROOT": settings.artifact_root,
    }
