"""Shared helpers for the leaderboard tests: a database per test (SQLite or PostgreSQL) and MLflow runs."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


def postgres_server_url() -> str:
    """ARENA_TEST_PG_URL; skip when unset, but fail under CI=true, where PostgreSQL must be there."""
    url = os.environ.get("ARENA_TEST_PG_URL")
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but ARENA_TEST_PG_URL is not set: start a server with infra/local/postgres.sh start DIR PORT")
    pytest.skip("PostgreSQL tests need ARENA_TEST_PG_URL (start a server with infra/local/postgres.sh start DIR PORT)")


def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL for one test; a PostgreSQL database is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'leaderboard.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(postgres_server_url())
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"arena_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def log_run(
    client,  # noqa: ANN001 - an MlflowClient
    experiment_id: str,
    name: str,
    *,
    model: str,
    family: str,
    dataset: str = "digits",
    kind: str = "train",
    top1: Sequence[float] = (60.0, 40.0),
    top5: Sequence[float] | None = None,
    gflops: float = 1.0,
    params: int = 1_000_000,
    gpus_per_worker: int = 0,
    end_ms: int | None = None,
    extra_tags: dict[str, str] | None = None,
    extra_params: dict[str, str] | None = None,
) -> str:
    """Create a FINISHED run the way arena's training logs one (docs/mlflow.md); return its id."""
    from mlflow.entities import Metric, Param

    tags = {"arena.model": model, "arena.family": family, "arena.dataset": dataset, "arena.kind": kind, **(extra_tags or {})}
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    run_id = run.info.run_id
    spec = {
        "model": model, "data.dataset": dataset, "data.image_size": "32", "train.epochs": str(len(top1)),
        "train.optimizer.lr": "0.1", "resources.workers": "2", "resources.gpus_per_worker": str(gpus_per_worker),
        "model.params": str(params), "model.gflops": str(gflops), **(extra_params or {}),
    }
    now = int(time.time() * 1000)
    metrics = []
    top5 = top5 or [value / 4 for value in top1]
    for epoch, (error1, error5) in enumerate(zip(top1, top5, strict=True), start=1):
        metrics += [
            Metric("val_top1_error", error1, now, epoch), Metric("val_top5_error", error5, now, epoch),
            Metric("train_loss", 1.0 / epoch, now, epoch), Metric("val_loss", 1.2 / epoch, now, epoch),
            Metric("images_per_second", 100.0 + epoch, now, epoch), Metric("lr", 0.1, now, epoch),
        ]
    client.log_batch(run_id, metrics=metrics, params=[Param(key, value) for key, value in spec.items()])
    client.set_terminated(run_id, status="FINISHED", end_time=end_ms)
    return run_id


def tracking_store(path: Path):  # noqa: ANN201 - returns (uri, MlflowClient, experiment id)
    """A fresh SQLite MLflow store with the `arena` experiment."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("arena", artifact_location=(path / "artifacts").as_uri())
    return uri, client, experiment_id
