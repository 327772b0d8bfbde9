"""Secrets stay secret: a planted password and Ray token never show in any output, MLflow param or tag."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from arena import cli
from arena.errors import ArenaError, mask_secrets

PASSWORD = "PLANTED-pw-7c1e"
TOKEN = "PLANTED-ray-token-93ab"
SECRETS = (PASSWORD, TOKEN)


@pytest.mark.parametrize(("text", "shown"), [
    (f"postgresql+psycopg://arena:{PASSWORD}@db:5432/arena", "postgresql+psycopg://arena:***@db:5432/arena"),
    (f"cannot reach http://me:{PASSWORD}@mlflow:5000/ (refused)", "cannot reach http://me:***@mlflow:5000/ (refused)"),
    (f"host=db user=arena password={PASSWORD} dbname=x", "host=db user=arena password=*** dbname=x"),
    (f"https://h/x?token={TOKEN}&a=1", "https://h/x?token=***&a=1"),
    ("sqlite:////home/me/.arena/mlflow.db", "sqlite:////home/me/.arena/mlflow.db"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    # A password holding a raw `/`, `:` or a space (SQLAlchemy takes everything up to the host's `@`).
    (f"postgresql+psycopg://arena:{PASSWORD}/x:y@db/arena", "postgresql+psycopg://arena:***@db/arena"),
    (f"postgresql://arena:a b/{PASSWORD}@db/arena (refused)", "postgresql://arena:***@db/arena (refused)"),
    (f"postgresql://:{PASSWORD}@db/arena", "postgresql://:***@db/arena"),
    # Password- and token-like query parameters.
    (f"postgresql://arena@db/x?sslmode=require&sslpassword={PASSWORD}", "postgresql://arena@db/x?sslmode=require&sslpassword=***"),
    (f"http://mlflow:5000/?password={PASSWORD}", "http://mlflow:5000/?password=***"),
    (f"https://h/x?a=1&api_key={TOKEN}&key={TOKEN}", "https://h/x?a=1&api_key=***&key=***"),
    (f"s3://b/x?X-Amz-Signature={TOKEN}&secret={TOKEN}", "s3://b/x?X-Amz-Signature=***&secret=***"),
    # MLflow's own sign-in variables, and an Authorization header.
    (f"MLFLOW_TRACKING_PASSWORD={PASSWORD} MLFLOW_TRACKING_TOKEN={TOKEN}", "MLFLOW_TRACKING_PASSWORD=*** MLFLOW_TRACKING_TOKEN=***"),
    (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer ***"),
    # Not secrets: arena's own hints and links read as they are.
    ("--set 'x': expected key=value, e.g. train.epochs=3", "--set 'x': expected key=value, e.g. train.epochs=3"),
    ("http://127.0.0.1:5000/#/experiments/1/runs/abc", "http://127.0.0.1:5000/#/experiments/1/runs/abc"),
    # MLflow's saved-view parameter ends in "Key" but names a view: `arena ui` prints it as it is.
    ("http://127.0.0.1:5000/#/experiments/1/runs?viewStateShareKey=Leaderboard&workflowType=machine_learning",
     "http://127.0.0.1:5000/#/experiments/1/runs?viewStateShareKey=Leaderboard&workflowType=machine_learning"),
])
def test_mask_secrets(text: str, shown: str) -> None:
    assert mask_secrets(text) == shown


def test_every_arena_error_is_masked() -> None:
    assert PASSWORD not in str(ArenaError(f"cannot open postgresql://u:{PASSWORD}@h/db"))


SECRET_URIS = [
    f"http://arena:{PASSWORD}@mlflow:5000",
    f"http://arena:pa/{PASSWORD}@mlflow:5000",
    f"http://mlflow:5000/?token={TOKEN}",
    f"postgresql://mlflow@db/mlflow?sslpassword={PASSWORD}",
]


@pytest.mark.parametrize("uri", SECRET_URIS)
def test_a_tracking_uri_with_credentials_never_travels(uri: str) -> None:
    from arena.settings import load_settings, settings_environment, travelling_settings

    environ = {"ARENA_TRACKING_URI": uri, "ARENA_STORAGE": "/shared/arena", "MLFLOW_TRACKING_USERNAME": "arena",
               "MLFLOW_TRACKING_PASSWORD": PASSWORD, "MLFLOW_TRACKING_TOKEN": TOKEN, "RAY_AUTH_TOKEN": TOKEN}
    travelling, held_back = travelling_settings(environ)
    assert travelling == {"ARENA_STORAGE": "/shared/arena"} and held_back == ["ARENA_TRACKING_URI"]
    settings = load_settings(environ)
    workers = settings_environment(settings)
    assert "ARENA_TRACKING_URI" not in workers and workers["ARENA_STORAGE"] == "/shared/arena"
    for secret in SECRETS:
        assert secret not in repr(workers) + repr(settings)
    assert settings.tracking_auth.present  # MLflow's own variables: arena signs in with them


def test_mlflow_sign_in_follows_mlflows_own_order() -> None:
    from arena.settings import TrackingAuth

    basic = TrackingAuth.from_environment({"MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p", "MLFLOW_TRACKING_TOKEN": "t"})
    assert basic.headers() == {"Authorization": "Basic dTpw"}
    assert TrackingAuth.from_environment({"MLFLOW_TRACKING_TOKEN": "t"}).headers() == {"Authorization": "Bearer t"}
    from_uri = TrackingAuth.from_environment({}, "http://me:p%40ss@mlflow:5000")
    assert (from_uri.username, from_uri.password) == ("me", "p@ss")
    assert not TrackingAuth.from_environment({}, "http://mlflow:5000").present


def test_json_and_every_printer_mask_secrets(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from arena.cli.base import _print_json
    from arena.terminal import err, out

    _print_json({"settings": {"ARENA_TRACKING_URI": f"http://u:{PASSWORD}@h:5000"}, "password": PASSWORD,
                 "MLFLOW_TRACKING_TOKEN": TOKEN, "nodes": [{"host": "h", "note": f"?sslpassword={PASSWORD}"}]})
    out.print(f"run logged to http://u:{PASSWORD}@h:5000", highlight=False)
    err.print(f"MLFLOW_TRACKING_TOKEN={TOKEN}")
    captured = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in captured.out + captured.err
    assert '"ARENA_TRACKING_URI": "http://u:***@h:5000"' in captured.out and '"password": "***"' in captured.out
    assert "run logged to http://u:***@h:5000" in captured.out and "MLFLOW_TRACKING_TOKEN=***" in captured.err


def test_the_client_masks_every_param_and_tag_it_writes(arena_env) -> None:  # noqa: ANN001
    from mlflow.entities import Param, RunTag

    from arena.tracking.client import client_for

    client = client_for(arena_env.tracking_uri)
    experiment = client.create_experiment("secrets", tags={"note": f"http://u:{PASSWORD}@h"})
    run = client.create_run(experiment, tags={"source": f"postgresql://u:{PASSWORD}@db/x"}, run_name=f"x?token={TOKEN}")
    client.log_batch(run.info.run_id, params=[Param("data.root", f"s3://b/x?secret={TOKEN}")],
                     tags=[RunTag("dsn", f"host=db password={PASSWORD}")])
    client.set_tag(run.info.run_id, "uri", f"http://u:pa/{PASSWORD}@h")
    client.log_param(run.info.run_id, "token", f"MLFLOW_TRACKING_TOKEN={TOKEN}")
    stored = client.get_run(run.info.run_id)
    logged = repr([stored.data.params, stored.data.tags, client.get_experiment(experiment).tags])
    assert "postgresql://u:***@db/x" in logged and "password=***" in logged
    for secret in SECRETS:
        assert secret not in logged


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Settings whose URIs carry a password, and a Ray token, none of it reachable."""
    home = tmp_path / "home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_TRACKING_URI", f"http://arena:pa/{PASSWORD}@127.0.0.1:1/?password={PASSWORD}")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "arena")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
    monkeypatch.setenv("ARENA_DB_URL", f"postgresql+psycopg://arena:{PASSWORD}@127.0.0.1:1/arena")
    monkeypatch.setenv("ARENA_STORAGE", str(home / "ray_results"))
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    return home


