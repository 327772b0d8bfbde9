"""The leaderboard dashboard: the page, its JSON endpoints, the self-contained file, the MLflow copy and `arena ui`."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from dashboard_support import RUNS, build_history, fill_store
from leaderboard_support import BACKENDS, database_url

from arena.charts.svg import Point, _linear_ticks, _log_ticks, pareto_front
from arena.errors import ArenaError
from arena.leaderboard import VIEWS, open_store, show, sync_runs
from arena.leaderboard.chart_points import filter_choices, measured_points, paper_points
from arena.leaderboard.views import COLUMNS
from arena.settings import load_settings
from arena.webpage import (
    create_app,
    make_dashboard_server,
    mlflow_ui_command,
    publish_leaderboard_to_mlflow,
    render_page,
    serve,
)

UI = "http://127.0.0.1:5999"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_history(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(scope="module")
def store(history: dict, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    with open_store(f"sqlite:///{tmp_path_factory.mktemp('db') / 'leaderboard.db'}") as store:
        fill_store(store, history["uri"])
        yield store


@pytest.fixture(scope="module")
def client(store, history: dict):  # noqa: ANN001, ANN201
    return create_app(store, tracking_uri=history["uri"], mlflow_ui_url=UI).test_client()


def _run_url(history: dict, name: str) -> str:
    return f"{UI}/#/experiments/{history['experiment']}/runs/{history['ids'][name]}?workflowType=machine_learning"


def test_page_sets_paper_beside_measured_with_run_links(client, history: dict) -> None:  # noqa: ANN001
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    rows = re.findall(r'<tr data-year="(\d+)" data-run-id="([0-9a-f]*)">', page)
    assert len(rows) == 16  # winner and runner-up of each year 2010-2017
    ids = history["ids"]
    # Only imagenet-1k runs stand beside the papers, though the page shows digits (the most measured).
    assert [(year, run) for year, run in rows if run] == [
        ("2012", ids["alexnet-imagenet"]),
        ("2015", ids["resnet50-imagenet"]),  # MSRA's resnet152 was not measured: its family's best stands in
    ]
    for name in ("alexnet-imagenet", "resnet50-imagenet", "googlenet-digits", "vgg16-digits"):
        assert _run_url(history, name) in page, name  # the digits runs link from the family table
    assert "15.31" in page and "3.57" in page  # paper figures: AlexNet's and ResNet's top-5 error
    assert "Traceback" not in page


def test_page_draws_every_chart(client) -> None:  # noqa: ANN001
    page = client.get("/").get_data(as_text=True)
    for chart in ("chart-years", "chart-cost-gflops", "chart-cost-params"):
        assert f'id="{chart}"' in page
    assert page.count('class="bar s-paper"') == 8  # one ILSVRC winner a year, 2010-2017
    assert page.count('class="bar s-measured"') == 2  # imagenet-1k: 2012 AlexNet, 2015 ResNet (resnet50)
    gflops_chart = page[page.index('id="chart-cost-gflops"') : page.index('id="chart-cost-params"')]
    assert gflops_chart.count('class="marker s-paper"') == 7  # the test zoo's architectures with a paper top-1
    assert gflops_chart.count('class="marker s-measured"') == len(RUNS) + 1  # and the trained scaled phi=1 net
    assert 'class="line solid s-paper-front"' in gflops_chart and 'class="line dashed s-measured-front"' in gflops_chart
    scaling = re.search(r'id="chart-scaling-[0-9a-f]+".*?</svg>', page, re.S).group(0)
    assert scaling.count('class="marker s-trial"') == 3 and scaling.count('class="marker s-family"') == 1
    assert "holdout top-1 error (%)" in scaling  # the trials' error axis says what they were measured on
    assert "scaled:demo-scaling-phi2" in page  # not trained yet: named under the chart
    nas = re.search(r'id="chart-nas-[0-9a-f]+".*?</svg>', page, re.S).group(0)
    assert nas.count('class="marker s-reward"') == 5 and 'class="line step s-best"' in nas


def test_family_filter_narrows_tables_and_charts(client) -> None:  # noqa: ANN001
    page = client.get("/?family=resnet").get_data(as_text=True)
    years = re.findall(r'<tr data-year="(\d+)"', page)
    assert years == ["2015"]  # only MSRA's ResNet entry is in the resnet family
    assert '<option value="resnet" selected>' in page
    gflops_chart = page[page.index('id="chart-cost-gflops"') : page.index('id="chart-cost-params"')]
    assert gflops_chart.count('class="marker s-measured"') == 1


@pytest.mark.parametrize("view", VIEWS)
def test_api_leaderboard_returns_each_view(client, store, view: str) -> None:  # noqa: ANN001
    body = client.get(f"/api/leaderboard?view={view}").get_json()
    assert body["view"] == view and body["rows"], view
    assert all(list(row) == COLUMNS[view] for row in body["rows"])
    dataset = None if view in ("runs", "reference") else "digits"
    assert body["rows"] == json.loads(json.dumps(show(store, view, dataset)))


def test_api_leaderboard_filters_and_limits(client) -> None:  # noqa: ANN001
    body = client.get("/api/leaderboard?view=family&dataset=digits&family=vgg").get_json()
    assert [row["model"] for row in body["rows"]] == ["vgg16"]
    assert len(client.get("/api/leaderboard?view=runs&limit=2").get_json()["rows"]) == 2


def test_api_leaderboard_pages_through_the_runs(client, store) -> None:  # noqa: ANN001
    every = json.loads(json.dumps(show(store, "runs", limit=0)))
    assert len(every) >= 3
    pages = [client.get(f"/api/leaderboard?view=runs&limit=2&offset={start}").get_json() for start in range(0, len(every), 2)]
    assert [page["offset"] for page in pages] == list(range(0, len(every), 2))
    assert [row for page in pages for row in page["rows"]] == every  # newest first, nothing twice, nothing missed


def test_api_dashboard_carries_searches(client, history: dict) -> None:  # noqa: ANN001
    body = client.get("/api/dashboard").get_json()
    assert body["dataset"] == "digits" and "resnet" in body["families"]
    (scaling,) = body["scaling_searches"]
    assert scaling["run_id"] == history["ids"]["scaling"] and len(scaling["trials"]) == 3
    assert sorted(trial["val_top1_error"] for trial in scaling["trials"]) == [11.0, 14.0, 16.0]
    assert {trial["measured_on"] for trial in scaling["trials"]} == {"holdout"}
    # Trials rank on their holdout: never among the family's best runs or the measured points on val/.
    assert [row["model"] for row in body["family_rows"] if row["family"] == "efficientnet"] == ["scaled:demo-scaling-phi1"]
    assert not {row["run_id"] for row in body["measured_points"]} & {trial["run_id"] for trial in scaling["trials"]}
    assert [(m["phi"], m["measured_top1_error"]) for m in scaling["scaled_family"]] == [(1, 10.5), (2, None), (3, None)]
    (nas,) = body["nas_searches"]
    assert [trial["reward"] for trial in nas["trials"]] == [0.52, 0.61, 0.58, 0.70, 0.69]
    assert client.get("/api/filters").get_json()["datasets"] == ["digits", "imagenet-1k"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/leaderboard?view=bogus", "unknown leaderboard view 'bogus'"),
        ("/api/leaderboard?limit=0", "limit must be a positive whole number"),
        ("/api/leaderboard?limit=ten", "limit must be a positive whole number"),
        ("/api/leaderboard?view=runs&offset=-1", "offset must be a whole number, not '-1'"),
        (f"/api/leaderboard?view=runs&offset={2**63}", f"offset must be at most {2**63 - 1}, not {2**63}"),
        ("/api/leaderboard?dataset=imagenet-21k", "unknown dataset 'imagenet-21k'"),
        ("/api/dashboard?family=resnt", "unknown family 'resnt'; closest: resnet"),
        ("/?dataset=nope", "unknown dataset 'nope'"),
        ("/api/leaderboard?sort=year", "unknown query argument 'sort'"),
        ("/api/leaderboard?view=runs&limit=\u0661\u0662", "limit must be a positive whole number"),  # Arabic-Indic 12
        ("/api/leaderboard?view=runs&limit=\u00b2", "limit must be a positive whole number"),  # superscript two
        ("/api/leaderboard?view=runs&offset=\uff11", "offset must be a whole number"),  # fullwidth one
        ("/api/leaderboard?view=runs&limit=1001", "limit must be at most 1000, not 1001"),
        ("/api/leaderboard?view=runs&limit=" + "9" * 5000, "limit must be at most 1000, not 9999"),
    ],
)
def test_bad_query_is_400_with_a_message(client, url: str, message: str) -> None:  # noqa: ANN001
    response = client.get(url)
    assert response.status_code == 400 and response.is_json
    assert message in response.get_json()["error"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_api_answers_strict_json(store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    rows = [{"run_id": "a", "top1_error": float("nan"), "gflops": float("inf"), "params": 5, "nested": [float("-inf"), 1.5]}]
    monkeypatch.setattr("arena.webpage.server.show", lambda *args, **kwargs: rows)
    text = create_app(store).test_client().get("/api/leaderboard?view=runs").get_data(as_text=True)
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in {text}"))["rows"] == [
        {"run_id": "a", "top1_error": None, "gflops": None, "params": 5, "nested": [None, 1.5]}]


def test_largest_limit_is_served(client) -> None:  # noqa: ANN001
    assert client.get("/api/leaderboard?view=runs&limit=1000&offset=0").status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8050", "127.0.0.1.evil.example", "localhost.", "0.0.0.0:80"])
def test_unknown_host_is_refused(client, host: str) -> None:  # noqa: ANN001
    """DNS rebinding: a page on another name that resolves to 127.0.0.1 must not read the API."""
    for path in ("/", "/api/leaderboard?view=runs", "/api/dashboard", "/api/filters"):
        response = client.get(path, headers={"Host": host})
        if host == "localhost.":  # the same name, fully qualified
            assert response.status_code == 200, path
            continue
        assert response.status_code == 400 and "unknown host" in response.get_json()["error"], (host, path)
        assert "rows" not in response.get_data(as_text=True)


def test_loopback_bound_and_allowed_hosts_are_answered(store) -> None:  # noqa: ANN001
    client = create_app(store, allowed_hosts=["Board.Example.org", "10.0.0.7"]).test_client()
    for host in ("localhost:8050", "127.0.0.1", "[::1]:8050", "board.example.ORG:443", "10.0.0.7:8050"):
        assert client.get("/api/filters", headers={"Host": host}).status_code == 200, host
    assert client.get("/api/filters", headers={"Host": "example.org"}).status_code == 400


def test_every_answer_carries_the_security_headers(client) -> None:  # noqa: ANN001
    import base64
    import hashlib

    for path, status in (("/", 200), ("/api/filters", 200), ("/api/leaderboard?view=bogus", 400), ("/nothing", 404)):
        response = client.get(path)
        assert response.status_code == status
        assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
        assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    page = client.get("/").get_data(as_text=True)
    # The policy allows exactly the page's one inline style and one inline script, by their hashes.
    for element in ("style", "script"):
        (text,) = re.findall(rf"<{element}>(.*?)</{element}>", page, re.S)
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{element}-src 'sha256-{digest}'" in response.headers["Content-Security-Policy"]


def test_page_is_computed_once_per_leaderboard_revision(store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    import arena.webpage.server as server_module

    calls: list[str | None] = []
    real = server_module.load_dashboard

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(server_module, "load_dashboard", counted)
    client = create_app(store).test_client()
    first = [client.get("/").get_data() for _ in range(3)]
    assert len(calls) == 1 and first[0] == first[1] == first[2]
    client.get("/?dataset=imagenet-1k")
    assert calls == [None, "imagenet-1k"]  # another page, computed once too
    before = store.revision()
    with store.writing():  # what a sync does: any write transaction raises the revision
        pass
    assert store.revision() == before + 1
    client.get("/")
    assert calls == [None, "imagenet-1k", None]


def test_answers_wait_for_one_computation() -> None:
    from arena.webpage.cache import Answer, AnswerCache

    cache, computed, started = AnswerCache(max_age_s=60), [], threading.Event()

    def slow() -> Answer:
        computed.append(1)
        started.set()
        threading.Event().wait(0.2)
        return Answer(b"page", "text/html")

    answers: list[bytes] = []
    threads = [threading.Thread(target=lambda: answers.append(cache.get("/", 7, slow).body)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert answers == [b"page"] * 20 and len(computed) == 1  # twenty clients after a sync: one rendering
    assert cache.get("/", 8, lambda: Answer(b"new", "text/html")).body == b"new"  # a new revision is computed afresh


def test_unknown_path_is_a_json_404(client) -> None:  # noqa: ANN001
    response = client.get("/api/nothing")
    assert response.status_code == 404 and response.get_json()["error"] == "Not Found: /api/nothing"


def test_unexpected_failure_is_500_without_a_traceback(store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("secret internals")

    monkeypatch.setattr("arena.webpage.server.show", broken)
    response = create_app(store).test_client().get("/api/leaderboard")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "RuntimeError" in response.get_json()["error"] and "secret" not in text and "Traceback" not in text


def test_unreachable_database_is_503(store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    def unreachable(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise ArenaError("cannot reach the leaderboard database postgresql+psycopg://arena@db/arena: refused")

    monkeypatch.setattr("arena.webpage.server.filter_choices", unreachable)
    response = create_app(store).test_client().get("/api/filters")
    assert response.status_code == 503 and "cannot reach the leaderboard database" in response.get_json()["error"]


def test_render_page_is_one_self_contained_file(store, history: dict) -> None:  # noqa: ANN001
    page = render_page(store, "digits", None, UI)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and "<script>" in page
    assert not re.search(r'<(script|img|iframe)[^>]+src=|<link[^>]+rel="?stylesheet', page)
    assert not [url for url in re.findall(r'(?:href|src)="(https?://[^"]+)"', page) if not url.startswith(UI)]
    assert 'id="filters"' not in page  # a file cannot re-query the database
    # Without the MLflow store the experiment is unknown: MLflow's run-only route still opens the run.
    assert f'{UI}/#/runs/{history["ids"]["resnet50-digits"]}?workflowType=machine_learning' in page
    assert page.count("<svg") >= 3


def test_missing_mlflow_store_leaves_a_note(store, tmp_path: Path) -> None:  # noqa: ANN001
    page = render_page(store, tracking_uri=f"sqlite:///{tmp_path / 'absent.db'}")
    assert "MLflow not read: no MLflow tracking store" in page and 'id="chart-years"' in page
    assert not (tmp_path / "absent.db").exists()


def test_server_answers_on_loopback(store) -> None:  # noqa: ANN001
    server = make_dashboard_server(store, port=0)
    announced: list[str] = []
    thread = threading.Thread(target=serve, args=(server,), kwargs={"ready": announced.append}, daemon=True)
    thread.start()
    try:
        assert server.server_address[0] == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/api/filters", timeout=10) as response:
            assert json.load(response)["default_dataset"] == "digits"
        assert announced == [f"http://127.0.0.1:{server.server_port}/"]  # announced before it served
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.mark.slow
def test_dashboard_serves_through_gunicorn(tmp_path: Path) -> None:
    """`arena dashboard --server gunicorn` (what a non-loopback address gets): answers, refuses a foreign Host, stops on SIGTERM."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "HOME": str(tmp_path), "ARENA_HOME": str(tmp_path / "arena"), "XDG_RUNTIME_DIR": ""}
    process = subprocess.Popen([sys.executable, "-m", "arena.cli", "dashboard", "--server", "gunicorn", "--port", "0"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()  # the announcement, once gunicorn listens
        found = re.search(r"dashboard on (http://127\.0\.0\.1:\d+/)", line)
        assert found, line + (process.stderr.read() if process.poll() is not None else "")
        with urllib.request.urlopen(found.group(1) + "api/filters", timeout=30) as response:
            assert response.headers["X-Frame-Options"] == "DENY" and "datasets" in json.load(response)
        request = urllib.request.Request(found.group(1) + "api/filters", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 400
    finally:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0 and time.monotonic() - started < 20
    assert not (tmp_path / ".gunicorn").exists()  # no control socket left in the user's home


def test_busy_port_is_an_arena_error(store) -> None:  # noqa: ANN001
    server = make_dashboard_server(store, port=0)
    try:
        with pytest.raises(ArenaError, match=f"cannot serve the dashboard on 127.0.0.1:{server.server_port}"):
            make_dashboard_server(store, port=server.server_port)
    finally:
        server.server_close()


def test_publish_keeps_one_leaderboard_run_in_mlflow(store, history: dict, tmp_path: Path) -> None:  # noqa: ANN001
    from mlflow.entities import ViewType

    client = history["client"]
    first = publish_leaderboard_to_mlflow(store, history["uri"], artifact_root=str(tmp_path), mlflow_ui_url=UI)
    second = publish_leaderboard_to_mlflow(store, history["uri"], artifact_root=str(tmp_path), mlflow_ui_url=UI)
    experiment = client.get_experiment_by_name("leaderboard")
    runs = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ACTIVE_ONLY)
    assert [run.info.run_id for run in runs] == [second] and first == second  # one run, rewritten: its address stays
    assert runs[0].info.run_name == "leaderboard" and runs[0].info.status == "FINISHED"
    files = {item.path for item in client.list_artifacts(second)} | {
        item.path for folder in ("ilsvrc", "family") for item in client.list_artifacts(second, folder)}
    assert {"leaderboard.html", "ilsvrc/digits.json", "family/digits.json"} <= files
    table = json.loads(Path(client.download_artifacts(second, "ilsvrc/digits.json", str(tmp_path))).read_text())
    # Replaced, not appended to (MLflow's log_table would have doubled the rows on the second publication).
    assert table["columns"] == COLUMNS["ilsvrc"] and len(table["data"]) == len(show(store, "ilsvrc", "digits"))
    page = Path(client.download_artifacts(second, "leaderboard.html", str(tmp_path))).read_text()
    assert _run_url(history, "resnet50-digits") in page
    assert sync_runs(store, history["uri"], refresh_zoo=False).added == 0  # the leaderboard run is not a measured run


def test_mlflow_ui_command_serves_the_tracking_store_on_loopback(arena_env) -> None:  # noqa: ANN001
    command, environment = mlflow_ui_command(arena_env, port=5123)
    assert command[1] == "ui" and Path(command[0]).name == "mlflow"
    options = dict(zip(command[2::2], command[3::2], strict=True))
    assert options == {"--host": "127.0.0.1", "--port": "5123", "--workers": "1"}  # the stores travel by environment
    assert environment == {"MLFLOW_BACKEND_STORE_URI": arena_env.tracking_uri,
                           "MLFLOW_DEFAULT_ARTIFACT_ROOT": Path(arena_env.artifact_root).as_uri()}


def test_mlflow_ui_refuses_a_tracking_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_TRACKING_URI", "http://arena:planted-s3cret@mlflow.internal:5000")
    with pytest.raises(ArenaError, match="is an MLflow server already") as raised:
        mlflow_ui_command(load_settings())
    assert "planted-s3cret" not in str(raised.value) and "arena:***@mlflow.internal" in str(raised.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_chart_queries_on_each_backend(backend: str, history: dict, tmp_path: Path) -> None:
    for url in database_url(backend, tmp_path):
        with open_store(url) as store:
            fill_store(store, history["uri"])
            assert filter_choices(store)["datasets"] == ["digits", "imagenet-1k"]
            papers = {row["name"]: row for row in paper_points(store)}
            assert papers["efficientnet_b0"]["paper_top1_error"] == 22.9  # the reference data's figure (Tan & Le)
            assert "EfficientNet" in papers["efficientnet_b7"]["source"] and papers["vgg16"]["source"] is None
            measured = {row["model"]: row for row in measured_points(store, "digits")}
            assert measured["resnet50"]["measured_top1_error"] == 8.0 and measured["resnet50"]["gflops"] == 4.09
            assert [row["model"] for row in measured_points(store, "digits", "vgg")] == ["vgg16"]


def test_pareto_front_keeps_points_nothing_beats() -> None:
    points = [Point(1, 30, "a"), Point(2, 20, "b"), Point(3, 25, "c"), Point(4, 10, "d"), Point(2, 22, "e")]
    assert [point.title for point in pareto_front(points)] == ["a", "b", "d"]


def test_axis_ticks_span_the_data() -> None:
    assert _log_ticks(0.39, 37.75) == [0.2, 0.5, 1, 2, 5, 10, 20, 50]
    ticks = _linear_ticks(2.3, 28.2)
    assert ticks[0] <= 2.3 and ticks[-1] >= 28.2 and len(ticks) <= 8
