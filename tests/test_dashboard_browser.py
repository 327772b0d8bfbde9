"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright, against the server on loopback.

Needs `apt-get install -y chromium` (/usr/bin/chromium) and the `playwright` package (the dev extra);
Playwright's own browser downloads are never used. Skipped locally without them; under CI=true it fails.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dashboard_support import build_history, fill_store

from arena.leaderboard import Store, open_store, show

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


def _playwright():  # noqa: ANN202 - the sync_playwright factory
    """Playwright's sync API; skip (locally) or fail (CI=true) when it or Chromium is missing."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return sync_playwright


@contextmanager
def _serving(folder: Path, history: dict) -> Iterator[tuple[str, Store]]:
    """The dashboard over the runs of `history`, synced and served on 127.0.0.1 from a thread; stopped afterwards."""
    from arena.webpage import make_dashboard_server, serve

    with open_store(f"sqlite:///{folder / 'leaderboard.db'}") as store:
        fill_store(store, history["uri"])
        server = make_dashboard_server(store, port=0, tracking_uri=history["uri"], mlflow_ui_url="http://127.0.0.1:5999")
        thread = threading.Thread(target=serve, args=(server,), daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}/", store
        finally:
            server.shutdown()
            thread.join(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict]:
    """The dashboard over a few synced runs, served on 127.0.0.1 from a thread; stopped afterwards."""
    history = build_history(tmp_path / "mlflow")
    with _serving(tmp_path, history) as (url, store):
        yield {"url": url, "store": store, "history": history}


def test_dashboard_renders_in_chromium(served: dict, tmp_path: Path) -> None:
    sync_playwright = _playwright()
    problems: list[str] = []
    profile = tmp_path / "chromium-profile"
    with sync_playwright() as playwright:
        # A persistent context is how Playwright takes a fresh profile folder of our choosing (--user-data-dir).
        browser = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=FLAGS, headless=True, viewport={"width": 1366, "height": 900}
        )
        try:
            page = browser.new_page()
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(served["url"], wait_until="load")

            expected = show(served["store"], "ilsvrc")
            rows = page.locator("#ilsvrc-table tbody tr")
            assert rows.count() == len(expected) == 16
            msra = page.locator('#ilsvrc-table tbody tr[data-year="2015"]').first
            assert "MSRA" in msra.inner_text() and "resnet50" in msra.inner_text()
            link = msra.locator("a").first.get_attribute("href")
            history = served["history"]
            assert link == (f"http://127.0.0.1:5999/#/experiments/{history['experiment']}/runs/{history['ids']['resnet50-imagenet']}"
                            "?workflowType=machine_learning")

            assert page.locator("#chart-years rect.bar").count() == 10  # 8 paper bars, 2 measured on imagenet-1k
            assert page.locator("#chart-cost-gflops .marker").count() > 8
            assert page.locator("#chart-cost-gflops polyline").count() == 2  # both Pareto fronts
            assert page.locator("svg[id^=chart-scaling-] .marker").count() == 4
            assert page.locator("svg[id^=chart-nas-] .marker").count() == 5
            box = page.locator("#chart-years").bounding_box()
            assert box is not None and box["width"] > 600 and box["height"] > 250  # drawn, at a readable size

            assert page.locator("#chart-cost-gflops").is_visible() and not page.locator("#chart-cost-params").is_visible()
            page.locator("label[for=axis-params]").click()
            assert page.locator("#chart-cost-params").is_visible() and not page.locator("#chart-cost-gflops").is_visible()
            page.locator("label[for=axis-gflops]").click()
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

            with page.expect_navigation():
                page.select_option("#filter-family", "resnet")
            assert "family=resnet" in page.url
            assert page.locator("#ilsvrc-table tbody tr").count() == 1
            page.screenshot(path=str(tmp_path / "dashboard-resnet.png"))
        finally:
            browser.close()
    assert problems == [], problems
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    shutil.rmtree(profile, ignore_errors=True)


EVIL = "<script>window.__pwned=1</script>\"'><img src=x onerror=\"window.__pwned=2\"><b>[/x]</b>"


def test_names_with_markup_render_inert(tmp_path: Path) -> None:
    """Run, model, family and search names carrying <script>, quotes and markup show as text in tables and charts."""
    from dashboard_support import log_run

    sync_playwright = _playwright()
    history = build_history(tmp_path / "mlflow")
    client, experiment = history["client"], history["experiment"]
    log_run(client, experiment, f"run {EVIL}", model=f"model {EVIL}", family=f"family {EVIL}", top1=(50.0, 9.0), gflops=2.0)
    parent = client.create_run(experiment, run_name=f"search {EVIL}", tags={
        "arena.kind": "nas-search", "arena.family": "nas", "arena.dataset": "digits"}).info.run_id
    trial = log_run(client, experiment, "evil-trial", model="nas:evil", family="nas", kind="nas-trial", top1=(50.0, 40.0))
    client.log_metric(trial, "reward", 0.6)
    client.set_tag(trial, "mlflow.parentRunId", parent)
    client.set_terminated(parent, status="FINISHED")
    problems: list[str] = []
    with _serving(tmp_path, history) as (url, _store):
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=FLAGS, headless=True)
            try:
                page = browser.new_page()
                page.on("pageerror", lambda error: problems.append(str(error)))
                page.goto(url, wait_until="load")
                page.wait_for_timeout(300)  # an injected onerror handler would have fired by now
                assert page.evaluate("window.__pwned") is None
                assert page.locator("script").count() == 1  # the page's own, nothing injected
                assert page.locator("img").count() == 0 and page.locator("b").count() == 0
                families = page.locator("#families tbody").inner_text()
                assert f"family {EVIL}" in families and f"model {EVIL}" in families
                assert page.locator("h3", has_text=f"search {EVIL}").count() == 1
                svg_texts = page.locator("#chart-cost-gflops text, #chart-cost-gflops title").all_text_contents()
                assert any(f"model {EVIL}" in text for text in svg_texts)
                assert page.locator("#chart-cost-gflops script, #chart-cost-gflops img").count() == 0
                options = page.locator("#filter-family option").all_text_contents()
                assert f"family {EVIL}" in options
            finally:
                browser.close()
    assert problems == [], problems
