"""Benchmark the leaderboard: each view at 100k measured rows, and a sync of 10k MLflow runs.

Each figure is printed beside a baseline measured in the same run, as a ratio:
  views: the same queries on a copy of the database without the view indexes;
  sync:  a naive sync that writes run by run (one SELECT and one INSERT/UPDATE transaction per run).
Runs on SQLite, and on PostgreSQL too when ARENA_TEST_PG_URL is set (a server URL; the benchmark
creates and drops its own databases there).

    python benchmarks/leaderboard.py [--rows 100000] [--runs 10000] [--repeat 15] [--only views|sync]
"""

from __future__ import annotations

import argparse
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

from sqlalchemy import select, text  # noqa: E402

from arena.leaderboard import open_store, show, sync_runs  # noqa: E402
from arena.leaderboard.reference import upsert  # noqa: E402
from arena.leaderboard.schema import MeasuredResult  # noqa: E402
from arena.leaderboard.store import Store  # noqa: E402
from arena.leaderboard.sync import measured_row, remember_default_dataset  # noqa: E402
from arena.tracking.query import list_finished_runs  # noqa: E402

VIEW_INDEXES = ("ix_measured_dataset_model_top1", "ix_measured_dataset_family_top1", "ix_measured_dataset_gflops_top1",
                "ix_measured_finished")
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


def fake_rows(count: int, seed: int = 0) -> list[dict]:
    """`count` plausible measured_results rows over the zoo, three datasets and a year of runs."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for index in range(count):
        model, family, gflops = rng.choice(ZOO)
        image_size = rng.choice((32, 64, 128, 224))
        finished = start + timedelta(minutes=index * 5)
        rows.append({
            "run_id": uuid.UUID(int=rng.getrandbits(128)).hex, "model": model, "family": family,
            "dataset": rng.choices([name for name, _ in DATASETS], [weight for _, weight in DATASETS])[0],
            "kind": rng.choice(("train", "train", "scaling-trial", "nas-trial")), "image_size": image_size,
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
    """Insert the rows in bulk (optionally without the view indexes), then refresh planner statistics."""
    with store.writing() as connection:
        if drop_indexes:
            for index in VIEW_INDEXES:
                connection.execute(text(f"DROP INDEX {index}"))
        upsert(connection, MeasuredResult, rows, ("run_id",), [])
        remember_default_dataset(connection)  # what a sync does after writing
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))


def bench_views(backend: str, count: int, repeat: int, folder: Path) -> None:
    """Each view with the indexes against the same view without them."""
    rows = fake_rows(count)
    with databases(backend, ["views", "views_noindex"], folder) as (indexed_url, baseline_url):
        indexed, baseline = open_store(indexed_url), open_store(baseline_url)
        fill(indexed, rows, drop_indexes=False)
        fill(baseline, rows, drop_indexes=True)
        cases = [
            ("ilsvrc", {}), ("family", {}), ("pareto", {}), ("ilsvrc", {"dataset": "synthetic", "family": "resnet"}),
            ("family", {"dataset": "imagefolder"}), ("runs", {"limit": 100}), ("runs", {}),
        ]
        print(f"\n[{backend}] views at {count:,} measured rows (median of {repeat}; goal <= {GOAL_VIEW_MS:.0f} ms)")
        print(f"  {'view':<44} {'indexed ms':>10} {'no-index ms':>12} {'speed-up':>9}  rows  goal")
        for view, options in cases:
            ours = timed_ms(lambda: show(indexed, view, **options), repeat)
            theirs = timed_ms(lambda: show(baseline, view, **options), max(3, repeat // 3))
            label = view + ("" if not options else " " + " ".join(f"{k}={v}" for k, v in options.items()))
            returned = len(show(indexed, view, **options))
            verdict = "ok" if ours <= GOAL_VIEW_MS else "over"
            print(f"  {label:<44} {ours:>10.1f} {theirs:>12.1f} {theirs / ours:>8.1f}x {returned:>5}  {verdict}")
        indexed.close()
        baseline.close()


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


def naive_sync(store: Store, tracking_uri: str) -> int:
    """The baseline: read every run, then one transaction per run (look it up, insert or update)."""
    written = 0
    for record in list_finished_runs(tracking_uri, None):
        row = measured_row(record, tracking_uri)
        if row is None:
            continue
        with store.writing() as connection:
            exists = connection.scalar(select(MeasuredResult.id).where(MeasuredResult.run_id == row["run_id"]))
            if exists is None:
                connection.execute(MeasuredResult.__table__.insert().values(**row))
            else:
                connection.execute(MeasuredResult.__table__.update().where(MeasuredResult.id == exists).values(**row))
            written += 1
    return written


def bench_sync(backend: str, tracking_uri: str, count: int, folder: Path) -> None:
    """A full first sync, an incremental re-sync and the naive sync, each of `count` runs."""
    with databases(backend, ["sync", "sync_naive"], folder) as (ours_url, naive_url):
        ours, naive = open_store(ours_url), open_store(naive_url)
        began = time.perf_counter()
        first = sync_runs(ours, tracking_uri, refresh_zoo=False)
        first_s = time.perf_counter() - began
        began = time.perf_counter()
        again = sync_runs(ours, tracking_uri, refresh_zoo=False)
        again_s = time.perf_counter() - began
        began = time.perf_counter()
        written = naive_sync(naive, tracking_uri)
        naive_s = time.perf_counter() - began
        ours.close()
        naive.close()
    print(f"\n[{backend}] sync of {count:,} MLflow runs (goal <= {GOAL_SYNC_S:.0f} s)")
    print(f"  first sync (all runs):    {first_s:7.2f} s  added={first.added} updated={first.updated} "
          f"skipped={first.skipped}  {'ok' if first_s <= GOAL_SYNC_S else 'over'}")
    print(f"  re-sync (incremental):    {again_s:7.2f} s  added={again.added} updated={again.updated} "
          f"skipped={again.skipped}")
    print(f"  naive row-by-row sync:    {naive_s:7.2f} s  written={written}   ours is {naive_s / first_s:.1f}x faster")


def main() -> None:
    """Run the benchmarks on SQLite, then PostgreSQL when ARENA_TEST_PG_URL is set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="measured rows for the view benchmark")
    parser.add_argument("--runs", type=int, default=10_000, help="MLflow runs for the sync benchmark")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per view")
    parser.add_argument("--only", choices=("views", "sync"), help="run one half of the benchmark")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still drops the PostgreSQL databases
    backends = ["sqlite"] + (["postgresql"] if os.environ.get("ARENA_TEST_PG_URL") else [])
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as scratch:
        folder = Path(scratch)
        for backend in backends if args.only != "sync" else []:
            bench_views(backend, args.rows, args.repeat, folder)
        if args.only == "views":
            return
        began = time.perf_counter()
        tracking_uri = mlflow_store(folder, args.runs)
        print(f"\n(MLflow store with {args.runs:,} runs built in {time.perf_counter() - began:.1f} s)")
        began = time.perf_counter()
        read = list_finished_runs(tracking_uri, None)
        print(f"(reading them back from MLflow alone: {time.perf_counter() - began:.2f} s for {len(read):,} runs)")
        for backend in backends:
            bench_sync(backend, tracking_uri, args.runs, folder)


if __name__ == "__main__":
    main()
