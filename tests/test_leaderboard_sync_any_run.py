"""The sync reads anything: runs with arbitrary params, tags and metrics never break it, on SQLite and PostgreSQL.

The property tests hand the sync generated runs in place of MLflow's (what MLflow would refuse to
store is fair game too: a shared server may hold runs written by other tools); one test goes
through a real MLflow store and the `arena leaderboard sync` command.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leaderboard_support import BACKENDS, database_url, log_run, tracking_store
from sqlalchemy import delete, select

import arena.tracking.query as query
from arena import jsontext
from arena.errors import mask_secrets
from arena.leaderboard import open_store, render, show, sync_runs
from arena.leaderboard import measured_rows
from arena.leaderboard.schema import LeaderboardState, MeasuredResult
from arena.leaderboard.views import VIEWS
from arena.tracking.query import RunRecord

URI = "sqlite:///generated-mlflow.db"
STRING_COLUMNS = {"run_id": 64, "model": 200, "family": 100, "dataset": 100, "experiment": 300, "run_name": 300}
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])

text = st.one_of(st.sampled_from(["resnet18", "digits", "resnet", "arena"]), st.text(max_size=12),
                 st.text(min_size=95, max_size=320))  # names as arena writes them, short text, or around column sizes
number_text = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "1e400", "None", "", " 7 ", "1_000"]),
    text,
)
metric = st.one_of(st.none(), st.floats(min_value=0, max_value=100), st.floats(allow_nan=True, allow_infinity=True))
kind = st.one_of(st.sampled_from(["train", "eval", "ensemble", "scaling-trial", "nas-trial"]),
                 st.sampled_from([None, "scaling-search"]), text)  # None: no arena.kind tag


@st.composite
def runs(draw: st.DrawFn) -> list[RunRecord]:
    """Runs as the tracking store might hand them over: mostly arena's, with any tags, params and metrics."""
    ids = draw(st.lists(st.one_of(st.text("0123456789abcdef", min_size=32, max_size=32), text.filter(bool)),
                        min_size=1, max_size=6, unique=True))
    records = []
    for run_id in ids:
        tags = {"arena.kind": draw(kind), "arena.model": draw(st.one_of(st.none(), text))}
        tags |= draw(st.dictionaries(st.sampled_from(["arena.family", "arena.dataset", "arena.measured_on", "mlflow.user"]),
                                     st.one_of(st.sampled_from(["val", "holdout"]), text)))
        tags = {key: value for key, value in tags.items() if value is not None}
        params = draw(st.dictionaries(st.sampled_from(["model", "data.dataset", "data.image_size", "train.epochs",
                                                       "model.params", "model.gflops", "resources.workers",
                                                       "resources.gpus_per_worker", "data.holdout"]), number_text))
        metrics = {key: value for key in ("val_top1_error", "val_top5_error", "images_per_second")
                   if (value := draw(metric)) is not None}
        start, end = draw(st.one_of(st.none(), INT64)), draw(st.one_of(st.none(), INT64))
        records.append(RunRecord(run_id, draw(text), draw(text), "FINISHED", start, end, tags, params, metrics))
    return records


def ranked(record: RunRecord) -> bool:
    """Whether the leaderboard ranks this run at all (an arena kind that measures, a model, a finite val metric)."""
    finite = [value for key in ("val_top1_error", "val_top5_error")
              if (value := record.metrics.get(key)) is not None and abs(value) < sys.float_info.max]
    return (record.tags.get("arena.kind") in {"train", "eval", "ensemble", "scaling-trial", "nas-trial"}
            and bool(record.tags.get("arena.model") or record.params.get("model")) and bool(finite))


def storable(record: RunRecord) -> bool:
    """Whether every string the row takes fits its column (what the sync must not refuse)."""
    values = {
        "run_id": record.run_id, "model": record.tags.get("arena.model") or record.params.get("model"),
        "family": record.tags.get("arena.family") or "unknown",
        "dataset": measured_rows.dataset_name(record),
        "experiment": mask_secrets(record.experiment), "run_name": mask_secrets(record.run_name),
    }
    return all(len(values[name]) <= size and "\x00" not in values[name] for name, size in STRING_COLUMNS.items())


def strict(payload: str) -> object:
    """Parse JSON as strict parsers do: NaN and Infinity are errors."""
    return json.loads(payload, parse_constant=lambda name: pytest.fail(f"not strict JSON: {name}"))


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    for url in database_url(request.param, tmp_path):
        with open_store(url) as opened:
            yield opened


def _fake_tracking(monkeypatch: pytest.MonkeyPatch, records: list[RunRecord], gone: set[str] = frozenset()) -> None:
    monkeypatch.setattr(query, "list_finished_runs", lambda uri, since: list(records))
    monkeypatch.setattr(query, "list_unranked_run_ids", lambda uri: set(gone))


