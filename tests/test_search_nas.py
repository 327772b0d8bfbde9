"""MnasNet-style NAS: the space, validation, the reward, pricing, nas:<id> names, specs, end to end."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from arena.errors import ArenaError, SpecError
from arena.models import count_gflops, count_params, get_model_info
from arena.models.nas import NasModel, build_network, parse_architecture, save_nas_model
from arena.search.nas import space as nas_space
from arena.search.nas.reward import accuracy_of, reward
from arena.search.nas.spec import load_nas_spec, parse_nas_spec

from search_support import facts_in_a_fresh_process, tiny_search_tree

REPO = Path(__file__).resolve().parents[1]


def tiny_nas(name: str = "tiny-nas", **sections: dict) -> dict:
    """A two-trial TPE search on digits at 16 px, one short epoch each."""
    return tiny_search_tree(
        name, 1, sections,
        objective={"kind": "flops", "target": 0.002},
        budget={"num_classes": 10, "max_params": 3_000_000},
        tune={"searcher": "tpe", "num_samples": 2, "scheduler": "fifo", "max_concurrent": 2},
    )


# --- the space ----------------------------------------------------------------------------------


def test_the_skeleton_is_efficientnet_b0() -> None:
    """B0's own choices in this space build a net of B0's exact size (timm's efficientnet_b0)."""
    net = build_network(nas_space.skeleton_architecture(), 1000)
    assert count_params(net) == 5_288_548
    assert count_gflops(net, 224) == pytest.approx(get_model_info("efficientnet_b0").gflops, rel=0.01)


@pytest.mark.parametrize("seed", range(3))
def test_every_seeded_sample_is_valid_in_the_space_and_runs(seed: int) -> None:
    samples = nas_space.sample_architectures(4, seed)
    assert samples == nas_space.sample_architectures(4, seed)  # seeded: the same draw twice
    for architecture in samples:
        assert not nas_space.outside_space(architecture)
        assert parse_architecture(json.loads(json.dumps(architecture.to_json()))) == architecture
        assert nas_space.from_flat(nas_space.to_flat(architecture)) == architecture
        net = build_network(architecture, num_classes=10)
        out = net(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_samples_cover_the_choices() -> None:
    stages = [stage for a in nas_space.sample_architectures(40, 7) for stage in a.stages]
    assert {s.op for s in stages} == {"conv", "sepconv", "mbconv"}
    assert {s.kernel for s in stages} == {3, 5} and {s.se_ratio for s in stages} == {0.0, 0.25}
    assert {s.expansion for s in stages if s.op == "mbconv"} == {1, 3, 6}
    assert {s.expansion for s in stages if s.op != "mbconv"} == {1}


def test_filters_and_layers_follow_the_skeleton() -> None:
    assert nas_space.stage_choices(0) == {**nas_space.stage_choices(0), "filters": (16, 24), "layers": (1, 2)}
    assert nas_space.stage_choices(2)["filters"] == (32, 40, 48)  # 40 -25%/0/+25%, multiples of 8
    assert nas_space.stage_choices(5)["layers"] == (3, 4, 5)


def test_mutation_changes_one_field_and_stays_in_the_space() -> None:
    rng = random.Random(3)
    architecture = nas_space.skeleton_architecture()
    for _ in range(60):
        child = nas_space.mutate(architecture, rng)
        changed = [(a, b) for a, b in zip(architecture.to_json()["stages"], child.to_json()["stages"]) if a != b]
        assert len(changed) == 1
        assert not nas_space.outside_space(child)
        parse_architecture(child.to_json())
        architecture = child


def _document() -> dict:
    return nas_space.skeleton_architecture().to_json()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["stages"][2].update(op="attention"), "stages[2].op: 'attention' is not one of conv, sepconv, mbconv"),
        (lambda d: d["stages"][0].update(kernel=7), "stages[0].kernel: 7 is not one of 3, 5"),
        (lambda d: d["stages"].pop(), "stages: the skeleton has 7 stages, got 6"),
        (lambda d: d["stages"].append(dict(d["stages"][0])), "stages: the skeleton has 7 stages, got 8"),
        (lambda d: d["stages"][4].update(layers=-1), "stages[4].layers: must be an integer >= 1, got -1"),
        (lambda d: d["stages"][1].pop("skip"), "stages[1].skip: required field is missing"),
        (lambda d: d["stages"][3].update(filters=81), "stages[3].filters: must be a multiple of 8, got 81"),
        (lambda d: d["stages"][3].update(op="conv"), "stages[3].expansion: conv has no expansion; it must be 1, got 6"),
        (lambda d: d.pop("stages"), "stages: required list of 7 stages"),
        (lambda d: d.update(version=2), "version: must be 1, got 2"),
        (lambda d: d["stages"][6].update(width=3), "stages[6].width: unknown key"),
    ],
)
def test_invalid_documents_are_rejected_naming_the_field(edit, expected: str) -> None:
    document = _document()
    edit(document)
    with pytest.raises(SpecError) as raised:
        parse_architecture(document, source="arch.json")
    assert expected in str(raised.value) and "arch.json" in str(raised.value)


