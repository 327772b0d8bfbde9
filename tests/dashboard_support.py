"""Shared data for the dashboard tests: a small MLflow history (runs, a scaling search, a NAS) synced into a store."""

from __future__ import annotations

import time
from pathlib import Path

from leaderboard_support import log_run, tracking_store

# A few zoo architectures with their paper facts, written directly so the tests need not import torch.
ARCHITECTURES = [
    {"name": "alexnet", "family": "alexnet", "year": 2012, "params": 61_100_840, "gflops": 0.71, "resolution": 224,
     "paper_top1_error": 40.7, "paper_top5_error": 18.2},
    {"name": "vgg16", "family": "vgg", "year": 2014, "params": 138_357_544, "gflops": 15.47, "resolution": 224,
     "paper_top1_error": 24.4, "paper_top5_error": 7.2},
    {"name": "googlenet", "family": "inception", "year": 2014, "params": 6_624_904, "gflops": 1.5, "resolution": 224,
     "paper_top1_error": 30.2, "paper_top5_error": 10.1},
    {"name": "resnet50", "family": "resnet", "year": 2015, "params": 25_557_032, "gflops": 4.09, "resolution": 224,
     "paper_top1_error": 23.9, "paper_top5_error": 7.1},
    {"name": "resnet152", "family": "resnet", "year": 2015, "params": 60_192_808, "gflops": 11.51, "resolution": 224,
     "paper_top1_error": 21.4, "paper_top5_error": 5.7},
    {"name": "efficientnet_b0", "family": "efficientnet", "year": 2019, "params": 5_288_548, "gflops": 0.39,
     "resolution": 224, "paper_top1_error": None, "paper_top5_error": None},
    {"name": "efficientnet_b7", "family": "efficientnet", "year": 2019, "params": 66_347_960, "gflops": 37.75,
     "resolution": 600, "paper_top1_error": None, "paper_top5_error": None},
]

# name -> (model, family, top-1 per epoch, gflops, params)
RUNS = {
    "alexnet-digits": ("alexnet", "alexnet", (60.0, 31.0), 0.71, 61_100_840),
    "vgg16-digits": ("vgg16", "vgg", (50.0, 18.0), 15.47, 138_357_544),
    "googlenet-digits": ("googlenet", "inception", (40.0, 12.0), 1.5, 6_624_904),
    "resnet50-digits": ("resnet50", "resnet", (30.0, 8.0), 4.09, 25_557_032),
}
# Runs on the full ILSVRC-2012 set: the only ones the ILSVRC table sets beside the papers.
IMAGENET_RUNS = {
    "alexnet-imagenet": ("alexnet", "alexnet", (70.0, 43.0), 0.71, 61_100_840),
    "resnet50-imagenet": ("resnet50", "resnet", (40.0, 24.0), 4.09, 25_557_032),
}


def build_history(folder: Path) -> dict:
    """An MLflow store with four trained runs, a compound-scaling search and a NAS; return uri, client and ids."""
    uri, client, experiment = tracking_store(folder)
    ids = {}
    for name, (model, family, top1, gflops, params) in RUNS.items():
        ids[name] = log_run(client, experiment, name, model=model, family=family, top1=top1, gflops=gflops, params=params)
    for name, (model, family, top1, gflops, params) in IMAGENET_RUNS.items():
        ids[name] = log_run(client, experiment, name, model=model, family=family, dataset="imagenet-1k", top1=top1,
                            gflops=gflops, params=params)
    ids["scaling"] = _scaling_search(client, experiment)
    ids["nas"] = _nas_search(client, experiment)
    return {"uri": uri, "client": client, "experiment": experiment, "ids": ids}


def _scaling_search(client, experiment: str) -> str:  # noqa: ANN001 - an MlflowClient
    """A finished `scaling-search` parent with three trials and its family's GFLOPs per phi; phi = 1 was trained."""
    from mlflow.entities import Metric

    tags = {"arena.kind": "scaling-search", "arena.model": "efficientnet_b0", "arena.family": "efficientnet",
            "arena.dataset": "digits"}
    parent = client.create_run(experiment, run_name="demo-scaling", tags=tags).info.run_id
    for index, (gflops, top1) in enumerate([(0.78, 14.0), (0.80, 11.0), (0.76, 16.0)]):
        run = log_run(client, experiment, f"demo-scaling-t{index}", model=f"scaled:demo-scaling-t{index}-phi1",
                      family="efficientnet", kind="scaling-trial", top1=(40.0, top1), gflops=gflops,
                      extra_params={"data.holdout": "360"})  # ranked on images held out of train, as searches are
        client.set_tag(run, "mlflow.parentRunId", parent)
    now = int(time.time() * 1000)
    series = [Metric("family_gflops", value, now, phi) for phi, value in [(1, 0.80), (2, 1.6), (3, 3.2)]]
    series += [Metric(key, value, now, 0) for key, value in [("alpha", 1.2), ("beta", 1.1), ("gamma", 1.15)]]
    client.log_batch(parent, metrics=series)
    client.set_terminated(parent, status="FINISHED")
    log_run(client, experiment, "demo-scaling-phi1", model="scaled:demo-scaling-phi1", family="efficientnet",
            top1=(30.0, 10.5), gflops=0.80)
    return parent


def _nas_search(client, experiment: str) -> str:  # noqa: ANN001 - an MlflowClient
    """A finished `nas-search` parent with five trials logging `reward`."""
    tags = {"arena.kind": "nas-search", "arena.family": "nas", "arena.dataset": "digits"}
    parent = client.create_run(experiment, run_name="demo-nas", tags=tags).info.run_id
    for index, reward in enumerate([0.52, 0.61, 0.58, 0.70, 0.69]):
        run = log_run(client, experiment, f"demo-nas-t{index}", model=f"nas:demo-{index}", family="nas",
                      kind="nas-trial", top1=(50.0, 100 * (1 - reward)), gflops=0.1 + index / 100,
                      extra_tags={"arena.measured_on": "holdout"})
        client.log_metric(run, "reward", reward)
        client.set_tag(run, "mlflow.parentRunId", parent)
    client.set_terminated(parent, status="FINISHED")
    return parent


def fill_store(store, tracking_uri: str) -> None:  # noqa: ANN001 - a leaderboard Store
    """Write the test architectures and sync the MLflow history into the store."""
    from arena.leaderboard import sync_runs
    from arena.leaderboard.reference import upsert
    from arena.leaderboard.schema import Architecture

    with store.writing() as connection:
        upsert(connection, Architecture, ARCHITECTURES, ("name",), [key for key in ARCHITECTURES[0] if key != "name"])
    sync_runs(store, tracking_uri, refresh_zoo=False)
