"""Syncing MLflow runs into the leaderboard, and the views and formats over them, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import gc
import io
import json
import threading
import time

import pytest
from leaderboard_support import BACKENDS, database_url, log_run, tracking_store
from sqlalchemy import func, select

from arena.errors import ArenaError
from arena.leaderboard import FORMATS, VIEWS, open_store, render, show, sync_runs
from arena.leaderboard.schema import MeasuredResult
from arena.leaderboard.views import COLUMNS
from arena.tracking.query import list_finished_runs

DESIGN_ILSVRC_KEYS = {"year", "team", "architecture", "place", "paper_top5_error", "measured_top1_error",
                      "measured_top5_error", "dataset", "run_id"}


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One MLflow store holding a small history of arena runs (8 measured, 2 that must be skipped)."""
    uri, client, experiment = tracking_store(tmp_path_factory.mktemp("mlflow"))
    ids = {
        "alexnet-a": log_run(client, experiment, "alexnet-a", model="alexnet", family="alexnet", top1=(50, 30.0), gflops=0.71),
        "alexnet-b": log_run(client, experiment, "alexnet-b", model="alexnet", family="alexnet", top1=(45, 25.0), gflops=0.71),
        "zfnet": log_run(client, experiment, "zfnet", model="zfnet", family="zfnet", top1=(40, 28.0), gflops=1.1),
        "resnet152": log_run(client, experiment, "resnet152", model="resnet152", family="resnet", top1=(30, 12.0),
                             gflops=11.5, gpus_per_worker=1),
        "resnet50": log_run(client, experiment, "resnet50", model="resnet50", family="resnet", top1=(30, 14.0), gflops=4.1),
        "vgg16": log_run(client, experiment, "vgg16", model="vgg16", family="vgg", top1=(35, 20.0), gflops=15.5),
        "b0-trial": log_run(client, experiment, "b0-trial", model="efficientnet_b0", family="efficientnet",
                            kind="scaling-trial", top1=(20, 13.0), gflops=0.39),
        "googlenet-synthetic": log_run(client, experiment, "googlenet-synthetic", model="googlenet", family="inception",
                                       dataset="synthetic", top1=(99.0,), gflops=1.5),
    }
    parent = client.create_run(experiment, run_name="scaling-search", tags={"arena.kind": "scaling-search"})
    client.set_terminated(parent.info.run_id, status="FINISHED")  # a search parent: no model, no metrics
    failed = log_run(client, experiment, "failed", model="alexnet", family="alexnet", top1=(1.0,))
    client.set_terminated(failed, status="FAILED")  # not FINISHED: never read
    return {"uri": uri, "client": client, "experiment": experiment, "ids": ids}


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001, ANN201
    yield from database_url(request.param, tmp_path)


@pytest.fixture
def synced(db_url: str, tracking: dict):  # noqa: ANN201
    with open_store(db_url) as store:
        sync_runs(store, tracking["uri"], refresh_zoo=False)
        yield store


def _measured(store) -> list[tuple]:  # noqa: ANN001
    with store.reading() as connection:
        return sorted(connection.execute(select(MeasuredResult.run_id, MeasuredResult.top1_error)).all())


def test_list_finished_runs_reads_final_epoch_metrics(tracking: dict) -> None:
    records = {record.run_name: record for record in list_finished_runs(tracking["uri"], None)}
    assert "failed" not in records and "scaling-search" in records
    alexnet = records["alexnet-b"]
    assert alexnet.metrics["val_top1_error"] == 25.0  # the last epoch, not the first
    assert alexnet.tags["arena.model"] == "alexnet" and alexnet.params["model.gflops"] == "0.71"
    assert alexnet.experiment == "arena" and alexnet.end_ms >= alexnet.start_ms


