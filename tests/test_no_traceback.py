"""No traceback for any input: generated specs, `--set` strings and command arguments end in exit 0 or one clean line.

Property-based (Hypothesis). Run with `--hypothesis-show-statistics` to see how many inputs each test tried.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena import cli
from arena.errors import ArenaError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

GOOD_TREE = {
    "name": "prop", "model": "resnet18", "data": {"dataset": "synthetic", "image_size": 32, "train_size": 8, "val_size": 8},
    "train": {"epochs": 1, "batch_size": 8},
}
FIELDS = ["name", "model", "experiment", "data", "dataset", "root", "image_size", "num_classes", "train", "epochs",
          "batch_size", "optimizer", "lr", "schedule", "milestones", "betas", "resources", "workers", "cpus_per_worker",
          "max_failures", "augment", "precision", "max_steps_per_epoch"]
MODEL_NAMES = ["resnet18", "scaled:x", "nas:x", "scaled:../../etc/passwd", "nas:/abs", "nas:a/b", "scaled:", "nas:\x00",
               "../resnet18", "[/x]", "resnet18/"]

scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True)
           | st.text(max_size=20) | st.sampled_from(MODEL_NAMES + ["/nonexistent", "imagefolder", "digits", "synthetic"]))
keys = st.sampled_from(FIELDS) | st.text(max_size=8)
trees = st.recursive(scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
                     max_leaves=20)


def mutated_good_tree() -> st.SearchStrategy:
    """The good spec with one field, anywhere in it, replaced by anything."""
    paths = [("name",), ("model",), ("data",), ("data", "dataset"), ("data", "root"), ("data", "image_size"),
             ("train",), ("train", "epochs"), ("train", "optimizer"), ("train", "schedule"), ("resources",)]

    def replace(path: tuple[str, ...], value: object) -> dict:
        tree = yaml.safe_load(yaml.safe_dump(GOOD_TREE))
        node = tree
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        return tree

    return st.builds(replace, st.sampled_from(paths), trees)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An arena home with a corrupt saved scaled: and nas: model beside a good setting; the env points at it."""
    root = tmp_path_factory.mktemp("no-traceback")
    saved = {key: os.environ.get(key) for key in ("ARENA_HOME", "ARENA_TRACKING_URI", "ARENA_DB_URL", "ARENA_STORAGE",
                                                     "ARENA_ARTIFACT_ROOT", "RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    os.environ.update({
        "ARENA_HOME": str(root), "ARENA_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "ARENA_DB_URL": f"sqlite:///{root / 'leaderboard.db'}", "ARENA_STORAGE": str(root / "ray_results"),
        "ARENA_ARTIFACT_ROOT": str(root / "mlartifacts"),
        # Nothing listens here: a command that would reach a cluster fails at once, with one line.
        "RAY_ADDRESS": "127.0.0.1:1", "RAY_API_SERVER_ADDRESS": "http://127.0.0.1:1",
    })
    # A tracking store with one finished run (no checkpoint), so run ids are looked up for real.
    from arena.settings import load_settings
    from _runs import digits_spec, record_checkpoint

    record_checkpoint(load_settings(), digits_spec(name="[/x] <b>"), None)
    for kind, text in (("scaled", "{not json"), ("nas", '{"name": "nas:bad", "architecture": 3}')):
        folder = root / "models" / kind
        folder.mkdir(parents=True)
        (folder / "bad.json").write_text(text)
    try:
        yield root
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_spec_tree(tree: object, home: Path, overrides: list[str] = (), *, expect_error: bool = False) -> None:
    """Load a tree as a spec file and check it as `arena train` does: a JobSpec or an ArenaError, nothing else."""
    from arena.settings import load_settings
    from arena.spec import load_spec
    from arena.training.checks import check_job

    path = home / "spec.yaml"
    try:
        path.write_text(yaml.safe_dump(tree, allow_unicode=True))
    except (yaml.YAMLError, ValueError):  # not representable as YAML; the bytes test covers odd files
        return
    try:
        check_job(load_spec(path, overrides), load_settings())
    except ArenaError as error:
        assert str(error).strip()
        if expect_error:
            raise


