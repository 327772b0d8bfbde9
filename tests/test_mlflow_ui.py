"""`arena ui` against a real `mlflow ui`: the addresses it prints, in Chromium; SIGTERM ends every process; no password in argv.

One MLflow UI serves the module (it takes 15-20 s to answer): the browser test reads the pages it
prints, then the SIGTERM test stops it. The browser part needs Chromium and Playwright, as the
dashboard's browser test does; on failure it saves a screenshot of every open page and prints its path.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, free_port
from dashboard_support import fill_store
from test_dashboard_browser import CHROMIUM, FLAGS, _playwright

from arena.leaderboard import open_store
from arena.tracking import run_log
from arena.tracking.client import client_for
from arena.tracking.experiment_views import LEADERBOARD_COLUMNS
from arena.webpage import publish_leaderboard_to_mlflow
from arena.webpage.mlflow_links import run_url

pytestmark = pytest.mark.slow
PASSWORD = "planted-s3cret"
# name -> (model, family, val top-1 error per epoch, top-5, params, gflops)
RUNS = {
    "resnet50-digits": ("resnet50", "resnet", (30.0, 8.0), (9.0, 2.0), 25_557_032, 4.09),
    "alexnet-digits": ("alexnet", "alexnet", (60.0, 31.0), (20.0, 7.75), 61_100_840, 0.71),
}


def _train_like_arena(settings) -> dict[str, str]:  # noqa: ANN001 - arena Settings
    """Log the RUNS as arena's training does (run_log), FINISHED; return name -> run id."""
    ids = {}
    for name, (model, family, top1, top5, params, gflops) in RUNS.items():
        # Trained on the full ILSVRC-2012 set: the only dataset the ILSVRC table sets beside the papers.
        tags = {"arena.model": model, "arena.family": family, "arena.dataset": "imagenet-1k", "arena.kind": "train"}
        run_id = run_log.start_run(settings.tracking_uri, settings.artifact_root, experiment="arena", run_name=name, tags=tags,
                                   params={"model": model, "data.dataset": "imagenet", "train.epochs": str(len(top1)),
                                           "model.params": str(params), "model.gflops": str(gflops)})
        history = [{"epoch": epoch, "val_top1_error": error1, "val_top5_error": error5, "train_loss": 1.0 / epoch}
                   for epoch, (error1, error5) in enumerate(zip(top1, top5, strict=True), start=1)]
        run_log.log_epochs(settings.tracking_uri, run_id, history)
        run_log.set_status(settings.tracking_uri, run_id, "FINISHED")
        ids[name] = run_id
    return ids


def _environment(home: Path, **overrides: str) -> dict[str, str]:
    return {**os.environ, "ARENA_HOME": str(home), "ARENA_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "ARENA_ARTIFACT_ROOT": str(home / "mlartifacts"), "ARENA_DB_URL": f"sqlite:///{home / 'leaderboard.db'}",
            "PYTHONUNBUFFERED": "1", **overrides}


def _lines(stream) -> queue.Queue:  # noqa: ANN001 - a text pipe
    """A queue the pipe's lines arrive on, read by a thread (None at the end)."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _descendants(pid: int) -> dict[int, str]:
    """Live (non-zombie) descendants of `pid`: pid -> command line."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = {}, list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found[child] = (Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
        todo += children.get(child, [])
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two trained runs synced and published, and `arena ui --no-browser` serving them; what it printed."""
    from arena.settings import load_settings

    home = tmp_path_factory.mktemp("arena-home")
    port = free_port()
    environment = _environment(home, ARENA_MLFLOW_UI_URL=f"http://127.0.0.1:{port}")
    settings = load_settings(environment)
    ids = _train_like_arena(settings)
    with open_store(settings.db_url) as store:
        fill_store(store, settings.tracking_uri)
        publish_leaderboard_to_mlflow(store, settings.tracking_uri, artifact_root=settings.artifact_root,
                                      mlflow_ui_url=settings.mlflow_ui_url)
    stderr = (home / "arena-ui.err").open("w")
    process = subprocess.Popen([str(BIN / "arena"), "ui", "--port", str(port), "--no-browser"], env=environment, text=True,
                               stdout=subprocess.PIPE, stderr=stderr, start_new_session=True)
    lines, printed = _lines(process.stdout), {}
    try:
        deadline = time.monotonic() + 240
        while "runs table" not in printed and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            assert line is not None, f"arena ui ended: {(home / 'arena-ui.err').read_text()[-3000:]}"
            label, _, address = line.partition(": ")
            printed[label.strip()] = address.strip()
        assert "runs table" in printed, f"arena ui printed no address: {(home / 'arena-ui.err').read_text()[-3000:]}"
        experiment_id = client_for(settings.tracking_uri).get_run(ids["resnet50-digits"]).info.experiment_id
        yield {"process": process, "printed": printed, "ids": ids, "experiment": experiment_id, "server": settings.mlflow_ui_url,
               "stderr": home / "arena-ui.err"}
    finally:
        leftovers = _descendants(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        for pid in leftovers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        stderr.close()


def _screenshots(context, folder: Path) -> None:  # noqa: ANN001 - a Playwright BrowserContext
    """Save every open page and print where, so a failing run's log names them."""
    for index, page in enumerate(context.pages):
        path = folder / f"failure-{index}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot of {page.url}: {path}")
        except Exception as error:  # a crashed page still lets the others be saved
            print(f"no screenshot of {page.url}: {error}")


