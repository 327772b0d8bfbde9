"""How arena's runs look in MLflow's UI: Model-training links, experiment tags, sortable figures, one leaderboard run."""

from __future__ import annotations

import json
from pathlib import Path

from arena.tracking import run_log
from arena.tracking.client import client_for
from arena.tracking.experiment_views import (
    KIND_TAG,
    LEADERBOARD_COLUMNS,
    LEADERBOARD_VIEW,
    MODEL_TRAINING_KIND,
    SAVED_VIEW_TAG_PREFIX,
    experiment_tags,
)
from arena.tracking.leaderboard_log import LOGGED_ARTIFACTS_TAG, find_leaderboard_run, publish_leaderboard_run
from arena.webpage.mlflow_links import artifact_url, run_page, run_url, runs_table_url

UI = "http://127.0.0.1:5999/"
VIEW_TAG = SAVED_VIEW_TAG_PREFIX + LEADERBOARD_VIEW


def test_links_open_the_model_training_view() -> None:
    assert run_url(UI, "abc", "7") == "http://127.0.0.1:5999/#/experiments/7/runs/abc?workflowType=machine_learning"
    assert run_url(UI, "abc", None) == "http://127.0.0.1:5999/#/runs/abc?workflowType=machine_learning"
    assert artifact_url(UI, "abc", "2", "leaderboard.html") == (
        "http://127.0.0.1:5999/#/experiments/2/runs/abc/artifacts/leaderboard.html?workflowType=machine_learning")
    assert runs_table_url(UI, "1", LEADERBOARD_VIEW) == (
        "http://127.0.0.1:5999/#/experiments/1/runs?viewStateShareKey=arena-leaderboard&workflowType=machine_learning")


def test_a_new_experiment_gets_its_kind_and_the_leaderboard_view() -> None:
    tags = experiment_tags({}, leaderboard_view=True, now_ms=1000)
    assert tags[KIND_TAG] == MODEL_TRAINING_KIND == "custom_model_development"
    envelope = json.loads(tags[VIEW_TAG])
    assert envelope["name"] == "Leaderboard" and envelope["createdAt"] == envelope["updatedAt"] == 1000
    state = json.loads(envelope["state"])  # the UI parses this string as the view's state
    assert state["orderByKey"] == "metrics.`best_val_top1_error`" and state["orderByAsc"] is True
    assert state["selectedColumns"] == list(LEADERBOARD_COLUMNS) and state["searchFilter"] == "tags.`arena.kind` = 'train'"
    assert experiment_tags({}, leaderboard_view=False) == {KIND_TAG: MODEL_TRAINING_KIND}


def test_a_users_kind_stays_and_a_current_view_is_not_rewritten() -> None:
    current = {**experiment_tags({}, leaderboard_view=True, now_ms=1000), KIND_TAG: "genai_development"}
    assert experiment_tags(current, leaderboard_view=True, now_ms=2000) == {}
    outdated = {**current, VIEW_TAG: json.dumps({"name": "Leaderboard", "createdAt": 1000, "updatedAt": 1000, "state": "{}"})}
    rewritten = json.loads(experiment_tags(outdated, leaderboard_view=True, now_ms=2000)[VIEW_TAG])
    assert rewritten["createdAt"] == 1000 and rewritten["updatedAt"] == 2000 and json.loads(rewritten["state"])["selectedColumns"]


def test_a_training_run_leaves_sortable_figures_in_a_tagged_experiment(arena_env) -> None:  # noqa: ANN001
    uri, root = arena_env.tracking_uri, arena_env.artifact_root
    run_id = run_log.start_run(uri, root, experiment="arena", run_name="resnet50-digits", tags={"arena.kind": "train"},
                               params={"model": "resnet50", "model.params": "25557032", "model.gflops": "4.09"})
    run_log.log_epochs(uri, run_id, [{"epoch": 1, "val_top1_error": 30.0, "val_top5_error": 9.0}])
    run_log.log_epochs(uri, run_id, [{"epoch": 1, "val_top1_error": 30.0, "val_top5_error": 9.0},
                                     {"epoch": 2, "val_top1_error": 12.5, "val_top5_error": 10.0}])
    client = client_for(uri)
    run = client.get_run(run_id)
    assert run.data.metrics["model.params"] == 25557032 and run.data.metrics["model.gflops"] == 4.09
    assert run.data.metrics["best_val_top1_error"] == 12.5 and run.data.metrics["best_val_top5_error"] == 9.0  # each its own best
    assert run.data.params["model.params"] == "25557032"  # the params docs/mlflow.md names stay
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[KIND_TAG] == MODEL_TRAINING_KIND and VIEW_TAG in experiment.tags