def test_every_problem_of_a_document_is_reported_together() -> None:
    document = _document()
    document["stages"][0].update(op="pool", kernel=7, layers=0)
    with pytest.raises(ArenaError) as raised:
        parse_architecture(document)
    assert len(raised.value.problems) == 3


# --- the reward ---------------------------------------------------------------------------------


def test_reward_exact_values() -> None:
    assert reward(0.75, 0.4, 0.4, -0.07) == 0.75  # on target: the accuracy itself
    assert reward(0.75, 0.8, 0.4, -0.07) == pytest.approx(0.75 * 2**-0.07)  # ~0.7145
    assert reward(0.75, 0.2, 0.4, -0.07) == pytest.approx(0.75 * 0.5**-0.07)  # ~0.7873
    assert reward(0.5, 0.8, 0.4, -0.07, w_over=-1.0) == pytest.approx(0.25)  # a hard-ish constraint above T
    assert reward(0.5, 0.2, 0.4, 0.0, w_over=-1.0) == 0.5  # w = 0: no bonus for being small
    assert accuracy_of(23.0) == pytest.approx(0.77)


def test_reward_is_monotonic_in_accuracy_and_penalises_over_target_flops() -> None:
    accuracies = [0.1 * k for k in range(1, 10)]
    rewards = [reward(a, 0.6, 0.4, -0.07) for a in accuracies]
    assert rewards == sorted(rewards) and len(set(rewards)) == len(rewards)
    costs = [0.1, 0.2, 0.4, 0.8, 1.6]
    by_cost = [reward(0.7, c, 0.4, -0.07) for c in costs]
    assert by_cost == sorted(by_cost, reverse=True)
    assert reward(0.7, 0.8, 0.4, -0.07) < 0.7 < reward(0.7, 0.2, 0.4, -0.07)
    # The paper's trade: twice the target needs about 5% more accuracy to tie.
    assert reward(0.7 * 2**0.07, 0.8, 0.4, -0.07) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        reward(0.7, 0.0, 0.4, -0.07)


# --- pricing ------------------------------------------------------------------------------------


def test_pricing_counts_each_candidate_and_drops_over_budget() -> None:
    from arena.search.nas.plan import price_architecture, price_reward

    spec = parse_nas_spec(tiny_nas(budget={"max_params": 2_000_000, "num_classes": 10}))
    priced = [price_architecture(spec, a) for a in nas_space.sample_architectures(6, 0)]
    for candidate in priced:
        net = build_network(candidate.architecture, 10)
        assert candidate.price.params == count_params(net)
        assert candidate.price.gflops == pytest.approx(count_gflops(net, 16))
        assert bool(candidate.over_budget) == (candidate.price.params > 2_000_000)
    assert any(c.over_budget for c in priced) and any(not c.over_budget for c in priced)
    assert all("max_params 2,000,000" in c.over_budget[0] for c in priced if c.over_budget)
    price = priced[0].price
    assert price_reward(spec, price, 20.0) == pytest.approx(0.8 * (price.gflops / 0.002) ** -0.07)


def test_latency_is_measured_when_it_is_the_objective() -> None:
    from arena.search.nas.plan import price_architecture

    spec = parse_nas_spec(tiny_nas(objective={"kind": "latency", "target": 5.0}))
    candidate = price_architecture(spec, nas_space.skeleton_architecture())
    assert candidate.price.latency_ms is not None and 0 < candidate.price.latency_ms < 10_000
    assert candidate.price.cost("latency") == candidate.price.latency_ms


# --- nas:<id> names -----------------------------------------------------------------------------


def test_nas_names_resolve_in_a_fresh_process(arena_env) -> None:
    architecture = nas_space.sample_architectures(1, 11)[0]
    save_nas_model(NasModel(name="nas:unit-1", architecture=architecture.to_json(), resolution=64, search="unit",
                            params=123, gflops=0.01, reward=0.7, val_top1_error=20.0), arena_env.home)
    facts = facts_in_a_fresh_process("nas:unit-1")
    assert facts["family"] == "nas" and facts["resolution"] == 64 and facts["listed"]
    assert facts["params"] == count_params(build_network(architecture, 10))
    assert facts["block"].startswith("1: ") and "7: " in facts["block"]


