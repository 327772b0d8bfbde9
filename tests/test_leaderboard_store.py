"""The leaderboard store: migrations, reference data and errors, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from leaderboard_support import BACKENDS, database_url
from sqlalchemy import func, inspect, select

from arena.errors import ArenaError, UnknownNameError
from arena.leaderboard import open_store, render, show
from arena.leaderboard.reference import ensure_reference_data, reference_rows, refresh_architectures
from arena.leaderboard.schema import Architecture, Base, LeaderboardState, ReferenceResult
from arena.leaderboard.store import migrate

TABLES = {"architectures", "reference_results", "measured_results", "leaderboard_state", "alembic_version"}


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001, ANN201
    yield from database_url(request.param, tmp_path)


def test_open_creates_schema_matching_the_models(db_url: str) -> None:
    with open_store(db_url) as store:
        with store.reading() as connection:
            assert TABLES <= set(inspect(connection).get_table_names())
            assert MigrationContext.configure(connection).get_current_revision() == migrate(store)
            # The shipped migrations build exactly what schema.py declares (no missing index or column).
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            indexes = {index["name"] for index in inspect(connection).get_indexes("measured_results")}
            assert {"ix_measured_dataset_on_model_top1", "ix_measured_dataset_on_gflops_top1_id", "ix_measured_finished_id"} <= indexes


def test_reopen_is_a_no_op(db_url: str) -> None:
    with open_store(db_url) as store, store.reading() as connection:
        before = sorted(connection.execute(select(ReferenceResult.id, ReferenceResult.value)).all())
    with open_store(db_url) as store:
        with store.reading() as connection:
            after = sorted(connection.execute(select(ReferenceResult.id, ReferenceResult.value)).all())
        assert ensure_reference_data(store) == 0  # the digest matches: nothing rewritten
    assert after == before and len(before) == len(reference_rows())


def test_reference_load_is_idempotent_and_repairs_edits(db_url: str) -> None:
    with open_store(db_url) as store:
        with store.writing() as connection:
            connection.execute(ReferenceResult.__table__.update().where(ReferenceResult.year == 2014).values(value=99.0))
            connection.execute(LeaderboardState.__table__.delete())  # forget the digest: next load rewrites
        assert ensure_reference_data(store) == len(reference_rows())
        assert ensure_reference_data(store) == 0
        with store.reading() as connection:
            count = connection.scalar(select(func.count()).select_from(ReferenceResult))
            googlenet = connection.scalar(
                select(ReferenceResult.value).where(ReferenceResult.team == "GoogLeNet", ReferenceResult.place == 1)
            )
    assert count == len(reference_rows())
    assert googlenet == pytest.approx(6.656)


def test_every_ilsvrc_year_has_winner_and_runner_up(db_url: str) -> None:
    with open_store(db_url) as store:
        rows = show(store, "ilsvrc")
    by_year = {(row["year"], row["place"]): row for row in rows}
    assert [row["year"] for row in rows] == sorted(row["year"] for row in rows)
    for year in range(2010, 2018):
        assert (year, 1) in by_year and (year, 2) in by_year, year
        assert by_year[(year, 1)]["paper_top5_error"] < by_year[(year, 2)]["paper_top5_error"]
    winners = {year: by_year[(year, 1)] for year in range(2010, 2018)}
    assert winners[2012]["team"] == "SuperVision" and winners[2012]["architecture"] == "alexnet"
    assert winners[2012]["paper_top5_error"] == pytest.approx(15.3, abs=0.05)
    assert winners[2013]["architecture"] == "zfnet"
    assert winners[2014]["architecture"] == "googlenet" and by_year[(2014, 2)]["architecture"] == "vgg16"
    assert winners[2015]["architecture"] == "resnet152" and winners[2015]["paper_top5_error"] == pytest.approx(3.57, abs=0.005)
    assert winners[2016]["team"] == "Trimps-Soushen" and winners[2016]["architecture"] is None
    assert winners[2017]["architecture"] == "senet154" and winners[2017]["paper_top5_error"] == pytest.approx(2.25, abs=0.005)
    assert all(row["run_id"] is None and row["measured_top1_error"] is None for row in rows)  # nothing measured


def test_reference_rows_carry_sources_and_post_challenge_figures(db_url: str) -> None:
    with open_store(db_url) as store:
        rows = show(store, "reference")
    assert rows and all(row["source"] for row in rows)
    top1 = {row["entry"]: row["value"] for row in rows if row["metric"] == "top1_error"}
    assert top1["EfficientNet-B0"] == pytest.approx(22.9) and top1["EfficientNet-B7"] == pytest.approx(15.7)
    assert top1["NFNet-F0"] == pytest.approx(16.4) and top1["NFNet-F6 + SAM"] == pytest.approx(13.5)
    assert top1["Meta Pseudo Labels (EfficientNet-L2)"] == pytest.approx(9.8)
    assert top1["FixResNeXt-101 32x48d"] == pytest.approx(13.6)
    assert {"SwinV2-G", "Florence-CoSwin-H", "ViT-B/16, pre-trained on ImageNet-21k"} <= set(top1)
    trimps = next(row for row in rows if row["year"] == 2016 and row["place"] == 1)
    assert "Inception-v4" in trimps["note"] and "Wide ResNet" in trimps["note"]


def test_reference_architectures_are_zoo_names(db_url: str) -> None:
    if importlib.util.find_spec("arena.models") is None:
        pytest.skip("arena.models is not importable yet: the zoo is being written alongside the leaderboard")
    from arena.models import list_models

    names = {info.name for info in list_models()}
    mapped = {row["architecture"] for row in reference_rows() if row["architecture"]}
    assert mapped - names == set(), f"reference rows name architectures the zoo lacks: {sorted(mapped - names)}"
    with open_store(db_url) as store:
        assert refresh_architectures(store) == len(names)
        assert refresh_architectures(store) == len(names)  # an upsert: same rows again
        with store.reading() as connection:
            assert connection.scalar(select(func.count()).select_from(Architecture)) == len(names)


def test_unreachable_database_names_the_url_without_password() -> None:
    with pytest.raises(ArenaError) as caught:
        open_store("postgresql+psycopg://arena:s3cret@127.0.0.1:1/arena")
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "s3cret" not in message and "***" in message
    assert "\n" not in message


@pytest.mark.parametrize("url", ["not a url", "nosuchdb://host/x", "sqlite:////proc/arena-no-such/leaderboard.db"])
def test_bad_database_urls_are_arena_errors(url: str) -> None:
    with pytest.raises(ArenaError):
        open_store(url)


def test_unknown_view_and_format(tmp_path) -> None:  # noqa: ANN001
    with open_store(f"sqlite:///{tmp_path / 'lb.db'}") as store:
        with pytest.raises(UnknownNameError, match="ilsvrc"):
            show(store, "ilsvr")
        rows = show(store, "ilsvrc")
    with pytest.raises(UnknownNameError, match="markdown"):
        render(rows, "markdwn", "ilsvrc")


def test_a_writer_that_waits_too_long_for_the_lock_is_one_line(tmp_path) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'leaderboard.db'}"
    with open_store(url) as holder, open_store(url) as waiter:
        with waiter.engine.connect() as connection:  # the pool hands this connection back, with a short wait
            connection.exec_driver_sql("PRAGMA busy_timeout=50")
        with holder.writing():
            with pytest.raises(ArenaError, match=r"leaderboard database .* is busy: another writer"):
                with waiter.writing():
                    pass
