"""Real trained runs for tests, made without Ray: a TrainingSession on digits, logged to MLflow as a Ray run logs it."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arena.data.layout import dataset_identity
from arena.settings import Settings
from arena.spec import JobSpec, parse_spec, spec_to_yaml
from arena.tracking import run_log
from arena.tracking.client import client_for
from arena.training.checkpoint import Checkpoint
from arena.training.launcher import run_params, run_tags
from arena.training.session import build_session


def digits_spec(model: str = "resnet18", *, name: str | None = None, epochs: int = 2, **train: Any) -> JobSpec:
    """A small, quick digits job: 16 px, no augmentation, AdamW."""
    return parse_spec({
        "name": name or f"{model}-digits",
        "model": model,
        "data": {"dataset": "digits", "image_size": 16, "augment": {"random_resized_crop": False, "hflip": False}},
        "train": {
            "epochs": epochs, "batch_size": 64, "optimizer": {"name": "adamw", "lr": 0.003, "weight_decay": 0.0},
            "schedule": {"name": "constant"}, **train,
        },
    })


def train_and_record(settings: Settings, spec: JobSpec) -> str:
    """Train `spec` in this process and leave in MLflow what a finished Ray Train run leaves; return its id."""
    session = build_session(spec, home=settings.home)
    while session.epoch < spec.train.epochs:
        session.run_epoch()
    return record_checkpoint(settings, spec, session.to_checkpoint(), history=session.history)


def record_checkpoint(
    settings: Settings,
    spec: JobSpec,
    checkpoint: Checkpoint | None,
    *,
    history: Sequence[dict[str, float]] = (),
    tags: dict[str, str] | None = None,
) -> str:
    """A FINISHED train run of `spec` holding `checkpoint` (None: no checkpoint artifact)."""
    uri = settings.tracking_uri
    run_id = run_log.start_run(
        uri, settings.artifact_root, experiment=spec.experiment, run_name=spec.name,
        tags={**run_tags(spec, "train", dataset=dataset_identity(spec.data), home=settings.home), **(tags or {})},
        params=run_params(spec, home=settings.home),
    )
    run_log.log_epochs(uri, run_id, history)
    run_log.log_text(uri, run_id, spec_to_yaml(spec), "spec.yaml")
    if checkpoint is not None:
        with tempfile.TemporaryDirectory() as folder:
            checkpoint.save(Path(folder))
            run_log.log_artifacts(uri, run_id, Path(folder), "checkpoint")
    run_log.set_status(uri, run_id, "FINISHED")
    return run_id


def all_run_ids(settings: Settings) -> set[str]:
    """Every run id in the tracking store, in every experiment."""
    client = client_for(settings.tracking_uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    return {run.info.run_id for run in client.search_runs(experiments, max_results=10_000)} if experiments else set()