def test_an_unknown_nas_name_and_a_bad_saved_document_are_clear_errors(arena_env) -> None:
    from arena.errors import UnknownNameError

    with pytest.raises(UnknownNameError):
        get_model_info("nas:not-there", arena_env.home)
    document = _document()
    document["stages"][0]["kernel"] = 7
    with pytest.raises(SpecError, match="kernel: 7"):
        save_nas_model(NasModel(name="nas:bad", architecture=document, resolution=32, search="unit"), arena_env.home)


# --- specs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO / "jobs" / "search").glob("nas_*.yaml")), ids=lambda p: p.name)
def test_the_nas_specs_validate(path: Path) -> None:
    spec = load_nas_spec(path)
    assert spec.objective.w == -0.07 and spec.tune.searcher == "tpe"


def test_the_paper_spec_uses_the_papers_reward() -> None:
    spec = load_nas_spec(REPO / "jobs" / "search" / "nas_mnasnet.yaml")
    assert spec.objective.kind == "flops" and spec.objective.target == 0.4 and spec.objective.w_over is None
    assert spec.resolution == 224 and spec.tune.num_samples >= 100


def test_a_bad_nas_spec_lists_every_problem(tmp_path: Path) -> None:
    tree = tiny_nas(objective={"kind": "speed", "target": -1, "w": 0.5}, tune={"searcher": "grid"})
    tree["base"]["train"]["epochs"] = 0
    tree["surprise"] = True
    with pytest.raises(SpecError) as raised:
        parse_nas_spec(tree)
    text = str(raised.value)
    for field in ("objective.kind", "objective.target", "objective.w", "tune.searcher", "base.train.epochs", "surprise"):
        assert field in text
    assert len(raised.value.problems) == 6
    with pytest.raises(SpecError, match="base.model"):
        parse_nas_spec(tiny_nas(base={**tiny_nas()["base"], "model": "resnet50"}))
    with pytest.raises(SpecError, match="sample_size"):
        parse_nas_spec(tiny_nas(tune={"searcher": "evolution", "population": 2, "sample_size": 3}))


def test_overrides_reach_the_nas_spec() -> None:
    spec = load_nas_spec(REPO / "jobs" / "search" / "nas_demo.yaml", ["tune.searcher=evolution", "objective.target=0.01"])
    assert spec.tune.searcher == "evolution" and spec.objective.target == 0.01


# --- the searcher without Ray trials ------------------------------------------------------------


@pytest.mark.parametrize("searcher", ["tpe", "random", "evolution"])
def test_the_searcher_prices_before_it_proposes_and_learns(searcher: str) -> None:
    from arena.search.nas.plan import candidate_reward, price_architecture
    from arena.search.nas.searcher import NasSearcher
    from ray.tune.search import Searcher

    spec = parse_nas_spec(tiny_nas(tune={"searcher": searcher, "num_samples": 5, "population": 2, "sample_size": 2},
                                   budget={"max_params": 2_500_000, "num_classes": 10}))
    lines: list[str] = []
    tuner_side = NasSearcher(spec.tune, lambda a: price_architecture(spec, a), lambda c: {"candidate": c.id},
                             lambda c, e: candidate_reward(spec, c, e), lines.append)
    seen = []
    for index in range(5):
        config = tuner_side.suggest(f"t{index}")
        assert config not in (None, Searcher.FINISHED)
        candidate = tuner_side.candidates[config["candidate"]]
        assert not candidate.over_budget and config["candidate"] not in seen
        seen.append(config["candidate"])
        tuner_side.on_trial_complete(f"t{index}", {"val_top1_error": 50.0 - index})
    assert tuner_side.suggest("t5") == Searcher.FINISHED
    assert len(tuner_side.rewards) == 5 and all(0 < r < 1.5 for r in tuner_side.rewards.values())
    dropped = [c for c in tuner_side.candidates.values() if c.over_budget]
    assert len(lines) == len(dropped)