@SETTINGS
@given(tree=trees)
def test_any_yaml_tree_is_a_spec_or_one_spec_error(home: Path, tree: object) -> None:
    check_spec_tree(tree, home)


@SETTINGS
@given(tree=mutated_good_tree())
def test_any_field_of_a_good_spec_replaced_is_a_spec_or_one_spec_error(home: Path, tree: dict) -> None:
    check_spec_tree(tree, home)


@SETTINGS
@given(content=st.binary(max_size=200))
def test_any_bytes_as_a_spec_file_is_one_spec_error(home: Path, content: bytes) -> None:
    from arena.spec import load_spec

    path = home / "bytes.yaml"
    path.write_bytes(content)
    try:
        load_spec(path)
    except ArenaError as error:
        assert str(error).strip()


set_strings = (st.text(max_size=40)
               | st.builds(lambda key, value: f"{key}={value}",
                           st.sampled_from(["train.epochs", "model", "data", "data.root", "name", "train.optimizer.lr",
                                            "a..b", ".", "train.epochs.x", "resources.workers"]),
                           st.text(max_size=30) | st.sampled_from(["[", "{a: [}", "!!python/object:os.system x", "*x",
                                                                   "&a [*a]", "1e999", "- - -", "'", "{", "\t"])))


@SETTINGS
@given(overrides=st.lists(set_strings, max_size=3))
def test_any_set_string_is_a_spec_or_one_spec_error(home: Path, overrides: list[str]) -> None:
    check_spec_tree(GOOD_TREE, home, overrides)


def invoke(*args: str) -> int:
    """`arena ARGS` in this process; return the exit code (an escaping exception fails the test)."""
    argv = sys.argv
    sys.argv = ["arena", *args]
    try:
        cli.main()
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = argv
    return 0


words = st.text(max_size=30) | st.sampled_from(["", "-", "--", "-1", "0", "99999999999999999999", "nan", "[/x]", "nas:../x",
                                                "scaled:x/y", "/nonexistent", ".", "..", "\x00", "--help"])
numbers = st.integers(-(2**40), 2**40).map(str) | words


def command_arguments() -> st.SearchStrategy:
    """A command path of `arena` with generated arguments and options (never one that would serve forever)."""
    return st.one_of(
        st.tuples(st.just(("models", "list")), st.lists(st.sampled_from(["--family", "--format"]) | words, max_size=3)),
        st.tuples(st.just(("models", "show")), st.lists(words, min_size=1, max_size=1)),
        st.tuples(st.just(("data", "prepare")), st.lists(words, min_size=1, max_size=1)),
        st.tuples(st.just(("train",)), st.lists(words | st.sampled_from(["--set", "--resume", "--format"]), max_size=4)),
        st.tuples(st.just(("search", "scaling")), st.lists(words | st.just("--set"), max_size=3)),
        st.tuples(st.just(("search", "nas")), st.lists(words | st.just("--set"), max_size=3)),
        st.tuples(st.just(("eval",)), st.tuples(words, st.sampled_from(["--crops", "--top", "--workers"]), numbers)),
        st.tuples(st.just(("ensemble",)), st.lists(words, max_size=3)),
        st.tuples(st.just(("leaderboard", "show")),
                  st.tuples(st.sampled_from(["--view", "--format", "--limit", "--offset", "--dataset", "--family"]), numbers)),
        st.tuples(st.just(("leaderboard", "sync")), st.lists(words, max_size=1)),
        st.tuples(st.just(("jobs", "status")), st.lists(words, min_size=1, max_size=1)),
        st.tuples(st.just(("jobs", "logs")), st.lists(words, min_size=1, max_size=1)),
        st.tuples(st.just(("dashboard",)), st.tuples(st.just("--port"), numbers.filter(lambda text: not text.isdigit()))),
    )


