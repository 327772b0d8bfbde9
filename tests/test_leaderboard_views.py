"""The views over hand-made measured rows: the pareto walk, the runs pages, measured_on, and the upgrades from 0001 on."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from leaderboard_support import BACKENDS, database_url
from sqlalchemy import create_engine, inspect, select

from arena.errors import ArenaError
from arena.leaderboard import open_store, show
from arena.leaderboard.reference import upsert
from arena.leaderboard.schema import Base, LeaderboardState, MeasuredResult
from arena.leaderboard.store import MIGRATIONS_DIR, Store
from arena.leaderboard.views import RUNS_PAGE

BIN = Path(sys.executable).parent
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    yield from database_url(request.param, tmp_path)


def row(run_id: str, gflops: float | None, top1: float | None, *, family: str = "resnet", dataset: str = "digits",
        minutes: int = 0) -> dict:
    """A measured_results row with the fields the views read."""
    return {
        "run_id": run_id, "model": f"{family}-model", "family": family, "dataset": dataset, "kind": "train",
        "image_size": 32, "epochs": 1, "top1_error": top1, "top5_error": None if top1 is None else top1 / 4,
        "params": 1000, "gflops": gflops, "images_per_second": 1.0, "device_hours": 0.1, "device": "cpu",
        "started": START, "finished": START + timedelta(minutes=minutes), "experiment": "arena",
        "run_name": run_id, "tracking_uri": "sqlite:///mlflow.db",
    }


def insert(store: Store, rows: list[dict]) -> None:
    """Store the rows one statement each, so ids follow the list's order."""
    with store.writing() as connection:
        for one in rows:
            upsert(connection, MeasuredResult, [one], ("run_id",), [])


# Cheap and bad to dear and good; the comment says why each run is on the frontier or not.
HAND_MADE = [
    row("a", 1.0, 50.0),                  # b costs the same and errs less
    row("b", 1.0, 40.0),                  # frontier: the cheapest point's best run
    row("c", 1.0, 40.0),                  # ties b, stored later: b stands for the point
    row("d", 2.0, 45.0, family="vgg"),    # b is cheaper and better
    row("e", 2.0, 40.0),                  # errs no less than b, costs more
    row("f", 3.0, 30.0),                  # frontier
    row("g", 4.0, 35.0, family="vgg"),    # f is cheaper and better
    row("h", 5.0, 10.0),                  # frontier
    row("i", None, 5.0),                  # no cost: not plotted
    row("j", 6.0, None),                  # no error: not plotted
    row("k", 0.5, 1.0, dataset="synthetic"),  # another dataset
    row("l", 7.0, 10.0, family="vgg"),    # errs no less than h, costs more
    row("m", 8.0, 9.0, family="vit"),     # frontier: the best run, the dearest point
]


def test_pareto_walks_the_frontier_of_a_hand_made_set(db_url: str) -> None:
    with open_store(db_url) as store:
        insert(store, HAND_MADE)
        frontier = show(store, "pareto", dataset="digits")
        assert [point["run_id"] for point in frontier] == ["b", "f", "h", "m"]
        assert [point["gflops"] for point in frontier] == [1.0, 3.0, 5.0, 8.0]
        assert [point["measured_top1_error"] for point in frontier] == [40.0, 30.0, 10.0, 9.0]
        assert [point["run_id"] for point in show(store, "pareto", dataset="digits", family="vgg")] == ["d", "g", "l"]
        assert [point["run_id"] for point in show(store, "pareto", dataset="synthetic")] == ["k"]
        assert show(store, "pareto", dataset="imagefolder") == []


def brute_force_frontier(rows: list[dict]) -> list[str]:
    """The definition: runs no other run beats on both axes; among equal points, the first stored."""
    plotted = [one for one in rows if one["gflops"] is not None and one["top1_error"] is not None]
    kept, seen = [], set()
    for one in sorted(plotted, key=lambda run: run["gflops"]):
        point = (one["gflops"], one["top1_error"])
        beaten = any(
            (other["gflops"] <= point[0] and other["top1_error"] < point[1])
            or (other["gflops"] < point[0] and other["top1_error"] <= point[1])
            for other in plotted
        )
        if not beaten and point not in seen:
            seen.add(point)
            kept.append(one["run_id"])
    return kept


def test_pareto_matches_brute_force_on_ties_and_gaps(db_url: str) -> None:
    rng = random.Random(7)
    rows = [  # a coarse grid, so many runs share a cost, an error or both
        row(f"r{index:03d}", rng.choice([None, 0.5, 1.0, 1.5, 2.0, 4.0, 8.0]), rng.choice([None, *range(5, 60, 5)]),
            family=rng.choice(["resnet", "vgg"]))
        for index in range(300)
    ]
    with open_store(db_url) as store:
        insert(store, rows)
        assert [point["run_id"] for point in show(store, "pareto", dataset="digits")] == brute_force_frontier(rows)
        vgg = [one for one in rows if one["family"] == "vgg"]
        found = [point["run_id"] for point in show(store, "pareto", dataset="digits", family="vgg")]
        assert found == brute_force_frontier(vgg)