def test_asha_ranks_nas_trials_by_each_epochs_reward(arena_env, monkeypatch) -> None:
    """The trial runner takes the metric: NAS ranks on the reward every epoch reports, scaling on val error."""
    import pickle
    from types import SimpleNamespace

    from ray.tune.integration import ray_train

    from arena.search.core import trials
    from arena.search.nas.plan import price_architecture, trial_config, trial_metric

    spec = parse_nas_spec(tiny_nas(tune={"scheduler": "asha"}))
    metric = trial_metric(spec)
    assert (metric.name, metric.mode) == ("reward", "max")
    assert (trials.VAL_ERROR.name, trials.VAL_ERROR.mode, trials.VAL_ERROR.score) == ("val_top1_error", "min", None)
    for chosen, expected in ((metric, ("reward", "max")), (trials.VAL_ERROR, ("val_top1_error", "min"))):
        tuner = trials.build_tuner([trials.TrialRequest("template", spec.base)], spec.tune, arena_env, kind="nas-trial",
                                   parent_run_id="parent", progress=print, metric=chosen)
        tune_config = tuner._local_tuner._tune_config  # the Tuner has no public getter for it
        assert (tune_config.metric, tune_config.mode) == expected

    # Each epoch's report reaches Tune with the reward of that epoch's error and the priced cost.
    reported: list[dict] = []
    queue = SimpleNamespace(put=reported.append)
    monkeypatch.setattr(ray_train, "_in_tune_session", lambda: True)
    monkeypatch.setattr(ray_train, "get_session", lambda: SimpleNamespace(_get_or_create_inter_actor_queue=lambda: queue))
    candidate = price_architecture(spec, nas_space.skeleton_architecture())
    config = trial_config(spec, arena_env, candidate)
    # The candidate is published as it is proposed: a trial on another host (a fresh home) finds it.
    from arena.training.grown_models import make_resolvable

    trial_host = arena_env.home.parent / "trial-host"
    make_resolvable([config["spec"]["model"]], tracking_uri=arena_env.tracking_uri, home=trial_host)
    assert get_model_info(config["spec"]["model"], trial_host).gflops == candidate.price.gflops
    callback = trials.report_callback(pickle.loads(pickle.dumps(metric)), config)  # it runs inside Ray: it must pickle
    errors = (80.0, 55.0, 40.0)
    for epoch, error in enumerate(errors, 1):
        callback.after_report(None, [{"val_top1_error": error, "epoch": epoch}], None)
    assert [row["val_top1_error"] for row in reported] == list(errors)
    gflops = candidate.price.gflops
    assert [row["reward"] for row in reported] == pytest.approx([reward(accuracy_of(e), gflops, 0.002, -0.07) for e in errors])
    assert type(trials.report_callback(trials.VAL_ERROR, config)) is ray_train.TuneReportCallback
    # A trial in local mode reports to Tune itself, with the same reward added to each epoch.
    assert trials._scored(metric, config, {"val_top1_error": 40.0})["reward"] == pytest.approx(reported[-1]["reward"])

    # With latency as the objective, the reward weighs the measured milliseconds.
    latency_spec = parse_nas_spec(tiny_nas(objective={"kind": "latency", "target": 5.0, "w_over": -1.0}))
    timed = price_architecture(latency_spec, nas_space.skeleton_architecture())
    reported.clear()
    trials.report_callback(trial_metric(latency_spec), trial_config(latency_spec, arena_env, timed)).after_report(
        None, [{"val_top1_error": 30.0}], None)
    assert reported[0]["reward"] == pytest.approx(reward(0.7, timed.price.latency_ms, 5.0, -0.07, -1.0))


