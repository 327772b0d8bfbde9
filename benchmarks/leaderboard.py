"""Benchmark the leaderboard: each view at 100k measured rows, and a sync of 10k MLflow runs.

Prints a markdown section in which each figure stands beside a baseline measured in the same run:
  views: the same query on a copy of the database without the view indexes, and the goal (50 ms);
  sync:  a plain read of the same runs through MLflow's own `search_runs` (1,000 a page, the client's
         default), run in each repeat just before the syncs; and the goal (60 s for the first sync).
Runs on SQLite, and on PostgreSQL too when ARENA_TEST_PG_URL is set (a server URL; the benchmark
creates and drops its own databases there). Progress goes to stderr.

    python benchmarks/leaderboard.py [--rows 100000] [--runs 10000] [--repeat 15] [--sync-repeat 3] [--only views|sync]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from sqlalchemy import text  # noqa: E402

from arena.leaderboard import open_store, show, sync_runs  # noqa: E402
from arena.leaderboard.reference import upsert  # noqa: E402
from arena.leaderboard.schema import MeasuredResult  # noqa: E402
from arena.leaderboard.store import Store  # noqa: E402
from arena.leaderboard.sync import remember_default_dataset  # noqa: E402
from arena.leaderboard.views import RUNS_PAGE  # noqa: E402

VIEW_INDEXES = ("ix_measured_dataset_on_model_top1", "ix_measured_dataset_on_family_top1",
                "ix_measured_dataset_on_gflops_top1_id", "ix_measured_dataset_on_family_gflops_top1_id",
                "ix_measured_finished_id", "ix_measured_dataset_finished_id")
GOAL_VIEW_MS = 50.0
GOAL_SYNC_S = 60.0
ZOO = [  # (model, family, gflops at native resolution)
    ("alexnet", "alexnet", 0.71), ("zfnet", "zfnet", 1.1), ("vgg11", "vgg", 7.6), ("vgg16", "vgg", 15.5),
    ("vgg19", "vgg", 19.6), ("googlenet", "inception", 1.5), ("inception_v3", "inception", 5.7),
    ("resnet18", "resnet", 1.8), ("resnet50", "resnet", 4.1), ("resnet152", "resnet", 11.5),
    ("resnext50_32x4d", "resnet", 4.3), ("senet154", "senet", 20.7), ("seresnet50", "senet", 4.1),
    ("efficientnet_b0", "efficientnet", 0.39), ("efficientnet_b3", "efficientnet", 1.8),
    ("efficientnet_b7", "efficientnet", 37.0), ("nfnet_f0", "nfnet", 12.4), ("vit_b_16", "transformer", 17.6),
    ("swin_t", "transformer", 4.5), ("deit_small_patch16_224", "transformer", 4.6),
]
DATASETS = (("digits", 0.6), ("synthetic", 0.3), ("imagefolder", 0.1))
VIEW_CASES: list[tuple[str, dict]] = [  # (view, show() options); the default dataset is digits, 60% of the rows
    ("ilsvrc", {}), ("ilsvrc", {"dataset": "synthetic", "family": "resnet"}),
    ("family", {}), ("family", {"dataset": "imagefolder"}),
    ("pareto", {}), ("pareto", {"family": "resnet"}), ("pareto", {"dataset": "imagefolder"}),
    ("runs", {}), ("runs", {"dataset": "imagefolder"}), ("runs", {"offset": 10_000}),
]
ALL_RUNS = ("runs", {"limit": 0})  # every row: printed, but a dump, not a page, so the goal does not apply


def fake_rows(count: int, seed: int = 0) -> list[dict]:
    """`count` plausible measured_results rows over the zoo, three datasets and a year of runs; trials measured on a holdout."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for index in range(count):
        model, family, gflops = rng.choice(ZOO)
        image_size = rng.choice((32, 64, 128, 224))
        finished = start + timedelta(minutes=index * 5)
        kind = rng.choice(("train", "train", "scaling-trial", "nas-trial"))
        rows.append({
            "run_id": uuid.UUID(int=rng.getrandbits(128)).hex, "model": model, "family": family,
            "dataset": rng.choices([name for name, _ in DATASETS], [weight for _, weight in DATASETS])[0],
            "kind": kind, "measured_on": "holdout" if kind.endswith("-trial") else "val", "image_size": image_size,
            "epochs": rng.choice((5, 10, 30)), "top1_error": round(rng.uniform(5, 95), 3),
            "top5_error": round(rng.uniform(0, 30), 3), "params": rng.randint(10**6, 10**8),
            "gflops": round(gflops * (image_size / 224) ** 2, 4), "images_per_second": rng.uniform(10, 5000),
            "device_hours": rng.uniform(0, 10), "device": rng.choice(("cpu", "gpu")),
            "started": finished - timedelta(hours=1), "finished": finished, "experiment": "arena",
            "run_name": f"{model}-{index}", "tracking_uri": "sqlite:///bench/mlflow.db",
        })
    return rows