def invoke(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> str:
    """Every character `arena ARGS` printed, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["arena", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main()
    captured = capsys.readouterr()
    return captured.out + captured.err


def spec_file(tmp_path: Path) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"name": "secret-scan", "model": "resnet18", "data": {"dataset": "synthetic", "image_size": 32},
                                    "train": {"epochs": 1, "batch_size": 8}}))
    return str(path)


COMMANDS = [
    ("leaderboard", "show"),
    ("leaderboard", "sync"),
    ("leaderboard", "--view", "runs"),
    ("eval", "0123456789abcdef0123456789abcdef"),
    ("ensemble", "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"),
    ("train", "{spec}"),
    ("submit", "{spec}", "--address", f"http://ray:{PASSWORD}@127.0.0.1:1"),
    ("jobs", "list", "--address", "http://127.0.0.1:1"),
    ("jobs", "status", "raysubmit_x", "--format", "json", "--address", f"http://ray:{PASSWORD}@127.0.0.1:1/?token={TOKEN}"),
    ("cluster", "check", "--format", "json", "--address", f"http://ray:{PASSWORD}@127.0.0.1:1"),
    ("dashboard", "--port", "0"),
    ("ui",),
    ("models", "list"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:2]))
def test_no_command_prints_a_planted_secret(planted: Path, monkeypatch, capsys, tmp_path: Path, args) -> None:  # noqa: ANN001
    output = invoke(monkeypatch, capsys, *(arg.format(spec=spec_file(tmp_path)) for arg in args))
    assert output.strip()
    for secret in SECRETS:
        assert secret not in output


def test_sync_summary_masks_the_tracking_uri(planted: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    import arena.leaderboard
    import arena.training.grown_models
    import arena.webpage
    from arena.leaderboard.sync import SyncReport

    monkeypatch.setenv("ARENA_DB_URL", f"sqlite:///{planted / 'leaderboard.db'}")
    monkeypatch.setattr(arena.leaderboard, "sync_runs", lambda store, uri, full, home: SyncReport(added=1, updated=0, skipped=0))
    monkeypatch.setattr(arena.webpage, "publish_leaderboard_to_mlflow", lambda *args, **kwargs: None)
    monkeypatch.setattr(arena.training.grown_models, "make_all_resolvable", lambda **kwargs: 0)
    output = invoke(monkeypatch, capsys, "leaderboard", "sync")
    assert "leaderboard synced from http://arena:***@127.0.0.1:1/?password=***" in output
    assert PASSWORD not in output


def test_dashboard_beyond_loopback_warns(arena_env, monkeypatch, capsys) -> None:  # noqa: ANN001
    import arena.webpage

    monkeypatch.setattr(arena.webpage, "make_dashboard_server", lambda store, **kwargs: None)
    monkeypatch.setattr(arena.webpage, "serve", lambda server, **kwargs: None)
    monkeypatch.setattr("arena.webpage.wsgi.serve_with_gunicorn", lambda settings, **kwargs: None)  # 0.0.0.0: gunicorn
    assert "warning: the dashboard on 0.0.0.0 is reachable from other machines" in invoke(
        monkeypatch, capsys, "dashboard", "--host", "0.0.0.0")
    assert "warning" not in invoke(monkeypatch, capsys, "dashboard", "--host", "127.0.0.1")


def test_mlflow_params_and_tags_carry_no_secret(arena_env, monkeypatch) -> None:  # noqa: ANN001
    from _runs import digits_spec, record_checkpoint

    from arena.tracking.client import client_for

    monkeypatch.setenv("ARENA_DB_URL", f"postgresql+psycopg://arena:{PASSWORD}@db/arena")
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    run_id = record_checkpoint(arena_env, digits_spec(), None)
    run = client_for(arena_env.tracking_uri).get_run(run_id)
    logged = " ".join(f"{key}={value}" for key, value in {**run.data.params, **run.data.tags}.items())
    assert "train.epochs=2" in logged
    for secret in SECRETS:
        assert secret not in logged


@pytest.fixture
def signed_in_server():
    """An HTTP server that answers MLflow's API only to basic auth arena:PASSWORD (401 without, 403 wrong)."""
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    wanted = "Basic " + base64.b64encode(f"arena:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            given = self.headers.get("Authorization")
            code = 200 if given == wanted else 403 if given else 401
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b'{"experiment": {"name": "Default"}}' if code == 200 else b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_arena_signs_in_with_mlflows_variables(signed_in_server: str) -> None:
    from arena.services import require_tracking_store, store_problem
    from arena.settings import TrackingAuth

    signed_in = TrackingAuth.from_environment({"MLFLOW_TRACKING_USERNAME": "arena", "MLFLOW_TRACKING_PASSWORD": PASSWORD})
    assert store_problem(signed_in_server, signed_in) is None
    assert store_problem(signed_in_server.replace("//", f"//arena:{PASSWORD}@"), TrackingAuth.from_environment(
        {}, signed_in_server.replace("//", f"//arena:{PASSWORD}@"))) is None  # or the URI's own user:password
    with pytest.raises(ArenaError, match=r"asks for credentials \(HTTP 401\): set MLFLOW_TRACKING_USERNAME"):
        require_tracking_store(signed_in_server, TrackingAuth())
    wrong = TrackingAuth.from_environment({"MLFLOW_TRACKING_TOKEN": TOKEN})
    with pytest.raises(ArenaError, match=r"refused arena's credentials \(HTTP 403\)") as error:
        require_tracking_store(signed_in_server, wrong)
    assert TOKEN not in str(error.value)


def test_cluster_check_names_the_hosts_without_tracking_credentials(signed_in_server: str, monkeypatch) -> None:  # noqa: ANN001
    from arena.settings import TrackingAuth, load_settings
    from arena.training import checks, node_inspection

    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    bare = node_inspection._tracking_seen(signed_in_server)  # what a node without credentials sees
    assert bare == {"tracking_error": "HTTP 401", "tracking_refused": True, "tracking_credentials": False}
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "arena")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    assert node_inspection._tracking_seen(signed_in_server) == {
        "tracking_error": None, "tracking_refused": False, "tracking_credentials": True}
    laptop = load_settings({"ARENA_TRACKING_URI": signed_in_server, "MLFLOW_TRACKING_USERNAME": "arena",
                            "MLFLOW_TRACKING_PASSWORD": PASSWORD})
    nodes = [node_inspection.NodeReport("a", "head", "10.0.0.1", 1, 0, True, markers_seen=["a", "b"], tracking_credentials=True),
             node_inspection.NodeReport("b", "gpu-7", "10.0.0.2", 1, 0, False, markers_seen=["a", "b"], **bare)]
    problems = " ".join(checks.node_problems(nodes, None, laptop))
    assert "refuses the credentials of gpu-7 (HTTP 401)" in problems
    assert "gpu-7 has no credentials for the MLflow tracking server, which the driver signs in with" in problems
    assert "head has" not in problems and PASSWORD not in problems
    assert checks.credential_problems({"head": True}, laptop.tracking_auth, "this machine") == []
    assert checks.credential_problems({"gpu-7": False}, TrackingAuth(), "this machine") == []  # nothing to compare


def test_cluster_check_compares_the_hosts_with_this_machines_credentials(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    import contextlib

    import arena.cluster.check as check

    report = {"settings": {"ARENA_TRACKING_URI": "http://mlflow:5000"}, "hosts": 2, "problems": [], "nodes": [
        {"host": "head", "tracking_error": None, "tracking_credentials": True},
        {"host": "gpu-7", "tracking_error": None, "tracking_credentials": False}]}

    class Client:
        def submit_job(self, **kwargs: object) -> str:
            return "raysubmit_check"

        def get_job_logs(self, job_id: str) -> str:
            return "noise\n" + check.format_report_line(report) + "\n"

    monkeypatch.setattr(check, "connect", lambda url: Client())
    monkeypatch.setattr(check, "staged_job", lambda spec, environ: contextlib.nullcontext((None, tmp_path, {}, [])))
    monkeypatch.setattr(check, "wait_for_job", lambda client, job_id, timeout_seconds: "SUCCEEDED")
    signed_in = {"MLFLOW_TRACKING_USERNAME": "arena", "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    result = check.check_cluster_from_outside("http://127.0.0.1:8265", environ=signed_in)
    assert result.problems == [
        "gpu-7 has no credentials for the MLflow tracking server, which this machine signs in with: set "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in the environment each "
        "host's Ray node is started with; they never travel with a job"]
    assert check.check_cluster_from_outside("http://127.0.0.1:8265", environ={}).ok  # nothing to compare with