def test_run_page_reads_the_experiment_and_falls_back_to_the_run_only_route(arena_env) -> None:  # noqa: ANN001
    uri = arena_env.tracking_uri
    run_id = run_log.start_run(uri, arena_env.artifact_root, experiment="arena", run_name="r", tags={}, params={})
    experiment_id = client_for(uri).get_run(run_id).info.experiment_id
    assert run_page(uri, UI, run_id) == run_url(UI, run_id, experiment_id)
    assert run_page(uri, UI, "0" * 32) == run_url(UI, "0" * 32, None)


def _publish(settings, tables: dict[str, list[dict]]) -> str:  # noqa: ANN001
    return publish_leaderboard_run(
        settings.tracking_uri, settings.artifact_root, experiment="leaderboard",
        tables={path: (["model", "top1"], rows) for path, rows in tables.items()}, texts={"leaderboard.html": "<p>page</p>"},
        metrics={"datasets": len(tables)},
    )


def test_the_leaderboard_run_is_rewritten_in_place(arena_env, tmp_path: Path) -> None:  # noqa: ANN001
    first = _publish(arena_env, {"ilsvrc/digits.json": [{"model": "a", "top1": 1.0}], "ilsvrc/old.json": []})
    second = _publish(arena_env, {"ilsvrc/digits.json": [{"model": "b", "top1": 2.0}]})
    assert first == second
    client = client_for(arena_env.tracking_uri)
    assert find_leaderboard_run(client, "leaderboard") == (client.get_run(first).info.experiment_id, first)
    table = json.loads(Path(client.download_artifacts(first, "ilsvrc/digits.json", str(tmp_path))).read_text())
    assert table == {"columns": ["model", "top1"], "data": [["b", 2.0]]}  # replaced, not appended to
    assert [item.path for item in client.list_artifacts(first, "ilsvrc")] == ["ilsvrc/digits.json"]  # a vanished dataset's table goes
    run = client.get_run(first)
    assert json.loads(run.data.tags[LOGGED_ARTIFACTS_TAG]) == [{"path": "ilsvrc/digits.json", "type": "table"}]
    assert run.data.metrics["datasets"] == 1 and run.info.status == "FINISHED"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[KIND_TAG] == MODEL_TRAINING_KIND and VIEW_TAG not in experiment.tags


def test_racing_first_publications_keep_the_older_run(arena_env) -> None:  # noqa: ANN001
    client = client_for(arena_env.tracking_uri)
    experiment_id = run_log.ensure_experiment(client, "leaderboard", arena_env.artifact_root, leaderboard_view=False)
    older = client.create_run(experiment_id, run_name="leaderboard", tags={"arena.kind": "leaderboard"}, start_time=1000).info.run_id
    newer = client.create_run(experiment_id, run_name="leaderboard", tags={"arena.kind": "leaderboard"}, start_time=2000).info.run_id
    assert _publish(arena_env, {"ilsvrc/digits.json": []}) == older
    assert client.get_run(newer).info.lifecycle_stage == "deleted"


def test_no_leaderboard_run_before_the_first_publication(arena_env) -> None:  # noqa: ANN001
    client = client_for(arena_env.tracking_uri)
    assert find_leaderboard_run(client, "leaderboard") is None



def test_arena_ui_on_a_busy_port_is_one_line_exit_2_and_starts_nothing(arena_env, tmp_path: Path) -> None:  # noqa: ANN001
    import socket
    import subprocess
    import sys

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = subprocess.run([str(Path(sys.executable).parent / "arena"), "ui", "--port", str(port), "--no-browser"],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert f"cannot start the MLflow UI on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert not Path(arena_env.tracking_uri.removeprefix("sqlite:///")).exists()  # nothing started, nothing written