@EXAMPLES
@given(records=runs())
def test_any_run_is_stored_refused_with_a_reason_or_left_out(store, records: list[RunRecord]) -> None:  # noqa: ANN001
    with store.writing() as connection:  # each example starts from an empty leaderboard
        connection.execute(delete(MeasuredResult))
        connection.execute(delete(LeaderboardState))
    with pytest.MonkeyPatch.context() as monkeypatch:
        _fake_tracking(monkeypatch, records)
        before = int(time.time() * 1000)
        report = sync_runs(store, URI, refresh_zoo=False)

    refused = {item.run_id for item in report.refused}
    with store.reading() as connection:
        stored = {row.run_id: row for row in connection.execute(select(MeasuredResult))}
        watermark = connection.scalar(select(LeaderboardState.number).where(LeaderboardState.key == f"sync_watermark:{URI}"))
    expected_in = {record.run_id for record in records if ranked(record) and storable(record)}
    expected_refused = {record.run_id for record in records if ranked(record) and not storable(record)}
    assert set(stored) == expected_in and refused == expected_refused
    assert (report.added, report.updated, report.skipped) == (len(stored), 0, len(records) - len(stored))
    for item in report.refused:  # one line each, naming the run
        assert item.line().startswith(f"run {measured_rows._shown(item.run_id)} (") and "\n" not in item.line()
    for row in stored.values():
        for name in ("top1_error", "top5_error", "gflops", "images_per_second", "device_hours"):
            value = getattr(row, name)
            assert value is None or math.isfinite(value), name
        assert row.measured_on in ("val", "holdout") and row.device in ("cpu", "gpu")
        assert all(value is None or -(2**31) <= value < 2**31 for value in (row.image_size, row.epochs))
    newest = max((record.end_ms or 0 for record in records), default=0)
    if newest:  # past every run read, the refused ones included, never past the sync's own clock
        assert watermark == min(newest, watermark) and (watermark == newest or watermark >= before)
    for view in VIEWS:
        assert isinstance(strict(render(show(store, view, limit=0), "json", view)), list)


def test_a_run_the_database_refuses_is_left_out_and_the_rest_are_stored(store, monkeypatch) -> None:  # noqa: ANN001
    good = RunRecord("a" * 32, "arena", "good", "FINISHED", 1, 2, {"arena.kind": "train", "arena.model": "resnet18"},
                     {}, {"val_top1_error": 30.0})
    odd = RunRecord("b" * 32, "arena", "odd", "FINISHED", 1, 3, {"arena.kind": "train", "arena.model": "resnet\ud800"},
                    {}, {"val_top1_error": 20.0})  # a lone surrogate: no database encodes it
    monkeypatch.setattr(measured_rows, "fit_to_columns", lambda row: None)  # as if a check had missed it
    _fake_tracking(monkeypatch, [good, odd])
    report = sync_runs(store, URI, refresh_zoo=False)
    assert [item.run_id for item in report.refused] == [odd.run_id] and "the database refused it" in report.refused[0].reason
    assert [row["run_id"] for row in show(store, "runs")] == [good.run_id] and report.added == 1


def test_cli_sync_survives_odd_runs_in_a_real_tracking_store(arena_env, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    from mlflow.entities import Metric

    import arena.webpage
    from arena import cli

    uri, client, experiment = tracking_store(tmp_path / "odd")
    monkeypatch.setenv("ARENA_TRACKING_URI", uri)
    monkeypatch.setattr(arena.webpage, "publish_leaderboard_to_mlflow", lambda *args, **kwargs: None)
    good = log_run(client, experiment, "good", model="alexnet", family="alexnet")
    endless = log_run(client, experiment, "endless", model="alexnet", family="alexnet",
                      extra_params={"train.epochs": "inf", "model.params": str(2**80), "data.image_size": "nan"})
    long_model = log_run(client, experiment, "long-model", model="m" * 250, family="alexnet")
    nan_metric = log_run(client, experiment, "nan-metric", model="zfnet", family="zfnet", top1=(40.0,))
    client.log_batch(nan_metric, metrics=[Metric("val_top1_error", float("nan"), 0, 9),
                                          Metric("images_per_second", float("inf"), 0, 9)])
    client.set_terminated(nan_metric, "FINISHED")
    other_tool = client.create_run(experiment, run_name="not-arena", tags={"arena.model": "alexnet"}).info.run_id
    client.log_batch(other_tool, metrics=[Metric("val_top1_error", 1.0, 0, 1)])
    client.set_terminated(other_tool, "FINISHED")

    monkeypatch.setattr("sys.argv", ["arena", "leaderboard", "sync"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    said = capsys.readouterr().err
    assert exit_.value.code == 0, said
    warnings = [line for line in said.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and long_model in warnings[0] and "model is 250 characters long" in warnings[0]
    assert "3 added" in said
    monkeypatch.setattr("sys.argv", ["arena", "leaderboard", "show", "--view", "runs", "--format", "json"])
    with pytest.raises(SystemExit):
        cli.main()
    rows = {row["run_id"]: row for row in strict(capsys.readouterr().out)}
    assert set(rows) == {good, endless, nan_metric}  # not the refused run, nor another tool's
    assert (rows[endless]["epochs"], rows[endless]["params"], rows[endless]["image_size"]) == (None, None, None)
    assert rows[nan_metric]["measured_top1_error"] is None and rows[nan_metric]["images_per_second"] is None


def test_json_printers_write_strict_json(capsys) -> None:  # noqa: ANN001
    from arena.cli.base import _print_json

    payload = {"a": float("nan"), "b": [float("inf"), 1.5, {"c": float("-inf")}], "d": (2, "x")}
    _print_json(payload)
    assert strict(capsys.readouterr().out) == {"a": None, "b": [None, 1.5, {"c": None}], "d": [2, "x"]}
    assert strict(jsontext.dumps(payload))["a"] is None
    assert strict(render([{"run_id": "r", "gflops": float("inf")}], "json")) == [{"run_id": "r", "gflops": None}]