def test_runs_view_pages_newest_first(db_url: str) -> None:
    count = RUNS_PAGE + 7
    rows = [row(f"run{index:04d}", 1.0, 10.0, minutes=index // 2,  # pairs share a finish time
                dataset="digits" if index % 3 else "synthetic") for index in range(count)]
    with open_store(db_url) as store:
        insert(store, rows)
        everything = show(store, "runs", limit=0)
        newest_first = [one["run_id"] for one in reversed(rows)]  # equal times: the later stored first
        assert [one["run_id"] for one in everything] == newest_first
        assert [one["run_id"] for one in show(store, "runs")] == newest_first[:RUNS_PAGE]
        pages = [show(store, "runs", limit=40, offset=offset) for offset in range(0, count, 40)]
        assert [one["run_id"] for page in pages for one in page] == newest_first
        assert show(store, "runs", offset=count) == []
        synthetic = [one["run_id"] for one in reversed(rows) if one["dataset"] == "synthetic"]
        assert [one["run_id"] for one in show(store, "runs", dataset="synthetic", limit=5, offset=3)] == synthetic[3:8]
        assert show(store, "reference") == show(store, "reference", limit=0)  # only `runs` pages by default
        assert len(show(store, "reference", limit=3, offset=1)) == 3
        for bad in ({"limit": -1}, {"offset": -5}):
            with pytest.raises(ArenaError, match="must be 0 or more"):
                show(store, "runs", **bad)


def test_cli_pages_the_runs_view(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'leaderboard.db'}"
    with open_store(db) as store:
        insert(store, [row(f"run{index:04d}", 1.0, 10.0, minutes=index) for index in range(RUNS_PAGE + 1)])
    env = {"ARENA_HOME": str(tmp_path), "ARENA_DB_URL": db, "PATH": str(BIN)}

    def arena(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "arena"), "leaderboard", "show", "--view", "runs", "--format", "csv", *args],
                              capture_output=True, text=True, env=env, timeout=120)

    first = arena()
    assert first.returncode == 0 and len(first.stdout.splitlines()) == RUNS_PAGE + 1  # a header, one page
    assert "--offset 100 for the next page, --limit 0 for all" in first.stderr
    rest = arena("--offset", str(RUNS_PAGE))
    assert rest.stdout.splitlines()[1].startswith("run0000,") and len(rest.stdout.splitlines()) == 2
    assert len(arena("--limit", "0").stdout.splitlines()) == RUNS_PAGE + 2
    bad = arena("--limit", "-1")
    assert bad.returncode == 2 and "limit must be 0 or more, not -1" in bad.stderr and "Traceback" not in bad.stderr


def _alembic(connection) -> Config:  # noqa: ANN001 - an SQLAlchemy Connection
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _indexes(db_url: str) -> set[str]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return {index["name"] for index in inspect(connection).get_indexes("measured_results")}
    finally:
        engine.dispose()