@pytest.mark.parametrize("enabled", [True, False])
def test_reads_leave_the_garbage_collector_as_they_found_it(tracking: dict, enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        threads = [threading.Thread(target=list_finished_runs, args=(tracking["uri"], None)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_missing_tracking_store_is_an_arena_error(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ArenaError, match="no MLflow tracking store"):
        list_finished_runs(f"sqlite:///{tmp_path / 'absent.db'}", None)


def test_sync_twice_gives_the_same_rows(db_url: str, tracking: dict) -> None:
    with open_store(db_url) as store:
        first = sync_runs(store, tracking["uri"], refresh_zoo=False)
        rows = _measured(store)
        second = sync_runs(store, tracking["uri"], refresh_zoo=False)
        third = sync_runs(store, tracking["uri"], full=True, refresh_zoo=False)
        assert _measured(store) == rows
    assert (first.added, first.updated, first.skipped) == (8, 0, 1)  # the search parent is skipped
    assert (second.added, second.updated) == (0, 0) and (third.added, third.updated) == (0, 0)
    assert {run_id for run_id, _ in rows} == set(tracking["ids"].values())


def test_sync_row_contents(synced) -> None:  # noqa: ANN001
    rows = {row["run_name"]: row for row in show(synced, "runs")}
    resnet = rows["resnet152"]
    assert resnet["measured_top1_error"] == 12.0 and resnet["measured_top5_error"] == 3.0
    assert resnet["device"] == "gpu" and resnet["params"] == 1_000_000 and resnet["gflops"] == 11.5
    assert resnet["epochs"] == 2 and resnet["image_size"] == 32 and resnet["images_per_second"] == 102.0
    assert resnet["device_hours"] >= 0 and resnet["finished"].endswith("+00:00") and resnet["experiment"] == "arena"
    assert rows["b0-trial"]["kind"] == "scaling-trial" and rows["alexnet-a"]["device"] == "cpu"


def test_sync_is_incremental(db_url: str, tmp_path) -> None:  # noqa: ANN001
    uri, client, experiment = tracking_store(tmp_path)
    log_run(client, experiment, "one", model="alexnet", family="alexnet")
    with open_store(db_url) as store:
        assert sync_runs(store, uri, refresh_zoo=False).added == 1
        log_run(client, experiment, "two", model="zfnet", family="zfnet")
        day_ago = int(time.time() * 1000) - 86_400_000
        log_run(client, experiment, "late-report", model="vgg16", family="vgg", end_ms=day_ago)
        report = sync_runs(store, uri, refresh_zoo=False)
        assert (report.added, report.updated, report.skipped) == (1, 0, 1)  # "one" re-read in the safety window
        assert {row["run_name"] for row in show(store, "runs")} == {"one", "two"}  # before the watermark: unread
        assert sync_runs(store, uri, full=True, refresh_zoo=False).added == 1


def test_changed_run_is_updated(db_url: str, tmp_path) -> None:  # noqa: ANN001
    from mlflow.entities import Metric

    uri, client, experiment = tracking_store(tmp_path)
    run_id = log_run(client, experiment, "resumed", model="alexnet", family="alexnet", top1=(50.0, 40.0))
    with open_store(db_url) as store:
        sync_runs(store, uri, refresh_zoo=False)
        client.log_batch(run_id, metrics=[Metric("val_top1_error", 35.0, int(time.time() * 1000), 3)])  # a resumed epoch
        client.set_terminated(run_id, status="FINISHED")
        report = sync_runs(store, uri, refresh_zoo=False)
        assert (report.added, report.updated) == (0, 1)
        assert _measured(store) == [(run_id, 35.0)]


def test_concurrent_syncs_lose_and_duplicate_nothing(db_url: str, tracking: dict) -> None:
    open_store(db_url).close()  # create the schema first; the race under test is the sync
    barrier = threading.Barrier(3)
    reports, errors = [], []

    def worker() -> None:
        try:
            with open_store(db_url) as store:
                barrier.wait()
                reports.append(sync_runs(store, tracking["uri"], refresh_zoo=False))
        except Exception as error:  # noqa: BLE001 - surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(report.added for report in reports) == 8  # each run added by exactly one sync
    with open_store(db_url) as store:
        rows = _measured(store)
        with store.reading() as connection:
            assert connection.scalar(select(func.count(func.distinct(MeasuredResult.run_id)))) == len(rows) == 8


def test_ilsvrc_view_puts_best_imagenet_1k_run_beside_paper(tmp_path, db_url: str) -> None:  # noqa: ANN001
    uri, client, experiment = tracking_store(tmp_path / "imagenet")
    log_run(client, experiment, "alexnet-a", model="alexnet", family="alexnet", dataset="imagenet-1k", top1=(50, 30.0))
    best = log_run(client, experiment, "alexnet-b", model="alexnet", family="alexnet", dataset="imagenet-1k", top1=(45, 25.0))
    log_run(client, experiment, "resnet152", model="resnet152", family="resnet", dataset="imagenet-1k", top1=(30, 12.0))
    subset = log_run(client, experiment, "googlenet-sub10", model="googlenet", family="inception",
                     dataset="imagenet-1k-sub10", top1=(9.0,))
    for index in range(3):  # digits is the most measured dataset, but never stands beside the papers
        log_run(client, experiment, f"digits-{index}", model="googlenet", family="inception", top1=(5.0,))
    with open_store(db_url) as store:
        sync_runs(store, uri)
        rows = show(store, "ilsvrc")
        assert DESIGN_ILSVRC_KEYS <= set(rows[0]) and all(row["dataset"] == "imagenet-1k" for row in rows)
        by_arch = {row["architecture"]: row for row in rows if row["architecture"]}
        assert by_arch["alexnet"]["run_id"] == best and by_arch["alexnet"]["measured_top1_error"] == 25.0
        assert by_arch["alexnet"]["paper_top5_error"] > 15 and by_arch["resnet152"]["measured_top1_error"] == 12.0
        assert by_arch["googlenet"]["run_id"] is None  # measured only on a subset and on digits
        for other in ("imagenet-1k-sub10", "digits"):
            assert all(row["run_id"] is None for row in show(store, "ilsvrc", dataset=other))
        family = {row["family"]: row for row in show(store, "family", dataset="imagenet-1k-sub10")}
        assert family["inception"]["run_id"] == subset  # the subset shows under its own name
        assert [row["architecture"] for row in show(store, "ilsvrc", family="resnet")] == ["resnet152"]


def test_family_view_is_best_per_family(synced) -> None:  # noqa: ANN001
    rows = {row["family"]: row for row in show(synced, "family")}
    assert set(rows) == {"alexnet", "zfnet", "resnet", "vgg", "efficientnet"}
    assert rows["resnet"]["model"] == "resnet152" and rows["resnet"]["runs"] == 2
    assert rows["alexnet"]["measured_top1_error"] == 25.0 and rows["alexnet"]["images_per_second"] == 102.0
    assert [row["family"] for row in show(synced, "family", family="vgg")] == ["vgg"]


def test_pareto_view_matches_brute_force(synced) -> None:  # noqa: ANN001
    runs = [row for row in show(synced, "runs", dataset="digits")]
    expected = {
        row["run_id"] for row in runs
        if not any(
            (other["gflops"] <= row["gflops"] and other["measured_top1_error"] < row["measured_top1_error"])
            or (other["gflops"] < row["gflops"] and other["measured_top1_error"] <= row["measured_top1_error"])
            for other in runs
        )
    }
    frontier = show(synced, "pareto")
    assert {row["run_id"] for row in frontier} == expected
    assert [row["model"] for row in frontier] == ["efficientnet_b0", "resnet152"]
    assert [row["gflops"] for row in frontier] == sorted(row["gflops"] for row in frontier)


def test_runs_view_filters_and_limits(synced) -> None:  # noqa: ANN001
    assert len(show(synced, "runs")) == 8
    assert len(show(synced, "runs", dataset="digits")) == 7
    assert {row["model"] for row in show(synced, "runs", family="resnet")} == {"resnet50", "resnet152"}
    assert len(show(synced, "runs", limit=3)) == 3


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_renders_in_every_format(synced, view: str) -> None:  # noqa: ANN001
    rows = show(synced, view)
    outputs = {fmt: render(rows, fmt, view) for fmt in FORMATS}
    parsed = json.loads(outputs["json"])
    assert len(parsed) == len(rows) and all(list(item) == COLUMNS[view] for item in parsed)
    reader = csv.reader(io.StringIO(outputs["csv"]))
    assert next(reader) == COLUMNS[view] and len(list(reader)) == len(rows)
    markdown = outputs["markdown"].splitlines()
    assert markdown[0].startswith("| ") and set(markdown[1]) <= {"|", " ", "-"} and len(markdown) == len(rows) + 2
    assert outputs["html"].startswith("<!DOCTYPE html>") and outputs["html"].count("<tr>") == len(rows) + 1
    assert "\x1b[" not in outputs["table"] and rows and str(rows[0][COLUMNS[view][0]]) in outputs["table"]


def test_ilsvrc_json_has_design_keys_and_nulls(synced) -> None:  # noqa: ANN001
    parsed = json.loads(render(show(synced, "ilsvrc"), "json", "ilsvrc"))
    assert all(DESIGN_ILSVRC_KEYS <= set(item) for item in parsed)
    trimps = next(item for item in parsed if item["year"] == 2016 and item["place"] == 1)
    assert trimps["architecture"] is None and trimps["run_id"] is None and trimps["measured_top1_error"] is None


def test_html_escapes_cells() -> None:
    page = render([{"team": "<script>x</script>", "year": 2012}], "html")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_ilsvrc_view_falls_back_to_the_family_and_names_the_model(tmp_path, db_url: str) -> None:  # noqa: ANN001
    uri, client, experiment = tracking_store(tmp_path / "fallback")
    se = log_run(client, experiment, "se", model="seresnet50", family="senet", dataset="imagenet-1k", top1=(9.0,), gflops=4.09)
    log_run(client, experiment, "r152", model="resnet152", family="resnet", dataset="imagenet-1k", top1=(20.0,), gflops=11.5)
    log_run(client, experiment, "r18", model="resnet18", family="resnet", dataset="imagenet-1k", top1=(10.0,), gflops=1.8)
    with open_store(db_url) as store:
        sync_runs(store, uri)
        rows = {row["architecture"]: row for row in show(store, "ilsvrc") if row["architecture"]}
    assert rows["senet154"]["measured_model"] == "seresnet50" and rows["senet154"]["run_id"] == se
    # the architecture itself, when measured, wins over a better run of a sibling
    assert rows["resnet152"]["measured_model"] == "resnet152" and rows["resnet152"]["measured_top1_error"] == 20.0
    assert rows["alexnet"]["measured_model"] is None and rows["alexnet"]["run_id"] is None


def test_a_run_ended_by_a_fast_clock_does_not_hide_later_runs(db_url: str, tmp_path) -> None:  # noqa: ANN001
    uri, client, experiment = tracking_store(tmp_path)
    log_run(client, experiment, "one", model="alexnet", family="alexnet")
    with open_store(db_url) as store:
        sync_runs(store, uri, refresh_zoo=False)
        tomorrow = int(time.time() * 1000) + 86_400_000
        log_run(client, experiment, "fast-clock", model="zfnet", family="zfnet", end_ms=tomorrow)
        assert sync_runs(store, uri, refresh_zoo=False).added == 1
        log_run(client, experiment, "after", model="vgg16", family="vgg")
        report = sync_runs(store, uri, refresh_zoo=False)
        assert not report.full and report.added == 1
        assert {row["run_name"] for row in show(store, "runs")} == {"one", "fast-clock", "after"}


def test_the_periodic_full_pass_reads_late_and_imported_runs(db_url: str, tmp_path) -> None:  # noqa: ANN001
    uri, client, experiment = tracking_store(tmp_path)
    log_run(client, experiment, "one", model="alexnet", family="alexnet")
    with open_store(db_url) as store:
        assert sync_runs(store, uri, refresh_zoo=False).full  # the first sync reads everything
        year_ago = int(time.time() * 1000) - 365 * 86_400_000
        log_run(client, experiment, "imported", model="vgg16", family="vgg", end_ms=year_ago)
        assert sync_runs(store, uri, refresh_zoo=False).added == 0  # incremental: before the watermark
        report = sync_runs(store, uri, refresh_zoo=False, full_pass_every_ms=0)
        assert report.full and report.added == 1


def test_deleted_and_unfinished_runs_leave_the_leaderboard(db_url: str, tmp_path) -> None:  # noqa: ANN001
    from sqlalchemy import insert

    uri, client, experiment = tracking_store(tmp_path)
    ids = {name: log_run(client, experiment, name, model="alexnet", family="alexnet") for name in ("kept", "deleted", "failed")}
    other = client.create_experiment("other", artifact_location=(tmp_path / "other").as_uri())
    ids["in-deleted-experiment"] = log_run(client, other, "in-deleted-experiment", model="zfnet", family="zfnet")
    with open_store(db_url) as store:
        assert sync_runs(store, uri, refresh_zoo=False).added == 4
        client.delete_run(ids["deleted"])
        client.set_terminated(ids["failed"], status="FAILED")
        client.delete_experiment(other)
        report = sync_runs(store, uri, refresh_zoo=False)
        assert not report.full and report.removed == 3
        assert {row["run_name"] for row in show(store, "runs")} == {"kept"}
        with store.writing() as connection:  # a row whose run MLflow no longer has at all
            connection.execute(insert(MeasuredResult).values(run_id="f" * 32, model="alexnet", family="alexnet",
                                                             dataset="digits", kind="train", device="cpu", tracking_uri=uri))
        assert sync_runs(store, uri, full=True, refresh_zoo=False).removed == 1
        assert {row["run_id"] for row in show(store, "runs")} == {ids["kept"]}


def test_sync_full_from_the_command_line(arena_env, monkeypatch, capsys) -> None:  # noqa: ANN001
    import sys

    from _runs import digits_spec, record_checkpoint

    from arena import cli

    record_checkpoint(arena_env, digits_spec(), None)
    for args, said in ((["--full"], "(every run): 0 added"), ([], ": 0 added")):
        monkeypatch.setattr(sys, "argv", ["arena", "leaderboard", "sync", *args])
        with pytest.raises(SystemExit) as exit_:
            cli.main()
        assert exit_.value.code == 0
        assert said in capsys.readouterr().err


def test_a_run_with_a_bare_old_dataset_tag_keeps_a_name_of_its_own() -> None:
    from arena.leaderboard.measured_rows import measured_row
    from arena.tracking.query import RunRecord

    def record(run_id: str, dataset: str) -> RunRecord:
        return RunRecord(run_id, "arena", "r", "FINISHED", 0, 1, tags={"arena.model": "resnet50", "arena.dataset": dataset,
                                                                           "arena.kind": "train"},
                         metrics={"val_top1_error": 30.0})

    # As migration 0003 renamed them, so a full sync never turns them back into one bare dataset.
    assert measured_row(record("a" * 32, "imagefolder"), "uri")["dataset"] == "imagefolder-unverified-aaaaaaaaaaaa"
    assert measured_row(record("b" * 32, "imagenet"), "uri")["dataset"] == "imagenet-unverified-bbbbbbbbbbbb"
    assert measured_row(record("c" * 32, "imagenet-1k"), "uri")["dataset"] == "imagenet-1k"


def test_measured_on_comes_from_what_each_run_records_and_only_val_ranks(tmp_path, db_url: str) -> None:  # noqa: ANN001
    from arena.leaderboard.chart_points import measured_points

    uri, client, experiment = tracking_store(tmp_path / "measured-on")
    net = {"model": "resnet152", "family": "resnet", "dataset": "imagenet-1k"}
    ids = {
        "trained": log_run(client, experiment, "trained", **net, top1=(30.0,), gflops=4.1),
        # A training run with a holdout from before the tag: its val_* metrics came from the held-out slice.
        "held-out-train": log_run(client, experiment, "held-out-train", **net, top1=(5.0,), gflops=4.1,
                                  extra_params={"data.holdout": "100"}),
        "trial": log_run(client, experiment, "trial", **net, kind="scaling-trial", top1=(4.0,), gflops=1.0,
                         extra_params={"data.holdout": "360"}),
        "tagged-trial": log_run(client, experiment, "tagged-trial", **net, kind="nas-trial", top1=(3.0,), gflops=0.5,
                                extra_tags={"arena.measured_on": "holdout"}),
        # The search winner measured on val/: an eval run copies the trial's params, data.holdout included.
        "winner-on-val": log_run(client, experiment, "winner-on-val", **net, kind="eval", top1=(28.0,), gflops=1.0,
                                 extra_params={"data.holdout": "360"}),
        "tagged-val": log_run(client, experiment, "tagged-val", **net, top1=(29.0,), gflops=2.0,
                              extra_tags={"arena.measured_on": "val"}),
    }
    with open_store(db_url) as store:
        sync_runs(store, uri, refresh_zoo=False)
        runs = {row["run_name"]: row["measured_on"] for row in show(store, "runs")}
        assert runs == {"trained": "val", "held-out-train": "holdout", "trial": "holdout", "tagged-trial": "holdout",
                        "winner-on-val": "val", "tagged-val": "val"}
        assert {item["measured_on"] for item in json.loads(render(show(store, "runs"), "json", "runs"))} == {"val", "holdout"}
        val_ids = {ids[name] for name, on in runs.items() if on == "val"}
        # The holdout rows err least, yet no ranking view nor chart sets them beside val/ runs.
        resnet = next(row for row in show(store, "ilsvrc") if row["architecture"] == "resnet152")
        assert resnet["run_id"] == ids["winner-on-val"] and resnet["measured_top1_error"] == 28.0
        (family,) = show(store, "family", dataset="imagenet-1k")
        assert family["run_id"] == ids["winner-on-val"] and family["runs"] == 3
        assert {row["run_id"] for row in show(store, "pareto", dataset="imagenet-1k")} <= val_ids
        assert {row["run_id"] for row in measured_points(store, "imagenet-1k")} <= val_ids


def test_two_syncs_with_runs_ending_in_between_lose_nothing(tmp_path, db_url: str, monkeypatch) -> None:  # noqa: ANN001
    import arena.tracking.query as query

    uri, client, experiment = tracking_store(tmp_path / "race")
    first_run = log_run(client, experiment, "first", model="alexnet", family="alexnet")
    read_runs = query.list_finished_runs
    first_has_read, second_is_done = threading.Event(), threading.Event()
    calls = []

    def slow_first_reader(tracking_uri: str, since_ms: int | None) -> list:
        records = read_runs(tracking_uri, since_ms)
        calls.append(since_ms)
        if len(calls) == 1:  # the first sync has its snapshot; hold it while a run ends and another sync starts
            first_has_read.set()
            second_is_done.wait(timeout=2)  # it cannot finish while this one holds the lock: wait a little, go on
        return records

    monkeypatch.setattr(query, "list_finished_runs", slow_first_reader)
    open_store(db_url).close()
    reports, errors = {}, []

    def sync(name: str, then: threading.Event | None = None) -> None:
        try:
            with open_store(db_url) as store:
                reports[name] = sync_runs(store, uri, full=True, refresh_zoo=False)
        except Exception as error:  # noqa: BLE001 - surfaced below
            errors.append(error)
        finally:
            if then is not None:
                then.set()

    first = threading.Thread(target=sync, args=("first",))
    first.start()
    assert first_has_read.wait(timeout=60)
    ended_in_between = log_run(client, experiment, "ended-in-between", model="zfnet", family="zfnet")
    second = threading.Thread(target=sync, args=("second", second_is_done))
    second.start()
    for thread in (first, second):
        thread.join(timeout=120)
    assert errors == []
    with open_store(db_url) as store:  # a full pass that read before the run ended must not remove it
        assert {row["run_id"] for row in show(store, "runs")} == {first_run, ended_in_between}
    assert reports["first"].added + reports["second"].added == 2 and reports["second"].removed == 0