@contextmanager
def databases(backend: str, names: list[str], folder: Path) -> Iterator[list[str]]:
    """Fresh database URLs, one per name; PostgreSQL databases are dropped afterwards."""
    if backend == "sqlite":
        yield [f"sqlite:///{folder / f'{name}.db'}" for name in names]
        return
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(os.environ["ARENA_TEST_PG_URL"])
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    created = [f"arena_bench_{name}_{uuid.uuid4().hex[:8]}" for name in names]
    with psycopg.connect(admin, autocommit=True) as connection:
        for name in created:
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield [server.set(database=name).render_as_string(hide_password=False) for name in created]
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            for name in created:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def mlflow_store(folder: Path, count: int, templates: int = 20) -> str:
    """An MLflow SQLite store with `count` finished arena runs: a few logged by the client, cloned in SQL."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("arena", artifact_location=(folder / "artifacts").as_uri())
    rng = random.Random(1)
    template_ids = []
    for index in range(templates):
        model, family, gflops = ZOO[index % len(ZOO)]
        run = client.create_run(experiment, run_name=f"{model}-t{index}", tags={
            "arena.model": model, "arena.family": family, "arena.dataset": "digits", "arena.kind": "train"})
        now = int(time.time() * 1000)
        metrics = [Metric(key, rng.uniform(1, 90), now, epoch) for epoch in (1, 2, 3)
                   for key in ("val_top1_error", "val_top5_error", "train_loss", "val_loss", "images_per_second", "lr")]
        params = {"model": model, "data.dataset": "digits", "data.image_size": "32", "train.epochs": "3",
                  "train.batch_size": "64", "train.optimizer.name": "sgd", "train.optimizer.lr": "0.1",
                  "resources.workers": "2", "resources.gpus_per_worker": "0", "model.params": "1000000",
                  "model.gflops": str(gflops)}
        client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
        client.set_terminated(run.info.run_id, "FINISHED")
        template_ids.append(run.info.run_id)
    _clone_runs(folder / "mlflow.db", template_ids, count - templates, rng)
    return uri


def _clone_runs(path: Path, template_ids: list[str], count: int, rng: random.Random) -> None:
    """Copy template runs (with their tags, params and metrics) under new ids and end times, in SQL."""
    connection = sqlite3.connect(path)
    tables = ("runs", "tags", "params", "metrics", "latest_metrics")
    columns = {table: [row[1] for row in connection.execute(f"PRAGMA table_info({table})")] for table in tables}
    rows = {table: {tid: connection.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (tid,)).fetchall()
                    for tid in template_ids} for table in tables}
    month_ago = int(time.time() * 1000) - 30 * 86_400_000
    batches: dict[str, list[tuple]] = {table: [] for table in tables}
    for index in range(count):
        template = template_ids[index % len(template_ids)]
        new_id = uuid.uuid4().hex
        ended = month_ago + index * (30 * 86_400_000 // max(count, 1))
        for table in tables:
            names = columns[table]
            for row in rows[table][template]:
                values = dict(zip(names, row, strict=True))
                values["run_uuid"] = new_id
                if table == "runs":
                    values.update(name=f"{values['name']}-{index}", start_time=ended - 3_600_000, end_time=ended)
                if table in ("metrics", "latest_metrics") and values["key"].startswith("val_"):
                    values["value"] = rng.uniform(1, 90)
                batches[table].append(tuple(values[name] for name in names))
    with connection:
        for table in tables:
            marks = ", ".join("?" for _ in columns[table])
            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", batches[table])
    connection.close()


def progress(message: str) -> None:
    """A line on stderr, so stdout holds the markdown alone."""
    print(message, file=sys.stderr, flush=True)


def timed_ms(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of `action` in milliseconds, after one warm-up call."""
    action()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def fill(store: Store, rows: list[dict], drop_indexes: bool) -> None:
    """Insert the rows as a sync writes them (optionally without the view indexes).

    PostgreSQL then gets VACUUM ANALYZE, which its autovacuum runs by itself after a bulk insert.
    SQLite never gathers statistics on its own and arena does not ask it to, so it gets none: the
    plans measured are the ones a user's database gets.
    """
    with store.writing() as connection:
        if drop_indexes:
            for index in VIEW_INDEXES:
                connection.execute(text(f"DROP INDEX {index}"))
        upsert(connection, MeasuredResult, rows, ("run_id",), [])
        remember_default_dataset(connection)  # what a sync does after writing
    if store.dialect == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