def test_the_printed_leaderboard_shows_measured_rows_and_links_to_model_training_run_pages(ui: dict, tmp_path: Path) -> None:
    sync_playwright = _playwright()
    server, ids, printed = ui["server"], ui["ids"], ui["printed"]
    assert printed["leaderboard"].startswith(f"{server}/#/experiments/") and "/artifacts/leaderboard.html?" in printed["leaderboard"]
    assert printed["leaderboard"].endswith("workflowType=machine_learning")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=FLAGS, headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            page = context.new_page()
            page.goto(printed["leaderboard"], wait_until="load")
            leaderboard = page.frame_locator("iframe.mlflow-html-iframe")  # MLflow renders the HTML artifact in a sandbox
            rows = leaderboard.locator("#ilsvrc-table tbody tr")
            rows.first.wait_for(timeout=60_000)
            assert rows.count() == 16  # winner and runner-up of each year 2010-2017
            msra = leaderboard.locator('#ilsvrc-table tbody tr[data-year="2015"]').first
            assert "MSRA" in msra.inner_text() and "resnet50" in msra.inner_text() and "8.00" in msra.inner_text()
            assert msra.get_attribute("data-run-id") == ids["resnet50-digits"]
            expected = run_url(server, ids["resnet50-digits"], ui["experiment"])
            link = msra.locator("a").first
            assert link.get_attribute("href") == expected
            # The sandbox drops plain clicks on new-tab links; Ctrl-click opens one (the page's note says so).
            with context.expect_page() as opened:
                link.click(modifiers=["Control"])
            run_page = opened.value
            run_page.wait_for_load_state()
            assert run_page.url == expected
            run_page.get_by_text("resnet50-digits").first.wait_for(timeout=60_000)
            assert run_page.get_by_text("Model registry").first.is_visible()  # the Model-training sidebar
            assert run_page.get_by_text("Observability").count() == 0, "the GenAI view"

            page.goto(printed["runs table"], wait_until="load")
            page.locator('[role=gridcell][col-id="attributes.`Run Name`"]').first.wait_for(timeout=60_000)
            headers = page.locator("[role=columnheader][col-id]").evaluate_all("cells => cells.map(cell => cell.getAttribute('col-id'))")
            assert set(LEADERBOARD_COLUMNS) <= set(headers)
            names = page.locator('[role=gridcell][col-id="attributes.`Run Name`"]').evaluate_all(
                "cells => cells.map(cell => [Number(cell.closest('[row-index]').getAttribute('row-index')), cell.textContent])")
            # Each name follows its colour swatch (#rrggbb); the best val top-1 error comes first.
            assert [re.sub("^#[0-9a-f]{6}", "", name) for _, name in sorted(names)] == ["resnet50-digits", "alexnet-digits"]
            best = page.locator('[row-index="0"] [role=gridcell][col-id="metrics.`best_val_top1_error`"]').first
            assert best.inner_text().strip() == "8"
        except BaseException:
            _screenshots(context, tmp_path)
            raise
        finally:
            context.close()


def test_sigterm_stops_the_server_and_its_job_consumers(ui: dict) -> None:
    process = ui["process"]
    tree = _descendants(process.pid)
    commands = " ".join(tree.values())
    assert "uvicorn" in commands and "huey_consumer" in commands, commands  # MLflow's server and its job consumers
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=90) == 0
    time.sleep(1)
    assert [command for pid, command in tree.items() if _alive(pid)] == []


def test_a_store_password_stays_out_of_the_command_lines_and_the_output(tmp_path: Path) -> None:
    # Nothing listens on the port: MLflow starts, reads the URI, and retries its connection until stopped.
    uri = f"postgresql+psycopg://arena:{PASSWORD}@127.0.0.1:{free_port()}/mlflow"
    environment = _environment(tmp_path / "home", ARENA_TRACKING_URI=uri)
    process = subprocess.Popen([str(BIN / "arena"), "ui", "--port", str(free_port()), "--no-browser"], env=environment, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines, output, seen, environments = _lines(process.stdout), [], {}, []
    try:
        deadline = time.monotonic() + 120
        while not any("could not be created" in line for line in output) and time.monotonic() < deadline:
            for pid, command in _descendants(process.pid).items():
                seen.setdefault(pid, command)
                if "mlflow" in command and pid not in dict(environments):
                    environments.append((pid, Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")))
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            assert line is not None, "".join(output)
            output.append(line)
        assert any("could not be created" in line for line in output), "".join(output)  # MLflow tried the store
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0
    finally:
        if process.poll() is None:
            process.kill()
    while (line := lines.get(timeout=10)) is not None:
        output.append(line)
    assert any(" ui --host 127.0.0.1" in command for command in seen.values()), seen
    assert [command for command in seen.values() if PASSWORD in command] == []
    assert any(f"MLFLOW_BACKEND_STORE_URI={uri}" in variables for _, variables in environments)  # it travelled by environment
    assert PASSWORD not in "".join(output)
    assert [command for pid, command in seen.items() if _alive(pid)] == []
