"""The queries the dashboard draws its charts from, beyond the views: filter choices and points on the error-vs-cost plane.

Paper points come from the zoo's architectures (their papers' figures, or the reference data's
ImageNet-val top-1 where it names the architecture); measured points are the best run of each model
measured on val (a search trial's error on its holdout is never set beside them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, func, select, union

from arena.leaderboard.schema import Architecture, MeasuredResult, ReferenceResult
from arena.leaderboard.store import Store
from arena.leaderboard.views import default_dataset, ranked_on_val

PAPER_DATASET = "imagenet-val"  # the papers' single-model figures
M = MeasuredResult


def filter_choices(store: Store) -> dict[str, Any]:
    """The datasets and families one can filter by, and the dataset shown when none is asked for."""
    with store.reading() as connection:
        datasets = list(connection.scalars(select(M.dataset).distinct().order_by(M.dataset)))
        families = union(select(Architecture.family), select(M.family).where(M.family.is_not(None)))
        family_names = sorted(connection.scalars(select(families.subquery().c[0]).distinct()))
        default = default_dataset(connection)
    if default not in datasets:
        datasets = sorted([*datasets, default])
    return {"datasets": datasets, "families": family_names, "default_dataset": default}


def paper_points(store: Store, family: str | None = None) -> list[dict[str, Any]]:
    """Every architecture with a paper top-1 error and a cost: name, family, year, params, gflops, error, source."""
    R = ReferenceResult
    reference = (
        select(R.architecture, func.min(R.value).label("top1"), func.min(R.source).label("source"))
        .where(R.dataset == PAPER_DATASET, R.metric == "top1_error", R.extra_data.is_(False), R.architecture.is_not(None))
        .group_by(R.architecture)
        .subquery()
    )
    A = Architecture
    top1 = func.coalesce(reference.c.top1, A.paper_top1_error)
    query = (
        select(A.name, A.family, A.year, A.params, A.gflops, top1.label("paper_top1_error"),
               A.paper_top5_error, reference.c.source)
        .outerjoin(reference, reference.c.architecture == A.name)
        .where(top1.is_not(None), A.gflops.is_not(None))
        .order_by(A.gflops, A.name)
    )
    if family:
        query = query.where(A.family == family)
    with store.reading() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def measured_points(store: Store, dataset: str, family: str | None = None) -> list[dict[str, Any]]:
    """The lowest-top-1 run measured on val of each model on `dataset` that has a cost: model, family, errors, params, gflops, run."""
    scope = [M.dataset == dataset, ranked_on_val(), M.top1_error.is_not(None), M.gflops.is_not(None)]
    scope += [M.family == family] if family else []
    best = select(M.model, func.min(M.top1_error).label("top1")).where(*scope).group_by(M.model).subquery()
    query = (
        select(M.model, M.family, M.kind, M.top1_error.label("measured_top1_error"),
               M.top5_error.label("measured_top5_error"), M.params, M.gflops, M.epochs, M.run_id, M.experiment)
        .join(best, and_(M.model == best.c.model, M.top1_error == best.c.top1))
        .where(*scope)
        .order_by(M.gflops, M.model, M.id)
    )
    with store.reading() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    seen: set[str] = set()
    return [row for row in rows if not (row["model"] in seen or seen.add(row["model"]))]  # ties: first run only


def run_experiments(store: Store, run_ids: Iterable[str]) -> dict[str, str]:
    """The MLflow experiment name each measured run was read from."""
    ids = sorted({run_id for run_id in run_ids if run_id})
    found: dict[str, str] = {}
    with store.reading() as connection:
        for start in range(0, len(ids), 500):
            query = select(M.run_id, M.experiment).where(M.run_id.in_(ids[start : start + 500]))
            found.update({run_id: experiment for run_id, experiment in connection.execute(query) if experiment})
    return found