def label(view: str, options: dict) -> str:
    """`pareto family=resnet`, say; the runs view's default page spelled out."""
    shown = dict(options)
    if view == "runs" and "limit" not in shown:
        shown = {"limit": f"{RUNS_PAGE} (default)", **shown}
    return " ".join([view, *(f"{key}={value}" for key, value in shown.items())])


def bench_views(backend: str, count: int, repeat: int, folder: Path) -> list[str]:
    """Each view with the indexes against the same view without them; markdown table rows."""
    rows = fake_rows(count)
    lines = []
    with databases(backend, ["views", "views_noindex"], folder) as (indexed_url, baseline_url):
        indexed, baseline = open_store(indexed_url), open_store(baseline_url)
        fill(indexed, rows, drop_indexes=False)
        fill(baseline, rows, drop_indexes=True)
        for view, options in [*VIEW_CASES, ALL_RUNS]:
            calls = repeat if (view, options) != ALL_RUNS else 3
            ours = timed_ms(lambda: show(indexed, view, **options), calls)
            theirs = timed_ms(lambda: show(baseline, view, **options), max(3, calls // 3))
            returned = len(show(indexed, view, **options))
            verdict = "n/a (every row)" if (view, options) == ALL_RUNS else "ok" if ours <= GOAL_VIEW_MS else "**over**"
            lines.append(f"| {backend} | {label(view, options)} | {returned:,} | {ours:.1f} | {theirs:.1f} | "
                         f"{theirs / ours:.1f}x | {ours / GOAL_VIEW_MS:.2f} | {verdict} |")
            progress(f"[{backend}] {label(view, options)}: {ours:.1f} ms (no indexes {theirs:.1f} ms)")
        indexed.close()
        baseline.close()
    return lines


def mlflow_search_read(tracking_uri: str) -> int:
    """The baseline: every FINISHED run through MlflowClient.search_runs, page by page, as a script would."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    read, token = 0, None
    while True:
        page = client.search_runs(experiments, "attributes.status = 'FINISHED'", ViewType.ACTIVE_ONLY,
                                  max_results=1000, page_token=token)
        read += len(page)
        token = page.token
        if not token:
            return read


def seconds(action: Callable[[], object]) -> tuple[float, object]:
    """Wall seconds of one call, and what it returned."""
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def bench_sync(backends: list[str], tracking_uri: str, repeat: int, folder: Path) -> list[str]:
    """Per repeat: the plain MLflow read, then per backend a first sync, a re-sync and a full re-sync."""
    samples: dict[tuple[str, str], list[float]] = {}
    reports: dict[tuple[str, str], object] = {}
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).search_runs(["0", "1"], max_results=1)  # open MLflow's store for both
    for attempt in range(repeat):
        baseline_s, read = seconds(lambda: mlflow_search_read(tracking_uri))
        samples.setdefault(("", "baseline"), []).append(baseline_s)
        gc.disable()
        paused_s, _ = seconds(lambda: mlflow_search_read(tracking_uri))
        gc.enable()
        samples.setdefault(("", "paused"), []).append(paused_s)
        progress(f"repeat {attempt + 1}: MLflow search_runs read {read:,} runs in {baseline_s:.1f} s "
                 f"({paused_s:.1f} s with the GC paused)")
        for backend in backends:
            with databases(backend, [f"sync{attempt}"], folder) as (url,), open_store(url) as store:
                for measure, options in (("first", {}), ("again", {}), ("full", {"full": True})):
                    took, report = seconds(lambda: sync_runs(store, tracking_uri, refresh_zoo=False, **options))
                    samples.setdefault((backend, measure), []).append(took)
                    reports[(backend, measure)] = report
                    progress(f"repeat {attempt + 1}: [{backend}] {measure} sync {took:.2f} s, {report}")
    baseline = statistics.median(samples[("", "baseline")])
    measures = {
        "first": "first sync (every run, empty leaderboard)",
        "again": "re-sync, nothing new (incremental)",
        "full": "re-sync with full=True, nothing changed",
    }
    lines = []
    for backend in backends:
        for measure, name in measures.items():
            ours = statistics.median(samples[(backend, measure)])
            report = reports[(backend, measure)]
            goal = ("ok" if ours <= GOAL_SYNC_S else "**over**") if measure == "first" else ""
            lines.append(f"| {backend} | {name} | {report.added:,} / {report.updated:,} / {report.skipped:,} | "
                         f"{ours:.2f} | {baseline:.2f} | {ours / baseline:.2f} | {goal} |")
    paused = statistics.median(samples[("", "paused")])
    lines += ["", f"The sync reads through MLflow too, in pages of 10,000 with Python's cyclic garbage collector "
              f"paused; that is why it takes less time than the plain read, its baseline. The same plain read with "
              f"the collector paused took {paused:.2f} s (median of {repeat}): the rest of a sync's time is turning "
              f"runs into rows, comparing them with the stored ones and writing."]
    return lines


def main() -> None:
    """Run the benchmarks on SQLite, then PostgreSQL when ARENA_TEST_PG_URL is set; print markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="measured rows for the view benchmark")
    parser.add_argument("--runs", type=int, default=10_000, help="MLflow runs for the sync benchmark")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per view (the median is shown)")
    parser.add_argument("--sync-repeat", type=int, default=3, help="syncs per measure (the median is shown)")
    parser.add_argument("--only", choices=("views", "sync"), help="run one half of the benchmark")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still drops the PostgreSQL databases
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("ARENA_TEST_PG_URL") else [])
    sections = []
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as scratch:
        folder = Path(scratch)
        if args.only != "sync":
            lines = [line for backend in backends for line in bench_views(backend, args.rows, args.repeat, folder)]
            sections.append("\n".join([
                f"### Views at {args.rows:,} measured rows (median of {args.repeat} calls; goal <= {GOAL_VIEW_MS:.0f} ms)\n",
                "| backend | view | rows | arena ms | baseline ms (same query, no view indexes) | speed-up "
                "| arena / goal | goal |",
                "|---|---|---|---|---|---|---|---|",
                *lines,
            ]))
        if args.only != "views":
            built_s, _ = seconds(lambda: mlflow_store(folder, args.runs))
            progress(f"MLflow store with {args.runs:,} runs built in {built_s:.1f} s")
            tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
            lines = bench_sync(backends, tracking_uri, args.sync_repeat, folder)
            sections.append("\n".join([
                f"### Sync of {args.runs:,} MLflow runs from an SQLite tracking store (median of {args.sync_repeat}; "
                f"goal <= {GOAL_SYNC_S:.0f} s for the first sync)\n",
                "| backend | measure | added / updated / skipped | arena s | baseline s (MLflow search_runs read "
                "of the same runs) | arena / baseline | goal |",
                "|---|---|---|---|---|---|---|",
                *lines,
            ]))
    print(f"## Leaderboard ({' and '.join(backends)})\n")
    print("\n\n".join(sections))
    pg = "ARENA_TEST_PG_URL=postgresql+psycopg://USER@HOST:PORT/DB " if "postgresql" in backends else ""
    only = f" --only {args.only}" if args.only else ""
    print(f"\nReproduce: `{pg}.venv/bin/python benchmarks/leaderboard.py --rows {args.rows} --runs {args.runs} "
          f"--repeat {args.repeat} --sync-repeat {args.sync_repeat}{only}`")


if __name__ == "__main__":
    main()
