"""The checks a job passes before anything starts: spec, model, data, resources, and the cluster's nodes.

`arena train`, the searches and `arena submit` call these; each raises every problem it finds
together, as one SpecError.
"""

from __future__ import annotations

from collections.abc import Sequence

from arena import models
from arena.data.layout import check_data
from arena.errors import ArenaError, SpecError
from arena.settings import Settings
from arena.spec import JobSpec


def check_job(spec: JobSpec, settings: Settings) -> None:
    """Find every problem a job has before anything starts; raise them together as one SpecError."""
    problems: list[str] = []
    info = None
    try:
        info = models.get_model_info(spec.model, settings.home)
    except ArenaError as error:  # unknown, or a saved scaled:/nas: model that is corrupt
        problems.append(f"model: {error}")
    if settings.ray_address is None:
        # On a cluster the data is read on the worker hosts, not where the driver runs (often a
        # head without the dataset): `cluster_checks` looks for it there once Ray is reached.
        problems += check_data(spec.data, home=settings.home)
    if info is not None and spec.data.image_size is not None and spec.data.image_size < info.input.min_input:
        problems.append(
            f"data.image_size: {spec.data.image_size} is below {spec.model}'s smallest input "
            f"({info.input.min_input} px)"
        )
    holders = spec.resources.workers * spec.train.accumulation_steps
    if spec.train.batch_size < holders:
        problems.append(
            f"train.batch_size: {spec.train.batch_size} is smaller than resources.workers x "
            f"train.accumulation_steps ({holders}); each micro-batch needs at least one image"
        )
    if spec.train.precision == "fp16" and spec.resources.gpus_per_worker == 0:
        problems.append("train.precision: fp16 needs GPUs (resources.gpus_per_worker >= 1); use bf16 or fp32 on CPU")
    if problems:
        raise SpecError(problems)


def check_on_nodes(spec: JobSpec, settings: Settings) -> None:
    """On a cluster: the data on the worker hosts, shared storage, the tracking server from every host."""
    from arena.training.cluster_checks import check_cluster

    problems = check_cluster(spec, settings, resources=False).problems
    if problems:
        raise SpecError(problems)


def check_jobs(specs: Sequence[JobSpec], settings: Settings) -> None:
    """Check every job; raise all their problems together, each prefixed by its job's name."""
    if len(specs) == 1:
        check_job(specs[0], settings)
        return
    problems: list[str] = []
    for spec in specs:
        try:
            check_job(spec, settings)
        except SpecError as error:
            problems += [f"{spec.name}: {problem}" for problem in error.problems]
    if problems:
        raise SpecError(problems, source="job specs")
