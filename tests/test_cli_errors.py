"""The `arena` command's exit codes and error lines: a user's mistake is one line and exit 2, a failure non-zero."""

from __future__ import annotations

import json

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from arena import cli
from arena.errors import RunFailed


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def invoke(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> Outcome:
    """Run `arena ARGS` through `cli.main()` in this process; return its exit code and output."""
    monkeypatch.setattr(sys, "argv", ["arena", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    captured = capsys.readouterr()
    code = exit_.value.code
    return Outcome(code if isinstance(code, int) else (0 if code is None else 1), captured.out, captured.err)


def assert_one_clean_line(outcome: Outcome, code: int) -> None:
    assert outcome.code == code, outcome.err
    assert "Traceback" not in outcome.err + outcome.out
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.err


class FakeJobClient:
    """A Ray Jobs client whose job streams `chunks` as its log, then ends with `status`."""

    def __init__(self, chunks: list[str], status: str) -> None:
        self.chunks, self.status = chunks, status

    async def _stream(self) -> AsyncIterator[str]:
        for chunk in self.chunks:
            yield chunk

    def tail_job_logs(self, job_id: str) -> AsyncIterator[str]:
        return self._stream()

    def get_job_status(self, job_id: str) -> str:
        return self.status


def fake_cluster(monkeypatch: pytest.MonkeyPatch, status: str, chunks: list[str]) -> None:
    import arena.cluster

    from arena.cluster.jobs import Submission

    monkeypatch.setattr(arena.cluster, "submit_checked", lambda spec, address, check: Submission("raysubmit_test", [], []))
    monkeypatch.setattr(arena.cluster, "connect", lambda address: FakeJobClient(chunks, status))
    monkeypatch.setattr(arena.cluster, "job_logs", lambda address, job_id: iter(chunks))


def spec_file(tmp_path: Path, name: str = "cli-errors") -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "model": "resnet18", "data": {"dataset": "synthetic", "image_size": 32},
        "train": {"epochs": 1, "batch_size": 8},
    }))
    return path


@pytest.mark.parametrize(("status", "code"), [("FAILED", 1), ("STOPPED", 1), ("SUCCEEDED", 0)])
def test_submit_wait_exits_with_the_jobs_outcome(monkeypatch, capsys, tmp_path: Path, status: str, code: int) -> None:  # noqa: ANN001
    fake_cluster(monkeypatch, status, ["epoch 1/2 done\n"])
    outcome = invoke(monkeypatch, capsys, "submit", str(spec_file(tmp_path)), "--wait")
    assert outcome.code == code
    assert outcome.out.strip() == "raysubmit_test"
    assert f"job raysubmit_test: {status}" in outcome.err