@settings(SETTINGS, max_examples=300)
@given(command=command_arguments())
def test_any_command_arguments_exit_cleanly(home: Path, capsys: pytest.CaptureFixture, command: tuple) -> None:
    path, arguments = command
    code = invoke(*path, *arguments)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    if code != 0:
        assert captured.err.strip(), f"exit {code} without a word"


def test_listing_commands_survive_corrupt_saved_models(home: Path, capsys: pytest.CaptureFixture,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    assert invoke("models", "list", "--format", "json") == 0
    assert '"name": "resnet50"' in capsys.readouterr().out
    assert "skipped scaled:bad" in caplog.text and "skipped nas:bad" in caplog.text
    for name in ("scaled:bad", "nas:bad"):
        assert invoke("models", "show", name) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: saved model") and ("cannot be read" in err or f"{name} is corrupt" in err)


@pytest.mark.parametrize("model", ["scaled:bad", "nas:bad", "scaled:../nas/bad", "scaled:/etc/passwd"])
def test_training_a_corrupt_or_path_shaped_model_is_one_spec_error(home: Path, model: str) -> None:
    from arena.errors import SpecError

    with pytest.raises(SpecError, match="model: "):
        check_spec_tree({**GOOD_TREE, "model": model}, home, expect_error=True)


def test_a_deleted_experiment_is_one_clear_line(arena_env) -> None:  # noqa: ANN001
    from arena.tracking import run_log
    from arena.tracking.client import client_for

    client = client_for(arena_env.tracking_uri)
    experiment = run_log.ensure_experiment(client, "arena", arena_env.artifact_root)
    client.delete_experiment(experiment)
    with pytest.raises(ArenaError, match="experiment 'arena' is deleted.*restore it"):
        run_log.start_run(arena_env.tracking_uri, arena_env.artifact_root, experiment="arena", run_name="x", tags={}, params={})


def test_a_full_sqlite_leaderboard_is_one_clear_line(arena_env) -> None:  # noqa: ANN001
    from sqlalchemy import event, text

    from arena.leaderboard import open_store
    from arena.leaderboard.reference import upsert
    from arena.leaderboard.schema import LeaderboardState

    with open_store(arena_env.db_url) as store:
        with store.reading() as connection:
            pages = connection.execute(text("PRAGMA page_count")).scalar()

        @event.listens_for(store.engine, "connect")
        def _cap(dbapi_connection, _record) -> None:  # noqa: ANN001 - the disk holds not one page more
            dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

        store.engine.dispose()
        rows = [{"key": f"filler-{index}", "text": "x" * 1000} for index in range(200)]
        with pytest.raises(ArenaError, match="cannot grow: database or disk is full; free some disk space"):
            with store.writing() as connection:
                upsert(connection, LeaderboardState, rows, ("key",), ["text"])


def test_a_database_from_a_newer_arena_is_one_clear_line(arena_env, monkeypatch, capsys) -> None:  # noqa: ANN001
    from sqlalchemy import text

    from arena.leaderboard import open_store

    with open_store(arena_env.db_url) as store, store.writing() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(ArenaError, match="written by a newer arena .schema 9999_from_the_future"):
        open_store(arena_env.db_url)
    assert invoke("leaderboard", "show") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "newer arena" in err


def test_paths_that_cannot_be_written_are_one_clear_line(home: Path, capsys: pytest.CaptureFixture) -> None:
    assert invoke("leaderboard", "show", "--out", str(home / "no" / "such" / "folder" / "board.txt")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out ") and "No such file or directory" in err and err.count("\n") == 1
    blocker = home / "a-file"
    blocker.write_text("")
    assert invoke("data", "prepare", "digits", "--out", str(blocker / "digits")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: File exists: ") and str(blocker) in err and err.count("\n") == 1