def test_the_search_chart_draws_every_trial_and_is_logged_on_the_parent_run(arena_env, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from arena.search.nas.report import NasBest, NasResult, NasTrialRow
    from arena.search.nas.plan import chart_points
    from arena.tracking import run_log, search_log

    def row(model: str, gflops: float, error: float | None, status: str) -> NasTrialRow:
        score = None if error is None else reward(accuracy_of(error), gflops, 0.002, -0.07)
        return NasTrialRow(model=model, architecture={}, params=1000, gflops=gflops, latency_ms=None, val_top1_error=error,
                           accuracy=None if error is None else accuracy_of(error), reward=score, status=status, epochs=1,
                           run_id=None)

    rows = (row("nas:a", 0.0015, 40.0, "completed"), row("nas:b", 0.003, 30.0, "completed"),
            row("nas:c", 0.002, 70.0, "stopped"), row("nas:d", 0.004, None, "failed"))
    best = NasBest(model="nas:b", architecture={}, params=1000, gflops=0.003, latency_ms=None, val_top1_error=30.0,
                   reward=rows[1].reward, run_id=None)
    result = NasResult(name="unit", parent_run_id="-", objective="flops", target=0.002, w=-0.07, w_over=None,
                       resolution=16, best=best, trials=rows)
    points = chart_points(result)
    assert [(p.label, p.completed, p.best) for p in points] == [
        ("nas:a", True, False), ("nas:b", True, True), ("nas:c", False, False), ("nas:d", False, False)]
    assert points[1].reward == best.reward and points[3].reward is None

    path = search_log.draw_nas_chart(tmp_path / "chart.svg", trials=points, target_gflops=0.002, title="unit")
    svg = path.read_text()
    assert svg.startswith("<svg") and svg.count("<svg") == 3 and "target 0.002 GFLOPs" in svg  # two panels
    assert all(f"<title>{label}: " in svg for label in ("nas:a", "nas:b", "nas:c")) and "nas:d" not in svg

    run_id = run_log.start_run(arena_env.tracking_uri, arena_env.artifact_root, experiment="arena", run_name="unit",
                               tags={}, params={})
    search_log.log_nas_chart(arena_env.tracking_uri, run_id, trials=points, target_gflops=None, title="unit (latency)")
    assert "search_chart.svg" in {item.path for item in MlflowClient(arena_env.tracking_uri).list_artifacts(run_id)}


# --- end to end on Ray Tune ---------------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_tiny_nas_search_finds_a_model_that_trains(arena_env, ray_head, monkeypatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    from mlflow.tracking import MlflowClient

    from arena.search.nas.report import render_nas_result
    from arena.search.nas.plan import run_nas_search
    from arena.settings import load_settings
    from arena.spec import parse_spec
    from arena.training.launcher import run_training

    settings = load_settings()
    lines: list[str] = []
    result = run_nas_search(parse_nas_spec(tiny_nas()), settings, progress=lines.append)
    payload = json.loads(json.dumps(result.to_json()))
    assert {"best", "target_gflops", "w", "trials"} <= set(payload)
    assert payload["target_gflops"] == 0.002 and payload["w"] == -0.07 and len(payload["trials"]) == 2
    best = payload["best"]
    assert {"architecture", "model", "gflops", "params", "val_top1_error", "reward"} <= set(best)
    completed = [t for t in payload["trials"] if t["status"] == "completed"]
    assert best["reward"] == max(t["reward"] for t in completed)
    for trial in completed:
        assert trial["reward"] == pytest.approx((1 - trial["val_top1_error"] / 100) * (trial["gflops"] / 0.002) ** -0.07)
        assert trial["params"] <= 3_000_000
    info = get_model_info(best["model"], settings.home)
    assert info.family == "nas" and info.gflops == pytest.approx(best["gflops"]) and math.isclose(info.resolution, 16)
    assert any("started" in line for line in lines) and any("best:" in line for line in lines)
    assert any("epoch 1/1" in line and "reward" in line for line in lines)  # Tune saw each epoch's reward
    assert "stages" in render_nas_result(result)

    client = MlflowClient(settings.tracking_uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["arena.kind"] == "nas-search"
    assert parent.data.params["best.model"] == best["model"]
    assert parent.data.metrics["best_reward"] == pytest.approx(best["reward"])
    assert "search_chart.svg" in {item.path for item in client.list_artifacts(result.parent_run_id)}
    children = client.search_runs([parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'")
    assert {child.data.tags["arena.kind"] for child in children} == {"nas-trial"} and len(children) == 2
    for child in children:
        assert "architecture.json" in {item.path for item in client.list_artifacts(child.info.run_id)}
        assert "reward" in child.data.metrics and "gflops" in child.data.metrics

    # The winner trains like any zoo model, through the one training path, on a host that never ran the
    # search (a fresh home): its definition, reward included, comes from MLflow.
    monkeypatch.setenv("ARENA_HOME", str(settings.home.parent / "another-host"))
    settings = load_settings()
    job = parse_spec({"name": "nas-winner", "model": best["model"], "data": {"dataset": "digits", "image_size": 16,
                      "augment": {"random_resized_crop": False, "hflip": False}},
                      "train": {"epochs": 1, "batch_size": 32, "max_steps_per_epoch": 2},
                      "resources": {"workers": 1, "cpus_per_worker": 0.99}})
    trained = run_training(job, settings, show_progress=False)
    assert trained.epochs == 1 and trained.val_top1_error is not None
    assert client.get_run(trained.run_id).data.tags["arena.family"] == "nas"
    assert get_model_info(best["model"], settings.home).notes == info.notes  # with the winner's reward