def test_submit_wait_streams_the_log_line_by_line(monkeypatch, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    fake_cluster(monkeypatch, "SUCCEEDED", ["first line\nsecond line\n", "third line\n", "[/x] is a name\n"])
    outcome = invoke(monkeypatch, capsys, "submit", str(spec_file(tmp_path)), "--wait")
    lines = outcome.err.splitlines()
    start = lines.index("first line")
    assert lines[start:start + 4] == ["first line", "second line", "third line", "[/x] is a name"]
    assert lines[start + 4] == "job raysubmit_test: SUCCEEDED"


def test_submit_wait_names_the_jobs_own_error(monkeypatch, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    log = ["training...\n", "error: data.root: /data/imagenet does not exist (on arena-worker1)\n"]
    fake_cluster(monkeypatch, "FAILED", log)
    outcome = invoke(monkeypatch, capsys, "submit", str(spec_file(tmp_path)), "--wait")
    assert outcome.code == 1
    assert "job raysubmit_test: FAILED (data.root: /data/imagenet does not exist (on arena-worker1))" in outcome.err


def test_jobs_status_reads_as_text_by_default_and_as_json_when_asked(monkeypatch, capsys) -> None:  # noqa: ANN001
    import arena.cluster

    record = {"job_id": "raysubmit_x", "status": "RUNNING", "kind": "nas", "spec": "s", "model": "nas",
              "entrypoint": "python -m arena.cli search nas jobs/s.yaml", "message": None, "start_time": None, "end_time": None}
    monkeypatch.setattr(arena.cluster, "job_status", lambda address, job_id: record)
    text = invoke(monkeypatch, capsys, "jobs", "status", "raysubmit_x")
    assert text.code == 0 and "job raysubmit_x: RUNNING" in text.out and "kind:       nas" in text.out and "{" not in text.out
    shown = invoke(monkeypatch, capsys, "jobs", "status", "raysubmit_x", "--format", "json")
    assert shown.code == 0 and json.loads(shown.out) == record


def test_ui_exits_with_mlflows_code(monkeypatch, capsys, arena_env) -> None:  # noqa: ANN001
    import arena.webpage

    monkeypatch.setattr(arena.webpage, "run_mlflow_ui", lambda settings, **options: 3)
    assert invoke(monkeypatch, capsys, "ui").code == 3


def test_a_failed_run_exits_1_and_bad_input_2(monkeypatch, capsys, tmp_path: Path, arena_env) -> None:  # noqa: ANN001
    import arena.training.launcher as launcher

    def fail(spec, settings, **kwargs):  # noqa: ANN001, ANN003, ANN202
        raise RunFailed(f"run 0123 ({spec.name}) failed: worker 0: RuntimeError: out of memory")

    monkeypatch.setattr(launcher, "run_training", fail)
    outcome = invoke(monkeypatch, capsys, "train", str(spec_file(tmp_path, name="[bold]x[/bold] [/x]")))
    assert_one_clean_line(outcome, 1)
    assert "([bold]x[/bold] [/x]) failed" in outcome.err


# Each command that can fail, with an input that makes it fail: one line, exit 2, no traceback.
FAILING = [
    ("models", "list", "--family", "nosuch"),
    ("models", "show", "resnet5O"),
    ("data", "prepare", "nosuch"),
    ("train", "{missing}"),
    ("submit", "{missing}"),
    ("jobs", "list", "--address", "http://127.0.0.1:1"),
    ("jobs", "status", "raysubmit_x", "--address", "http://127.0.0.1:1"),
    ("jobs", "logs", "raysubmit_x", "--address", "http://127.0.0.1:1"),
    ("jobs", "stop", "raysubmit_x", "--address", "http://127.0.0.1:1"),
    ("search", "scaling", "{missing}"),
    ("search", "nas", "{missing}"),
    ("eval", "0123456789abcdef0123456789abcdef"),
    ("ensemble", "0123456789abcdef0123456789abcdef"),
    ("leaderboard", "--view", "nosuch"),
    ("leaderboard", "show", "--view", "nosuch"),
    ("leaderboard", "show", "--format", "nosuch"),
]


@pytest.mark.parametrize("args", FAILING, ids=lambda args: " ".join(args[:2]))
def test_each_failing_command_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path: Path, arena_env, args) -> None:  # noqa: ANN001
    args = tuple(arg.format(missing=tmp_path / "missing.yaml") for arg in args)
    assert_one_clean_line(invoke(monkeypatch, capsys, *args), 2)


def _laughs(indent: str) -> str:
    """A "billion laughs" (9**9 values once its aliases are expanded) in 900 bytes, under a known field."""
    lines = [f"{indent}l0: &l0 {{a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1, i: 1}}"]
    lines += [f"{indent}l{n}: &l{n} {{" + ", ".join(f"{key}: *l{n - 1}" for key in "abcdefghi") + "}" for n in range(1, 10)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("args", [("train", "{spec}"), ("submit", "{spec}", "--address", "http://127.0.0.1:1"),
                                  ("search", "scaling", "{spec}"), ("search", "nas", "{spec}")], ids=lambda args: " ".join(args[:2]))
def test_a_billion_laughs_spec_is_refused_in_under_a_second(monkeypatch, capsys, tmp_path: Path, arena_env, args) -> None:  # noqa: ANN001
    import time

    import arena.cluster.check

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the spec must be refused before the cluster is reached or anything is staged")

    monkeypatch.setattr(arena.cluster.check, "connect", never)
    monkeypatch.setattr(arena.cluster.check, "staged_job", never)
    job = "name: lol\nmodel: resnet18\ntrain: {epochs: 1, batch_size: 8}\ndata:\n  dataset: synthetic\n  augment:\n"
    text = job + _laughs("    ") if args[0] != "search" else "name: lol\nbase:\n" + "".join(
        f"  {line}\n" for line in job.splitlines()) + _laughs("      ")
    path = tmp_path / "laughs.yaml"
    path.write_text(text)
    assert len(text) < 1200
    # The command's own modules load first (torch and Ray take seconds on a busy machine): time the spec alone.
    assert_one_clean_line(invoke(monkeypatch, capsys, *(arg.format(spec=tmp_path / "missing.yaml") for arg in args)), 2)
    started = time.perf_counter()
    outcome = invoke(monkeypatch, capsys, *(arg.format(spec=path) for arg in args))
    assert time.perf_counter() - started < 1.0
    assert_one_clean_line(outcome, 2)
    assert f"{path}: refused: its aliases expand to more than 20,000 values (the limit for a spec)" in outcome.err


def test_dashboard_on_a_port_out_of_range_is_a_usage_error(monkeypatch, capsys, arena_env) -> None:  # noqa: ANN001
    outcome = invoke(monkeypatch, capsys, "dashboard", "--port", "70000")
    assert_one_clean_line(outcome, 2)
    assert "--port" in outcome.err


def _commands(command, path: tuple[str, ...] = ()):  # noqa: ANN001, ANN202
    """(path, command) for every group and leaf command of the CLI."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def _all_commands() -> list[tuple[tuple[str, ...], bool]]:
    import typer.main

    root = typer.main.get_command(cli.app)
    return [(path, hasattr(command, "commands")) for path, command in _commands(root)]


@pytest.mark.parametrize(("path", "is_group"), _all_commands(), ids=[" ".join(path) or "arena" for path, _ in _all_commands()])
def test_usage_errors_are_one_line_and_exit_2(monkeypatch, capsys, arena_env, path, is_group) -> None:  # noqa: ANN001
    outcome = invoke(monkeypatch, capsys, *path, "--no-such-option")
    assert_one_clean_line(outcome, 2)
    assert "--no-such-option" in outcome.err and "--help" in outcome.err
    if is_group and path != ("leaderboard",):  # leaderboard runs its default view without a subcommand
        outcome = invoke(monkeypatch, capsys, *path, "lst")
        assert_one_clean_line(outcome, 2)
        assert "No such command 'lst'" in outcome.err


def test_a_mistyped_command_suggests_the_right_one(monkeypatch, capsys) -> None:  # noqa: ANN001
    outcome = invoke(monkeypatch, capsys, "models", "lst")
    assert_one_clean_line(outcome, 2)
    assert "'list'" in outcome.err and "arena models --help" in outcome.err


def test_models_show_prints_arenas_own_text_as_written(monkeypatch, capsys) -> None:  # noqa: ANN001
    from arena import models

    outcome = invoke(monkeypatch, capsys, "models", "show", "resnet50")
    assert outcome.code == 0
    block = models.get_model_info("resnet50").block
    assert "[" in block  # the text under test carries brackets rich would take for a tag
    assert f"block:      {block}" in outcome.out


def test_error_lines_keep_brackets(monkeypatch, capsys) -> None:  # noqa: ANN001
    outcome = invoke(monkeypatch, capsys, "models", "show", "[/x][bold]net")
    assert_one_clean_line(outcome, 2)
    assert "'[/x][bold]net'" in outcome.err


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a hung server, or a firewall that drops replies)."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def digits_spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "digits.yaml"
    path.write_text(yaml.safe_dump({
        "name": "down", "model": "resnet18", "data": {"dataset": "digits", "image_size": 16},
        "train": {"epochs": 1, "batch_size": 16, "max_steps_per_epoch": 1},
    }))
    return path


DOWN = [  # (command, setting, value with {port}, what the line names)
    (("leaderboard", "sync"), "ARENA_TRACKING_URI", "http://arena:pw@127.0.0.1:{port}", "ARENA_TRACKING_URI"),
    (("leaderboard", "sync"), "ARENA_TRACKING_URI", "postgresql://arena:pw@127.0.0.1:{port}/mlflow", "ARENA_TRACKING_URI"),
    (("leaderboard", "sync"), "ARENA_DB_URL", "postgresql://arena:pw@127.0.0.1:{port}/arena", "ARENA_DB_URL"),
    (("train", "{spec}"), "ARENA_TRACKING_URI", "http://127.0.0.1:{port}", "ARENA_TRACKING_URI"),
    (("jobs", "list", "--address", "http://127.0.0.1:{port}"), None, None, "RAY_ADDRESS / --address"),
]


@pytest.mark.parametrize("closed", [True, False], ids=["closed port", "silent port"])
@pytest.mark.parametrize(("args", "name", "value", "named"), DOWN, ids=lambda item: item if isinstance(item, str) else None)
def test_a_service_that_is_down_ends_the_command_quickly(
    monkeypatch, capsys, tmp_path: Path, arena_env, silent_port: int, closed: bool, args, name, value, named,  # noqa: ANN001
) -> None:
    """A tracking server, database or cluster that refuses or never answers: one line naming it, exit 2, under 30 s."""
    import sqlite3
    import time

    from conftest import free_port

    port = free_port() if closed else silent_port
    if name is not None:
        monkeypatch.setenv(name, value.format(port=port))
    started = time.monotonic()
    outcome = invoke(monkeypatch, capsys, *(arg.format(port=port, spec=digits_spec_file(tmp_path)) for arg in args))
    assert time.monotonic() - started < 30
    assert_one_clean_line(outcome, 2)
    assert named in outcome.err and ":pw@" not in outcome.err
    assert not Path(arena_env.tracking_uri.removeprefix("sqlite:///")).exists()  # no MLflow run was started
    leaderboard = Path(arena_env.db_url.removeprefix("sqlite:///"))
    if leaderboard.exists():  # nothing of a sync was written: no measured run, no watermark
        with sqlite3.connect(leaderboard) as db:
            assert db.execute("SELECT count(*) FROM measured_results").fetchone() == (0,)
            assert not db.execute("SELECT * FROM leaderboard_state WHERE key LIKE 'sync%'").fetchall()


def test_the_cli_bounds_mlflows_http_retries_unless_the_user_chose(monkeypatch, capsys) -> None:  # noqa: ANN001
    import os

    for variable in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.setenv(variable, "placeholder")  # so that monkeypatch restores the variable's absence
        monkeypatch.delenv(variable)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "3")
    invoke(monkeypatch, capsys, "models", "list", "--family", "nosuch")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1" and os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "10"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "3"


def test_jobs_status_is_text_by_default_and_json_when_asked(monkeypatch, capsys) -> None:  # noqa: ANN001
    import json

    import arena.cluster

    record = {"job_id": "raysubmit_1", "status": "FAILED", "spec": "demo-resnet18", "model": "resnet18",
              "entrypoint": "python -m arena.cli train jobs/demo/resnet18.yaml", "message": "Job entrypoint command failed",
              "start_time": "2026-01-01T10:00:00+00:00", "end_time": None}
    monkeypatch.setattr(arena.cluster, "job_status", lambda address, job_id: {**record, "job_id": job_id})
    text = invoke(monkeypatch, capsys, "jobs", "status", "raysubmit_1")
    assert text.code == 0 and text.out.splitlines()[0] == "job raysubmit_1: FAILED"
    assert "  model:      resnet18" in text.out and "end_time" not in text.out and not text.out.lstrip().startswith("{")
    as_json = invoke(monkeypatch, capsys, "jobs", "status", "raysubmit_1", "--format", "json")
    assert as_json.code == 0 and json.loads(as_json.out) == record
