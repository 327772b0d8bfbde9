"""Benchmark `arena dashboard` under load: 20 clients at once for 10 s, each asking for the home page and two API views in turn.

Builds a leaderboard of --rows measured rows (the same fake rows as benchmarks/leaderboard.py) and an MLflow
store of a few runs, starts `arena dashboard --port 0` on 127.0.0.1 in its own process, asks each URL once to
warm it (the first request imports MLflow), then runs the clients: threads in this process, a new connection
per request, each request given 10 s. Halfway (--sync-at) a write transaction like a sync's changes the
leaderboard's revision, so the page is computed again under load, as after a team's sync. Every loop is
bounded (the duration, and --max-requests per client).
Prints a markdown section: requests/s, errors, timeouts and latency percentiles against the goal
(no error, p99 under 300 ms). Loopback only; progress goes to stderr.

    python benchmarks/dashboard_load.py [--rows 100000] [--clients 20] [--seconds 10] [--sync-at 5] [--server gunicorn]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from leaderboard import fake_rows, fill, mlflow_store, progress  # noqa: E402 - the sibling benchmark's data

from arena.leaderboard import Store, open_store  # noqa: E402
from arena.leaderboard.sync import remember_default_dataset  # noqa: E402

URLS = ("/", "/api/leaderboard?view=runs", "/api/leaderboard?view=family")
GOAL_P99_MS = 300.0
REQUEST_TIMEOUT_S = 10.0
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Outcome:
    """One request: which URL, how long it took, and how it ended (`ok`, an HTTP status, or the error's name)."""

    url: str
    milliseconds: float
    result: str


def ask(port: int, url: str) -> Outcome:
    """One GET on a fresh connection to 127.0.0.1:`port`, read to the end."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request("GET", url)
        response = connection.getresponse()
        response.read()
        result = "ok" if response.status == 200 else f"HTTP {response.status}"
    except TimeoutError:
        result = "timeout"
    except OSError as error:  # refused, reset: the server did not answer
        result = type(error).__name__
    finally:
        connection.close()
    return Outcome(url, (time.perf_counter() - started) * 1000, result)


def client(port: int, first: int, deadline: float, max_requests: int, outcomes: list[Outcome]) -> None:
    """Ask for the URLs in turn (starting at `first`) until the deadline or `max_requests`."""
    for index in range(max_requests):
        if time.perf_counter() >= deadline:
            return
        outcomes.append(ask(port, URLS[(first + index) % len(URLS)]))


def sync_later(store: Store, delay: float) -> None:
    """After `delay` seconds, commit a write transaction as a sync ends with (it raises the revision)."""
    time.sleep(delay)
    with store.writing() as connection:
        remember_default_dataset(connection)


def load(port: int, clients: int, seconds: float, max_requests: int, sync: threading.Thread | None) -> tuple[list[Outcome], float]:
    """Run the clients at once (and the sync, if any); return every outcome and the wall time until the last one ended."""
    outcomes: list[Outcome] = []  # list.append is atomic: the threads share it
    started = time.perf_counter()
    deadline = started + seconds
    threads = [threading.Thread(target=client, args=(port, index, deadline, max_requests, outcomes), daemon=True)
               for index in range(clients)]
    for thread in [*threads, *([sync] if sync else [])]:
        thread.start()
    for thread in threads:
        thread.join(seconds + REQUEST_TIMEOUT_S + 5)
    return outcomes, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of them lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def start_dashboard(environment: dict[str, str], log: Path, server: str) -> tuple[subprocess.Popen, int]:
    """`arena dashboard --port 0 [--server S]` in its own process; return it and the port it announced."""
    command = [sys.executable, "-m", "arena.cli", "dashboard", "--port", "0", *(["--server", server] if server != "auto" else [])]
    with log.open("w") as sink:
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = re.search(r"dashboard on http://127\.0\.0\.1:(\d+)/", log.read_text())
        if found:
            return process, int(found.group(1))
        if process.poll() is not None:
            raise SystemExit(f"arena dashboard exited {process.returncode}:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"arena dashboard did not announce its address in {START_TIMEOUT_S:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="measured rows in the leaderboard")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=100_000, help="per client: a bound on each loop")
    parser.add_argument("--server", default="auto", help="arena dashboard --server: auto (threaded on loopback) | gunicorn")
    parser.add_argument("--sync-at", type=float, default=5.0, help="seconds into the load a sync-like write commits (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arena-bench-dashboard-") as name:
        folder = Path(name)
        progress(f"building a leaderboard of {args.rows:,} rows and an MLflow store")
        db_url = f"sqlite:///{folder / 'leaderboard.db'}"
        with open_store(db_url) as store:
            fill(store, fake_rows(args.rows), drop_indexes=False)
        tracking_uri = mlflow_store(folder, count=40)
        environment = {**os.environ, "ARENA_HOME": str(folder / "home"), "ARENA_DB_URL": db_url,
                       "ARENA_TRACKING_URI": tracking_uri}
        process, port = start_dashboard(environment, folder / "dashboard.log", args.server)
        try:
            warm = {url: ask(port, url) for url in URLS}
            if any(outcome.result != "ok" for outcome in warm.values()):
                raise SystemExit(f"warm-up failed: {warm}\n{(folder / 'dashboard.log').read_text()[-2000:]}")
            single = {url: statistics.median(ask(port, url).milliseconds for _ in range(5)) for url in URLS}
            load_before = os.getloadavg()[0]
            progress(f"{args.clients} clients for {args.seconds:g} s")
            with open_store(db_url) as store:
                sync = threading.Thread(target=sync_later, args=(store, args.sync_at)) if args.sync_at > 0 else None
                outcomes, wall = load(port, args.clients, args.seconds, args.max_requests, sync)
                if sync is not None:
                    sync.join()
        finally:
            process.terminate()
            process.wait(30)
    report(args, outcomes, wall, single, load_before)


def report(args: argparse.Namespace, outcomes: list[Outcome], wall: float, single: dict[str, float], load_before: float) -> None:
    """Print the markdown section."""
    times = [outcome.milliseconds for outcome in outcomes]
    failed = [outcome for outcome in outcomes if outcome.result != "ok"]
    timeouts = sum(outcome.result == "timeout" for outcome in failed)
    p99 = percentile(times, 0.99)
    syncing = f", a sync at {args.sync_at:g} s" if args.sync_at > 0 else ""
    syncing += f", --server {args.server}" if args.server != "auto" else ""
    print(f"## Dashboard under load ({args.clients} clients for {args.seconds:g} s{syncing}, {args.rows:,} measured rows, SQLite)\n")
    print("| measure | arena dashboard | goal |\n|---|---|---|")
    print(f"| requests (per second) | {len(outcomes):,} ({len(outcomes) / wall:.0f}/s) | |")
    print(f"| errors (of which timed out after {REQUEST_TIMEOUT_S:g} s) | {len(failed)} ({timeouts}) | 0 |")
    for label, fraction in (("p50", 0.5), ("p90", 0.9)):
        print(f"| {label} latency (ms) | {percentile(times, fraction):.1f} | |")
    print(f"| p99 latency (ms) | {p99:.1f} | < {GOAL_P99_MS:.0f} |")
    print(f"| slowest (ms) | {max(times):.1f} | |")
    print(f"| requests slower than {GOAL_P99_MS:.0f} ms | {sum(time > GOAL_P99_MS for time in times)} | |")
    for url, milliseconds in single.items():
        print(f"| one request alone, `{url}` (median of 5, ms) | {milliseconds:.1f} | |")
    kinds = sorted({outcome.result for outcome in failed})
    if kinds:
        print(f"\nFailures: {', '.join(f'{kind} x{sum(o.result == kind for o in failed)}' for kind in kinds)}.")
    print(f"\nLoad average when the clients started: {load_before:.2f} (2 cores shared with other work).")
    print(f"\nReproduce: `.venv/bin/python benchmarks/dashboard_load.py --rows {args.rows} --clients {args.clients} "
          f"--seconds {args.seconds:g} --sync-at {args.sync_at:g}{f' --server {args.server}' if args.server != 'auto' else ''}`")


if __name__ == "__main__":
    main()