def test_upgrade_from_0001_keeps_rows_and_swaps_the_view_indexes(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as connection:
        command.upgrade(_alembic(connection), "0001")
        connection.execute(MeasuredResult.__table__.insert(), HAND_MADE[:3])
    engine.dispose()
    assert {"ix_measured_dataset_gflops_top1", "ix_measured_finished"} <= _indexes(db_url)

    with open_store(db_url) as store:  # upgrades to the newest revision on open
        with store.reading() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == "0004"
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            assert sorted(connection.scalars(select(MeasuredResult.run_id))) == ["a", "b", "c"]
        assert [point["run_id"] for point in show(store, "pareto", dataset="digits")] == ["b"]
    upgraded = _indexes(db_url)
    assert {"ix_measured_dataset_on_gflops_top1_id", "ix_measured_dataset_on_family_gflops_top1_id",
            "ix_measured_finished_id", "ix_measured_dataset_finished_id"} <= upgraded
    assert not {"ix_measured_dataset_gflops_top1", "ix_measured_finished"} & upgraded

    engine = create_engine(db_url)
    with engine.begin() as connection:
        command.downgrade(_alembic(connection), "0001")
    engine.dispose()
    downgraded = _indexes(db_url)
    assert {"ix_measured_dataset_gflops_top1", "ix_measured_finished"} <= downgraded
    assert not {"ix_measured_dataset_gflops_top1_id", "ix_measured_finished_id"} & downgraded


def test_upgrade_to_0003_gives_each_bare_folder_run_a_name_of_its_own(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as connection:
        command.upgrade(_alembic(connection), "0002")
        connection.execute(MeasuredResult.__table__.insert(), [
            row("run-folder-one-abcdef", 1.0, 30.0, dataset="imagefolder"),
            row("run-folder-two-abcdef", 1.0, 20.0, dataset="imagefolder"),
            row("run-imagenet-abcdef", 4.0, 25.0, family="resnet", dataset="imagenet"),
            row("run-digits", 1.0, 9.0, dataset="digits"),
        ])
        connection.execute(LeaderboardState.__table__.insert(), [{"key": "default_dataset", "text": "imagefolder"}])
    engine.dispose()

    with open_store(db_url) as store:
        with store.reading() as connection:
            datasets = dict(connection.execute(select(MeasuredResult.run_id, MeasuredResult.dataset)).all())
            assert connection.scalar(select(LeaderboardState.text).where(LeaderboardState.key == "default_dataset")) is None
        assert datasets == {
            "run-folder-one-abcdef": "imagefolder-unverified-run-folder-o",
            "run-folder-two-abcdef": "imagefolder-unverified-run-folder-t",
            "run-imagenet-abcdef": "imagenet-unverified-run-imagenet",
            "run-digits": "digits",
        }
        # Two folders of unknown content no longer rank together, nor beside the papers.
        assert len(show(store, "pareto", dataset="imagefolder-unverified-run-folder-o")) == 1
        assert all(row["run_id"] is None for row in show(store, "ilsvrc"))

    engine = create_engine(db_url)
    with engine.begin() as connection:
        command.downgrade(_alembic(connection), "0002")
        restored = dict(connection.execute(select(MeasuredResult.run_id, MeasuredResult.dataset)).all())
    engine.dispose()
    assert restored == {"run-folder-one-abcdef": "imagefolder", "run-folder-two-abcdef": "imagefolder",
                        "run-imagenet-abcdef": "imagenet", "run-digits": "digits"}


def test_a_limit_or_offset_past_the_databases_integers_is_an_arena_error(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'leaderboard.db'}") as store:
        for option in ("limit", "offset"):
            with pytest.raises(ArenaError, match=f"{option} must be at most {2**63 - 1}"):
                show(store, "runs", **{option: 2**63})


def test_upgrade_to_0004_fills_measured_on_and_asks_for_a_full_sync(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as connection:
        command.upgrade(_alembic(connection), "0003")
        trial = {**row("trial", 1.0, 5.0), "kind": "scaling-trial"}
        infinite = {**row("infinite", float("inf"), 20.0), "images_per_second": float("-inf")}
        connection.execute(MeasuredResult.__table__.insert(), [row("trained", 2.0, 30.0), trial, infinite])
        connection.execute(LeaderboardState.__table__.insert(), [
            {"key": "sync_full_pass:sqlite:///mlflow.db", "number": 1}, {"key": "sync_watermark:sqlite:///mlflow.db", "number": 2},
        ])
    engine.dispose()

    with open_store(db_url) as store:
        with store.reading() as connection:
            measured_on = dict(connection.execute(select(MeasuredResult.run_id, MeasuredResult.measured_on)).all())
            numbers = connection.execute(select(MeasuredResult.gflops, MeasuredResult.images_per_second)
                                         .where(MeasuredResult.run_id == "infinite")).one()
            keys = set(connection.scalars(select(LeaderboardState.key).where(LeaderboardState.key.like("sync_%"))))
        assert measured_on == {"trained": "val", "trial": "holdout", "infinite": "val"}
        assert tuple(numbers) == (None, None)  # not finite: empty, as the sync now stores them
        assert keys == {"sync_watermark:sqlite:///mlflow.db"}  # the next sync reads every run again
        assert [point["run_id"] for point in show(store, "pareto", dataset="digits")] == ["trained"]

    engine = create_engine(db_url)
    with engine.begin() as connection:
        command.downgrade(_alembic(connection), "0003")
        assert "measured_on" not in {column["name"] for column in inspect(connection).get_columns("measured_results")}
        assert sorted(connection.scalars(select(MeasuredResult.run_id))) == ["infinite", "trained", "trial"]
    engine.dispose()
    assert {"ix_measured_dataset_model_top1", "ix_measured_dataset_gflops_top1_id"} <= _indexes(db_url)


def test_ranking_views_leave_out_rows_measured_on_a_holdout(db_url: str) -> None:
    held_out = [{**row(f"held{index}", gflops, 1.0, family=family), "measured_on": "holdout"}
                for index, (gflops, family) in enumerate([(0.1, "resnet"), (9.0, "vit")])]
    with open_store(db_url) as store:
        insert(store, HAND_MADE + held_out)
        assert [point["run_id"] for point in show(store, "pareto", dataset="digits")] == ["b", "f", "h", "m"]
        family = {one["family"]: (one["run_id"], one["runs"]) for one in show(store, "family", dataset="digits")}
        assert family == {"resnet": ("i", 7), "vgg": ("l", 3), "vit": ("m", 1)}  # i: the best, with no cost
        listed = {one["run_id"]: one["measured_on"] for one in show(store, "runs", limit=0)}
        assert listed["held0"] == listed["held1"] == "holdout" and listed["a"] == "val"
