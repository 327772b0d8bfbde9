"""What the driver imports while Ray starts: torch only when it drives a worker group or is the trial itself."""

from __future__ import annotations

from arena.spec import parse_spec
from arena.training import ray_driver


def job(**resources: object) -> object:
    return parse_spec({"name": "j", "model": "resnet18", "data": {"dataset": "synthetic", "image_size": 16},
                       "train": {"epochs": 1, "batch_size": 4}, "resources": {"workers": 1, **resources}})


def test_jobs_in_lanes_leave_torch_to_the_lanes() -> None:
    lane = job(cpus_per_worker=1)
    assert ray_driver.driver_modules([lane, lane]) == ("arena.tracking.run_log",)


def test_a_worker_group_or_a_trial_needs_torch_in_the_driver() -> None:
    group, pair, lane = job(local_mode=False), job(workers=2), job()
    assert "ray.train.torch" in ray_driver.driver_modules([lane, group])
    assert "ray.train.torch" in ray_driver.driver_modules([pair])
    assert "ray.train.torch" in ray_driver.driver_modules([lane], in_trial=True)
