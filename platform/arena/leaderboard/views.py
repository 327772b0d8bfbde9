"""The leaderboard's views: each a parameterised query returning plain dicts with the field names docs/leaderboard.md lists.

Measured figures always carry a `measured_` prefix and paper figures a `paper_` prefix, so the two
never share a column. The ranking views (ilsvrc, family, pareto) rank only runs measured on val/;
a search trial's error on images held out of train is listed by `runs`, with `measured_on` saying so. Best-run lookups are index seeks (ORDER BY top1_error LIMIT 1 per model or
family) rather than window functions over every measured row.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import Connection, Float, Integer, Select, case, cast, func, literal, null, or_, select

from arena import kinds
from arena.errors import ArenaError, UnknownNameError
from arena.leaderboard.schema import Architecture, LeaderboardState, MeasuredResult, ReferenceResult
from arena.leaderboard.store import Store

DEFAULT_DATASET = "digits"
DEFAULT_DATASET_KEY = "default_dataset"  # leaderboard_state row that sync keeps current
CHALLENGE_DATASET = "imagenet-test"  # the reference rows holding ILSVRC entries' test-set figures
PAIRED_DATASET = "imagenet-1k"
"""The only dataset whose runs the ilsvrc view sets beside the papers: the full ILSVRC-2012 set."""

COLUMNS: dict[str, list[str]] = {
    "ilsvrc": ["year", "team", "entry", "architecture", "place", "paper_top5_error", "measured_model",
               "measured_top1_error", "measured_top5_error", "dataset", "run_id"],
    "family": ["family", "model", "measured_top1_error", "measured_top5_error", "params", "gflops",
               "images_per_second", "epochs", "runs", "dataset", "run_id"],
    "pareto": ["model", "family", "measured_top1_error", "measured_top5_error", "gflops", "params",
               "images_per_second", "epochs", "dataset", "run_id"],
    "runs": ["run_id", "run_name", "model", "family", "dataset", "kind", "measured_on", "image_size", "epochs",
             "measured_top1_error", "measured_top5_error", "params", "gflops", "images_per_second",
             "device_hours", "device", "finished", "experiment"],
    "reference": ["year", "team", "entry", "architecture", "place", "dataset", "metric", "value", "extra_data",
                  "source", "note"],
}
VIEWS = tuple(COLUMNS)
RUNS_PAGE = 100  # `runs` lists every measured run, so it pages unless asked for all (limit 0)
SQL_INTEGER_MAX = 2**63 - 1  # SQLite's INTEGER and PostgreSQL's bigint
PAGES: dict[str, int] = {"runs": RUNS_PAGE}  # rows a view shows when no limit is given

M = MeasuredResult
_MEASURED = {  # output name -> measured_results column
    "run_id": M.run_id, "run_name": M.run_name, "model": M.model, "family": M.family, "dataset": M.dataset,
    "kind": M.kind, "measured_on": M.measured_on, "image_size": M.image_size, "epochs": M.epochs, "measured_top1_error": M.top1_error,
    "measured_top5_error": M.top5_error, "params": M.params, "gflops": M.gflops,
    "images_per_second": M.images_per_second, "device_hours": M.device_hours, "device": M.device,
    "finished": M.finished, "experiment": M.experiment,
}


def show(
    store: Store,
    view: str = "ilsvrc",
    dataset: str | None = None,
    family: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Rows of `view`; dataset defaults to imagenet-1k for `ilsvrc`, the most measured for the others (all for `runs`).

    `limit` rows at most, after skipping `offset`: None means the view's own page (the newest
    RUNS_PAGE runs for `runs`, every row of the other views, which stay small), 0 means every row.
    """
    if view not in COLUMNS:
        raise UnknownNameError("leaderboard view", view, VIEWS)
    for name, value in (("limit", limit), ("offset", offset)):
        if value is not None and value < 0:
            raise ArenaError(f"{name} must be 0 or more, not {value}")
        if value is not None and value > SQL_INTEGER_MAX:  # the database driver cannot send a larger LIMIT or OFFSET
            raise ArenaError(f"{name} must be at most {SQL_INTEGER_MAX}, not {value}")
    page = PAGES.get(view) if limit is None else (limit or None)  # None from here on: every row
    with store.reading() as connection:
        if dataset is None and view == "ilsvrc":
            dataset = PAIRED_DATASET
        elif dataset is None and view not in ("runs", "reference"):
            dataset = default_dataset(connection)
        query = _QUERIES[view](dataset, family)
        if page is not None:
            query = query.limit(page)
        if offset:
            query = query.offset(offset)
        result = connection.execute(query)
        columns = COLUMNS[view]
        assert list(result.keys()) == columns, "each view's query selects exactly its columns, in order"
        rows = [dict(zip(columns, row, strict=True)) for row in result]
    if "finished" in columns:  # the only datetime a view returns; JSON wants a string, always in UTC
        for row in rows:
            if (finished := row["finished"]) is not None:
                aware = finished.replace(tzinfo=UTC) if finished.tzinfo is None else finished.astimezone(UTC)
                row["finished"] = aware.isoformat()
    return rows


def default_dataset(connection: Connection) -> str:
    """The dataset with the most measured runs (as of the last sync), or `digits` when nothing is measured."""
    remembered = connection.scalar(select(LeaderboardState.text).where(LeaderboardState.key == DEFAULT_DATASET_KEY))
    return remembered or most_measured_dataset(connection) or DEFAULT_DATASET


def ranked_on_val() -> Any:
    """The condition every ranking view and chart puts on measured rows: measured on val/, not on a holdout."""
    return M.measured_on == kinds.VAL


def most_measured_dataset(connection: Connection) -> str | None:
    """Count runs measured on val per dataset (a scan of the measured rows: sync stores the answer for `show`)."""
    query = (select(M.dataset).where(ranked_on_val()).group_by(M.dataset)
             .order_by(func.count().desc(), M.dataset).limit(1))
    return connection.scalar(query)


def _best_id(dataset: str, *match: Any) -> Any:
    """Correlated subquery: id of the lowest-top-1 run on `dataset` matching `match` (index seek)."""
    return (
        select(M.id)
        .where(M.dataset == dataset, ranked_on_val(), M.top1_error.is_not(None), *match)
        .order_by(M.top1_error, M.id)
        .limit(1)
        .scalar_subquery()
    )


def _ilsvrc(dataset: str, family: str | None) -> Select:
    """Each ILSVRC winner and runner-up beside the best measured run of the same architecture on imagenet-1k.

    When that architecture was never measured on the dataset, the best run of its zoo family stands
    in (a VGG-11 for VGG-16, say); `measured_model` names the model either way, so nothing is hidden.
    A family filter keeps the entries whose architecture is in the family: the zoo's word, or else
    that of the architecture's own runs. Every lookup is a seek on (dataset, model) or (dataset, family).
    """
    R = ReferenceResult
    zoo_family = select(Architecture.family).where(Architecture.name == R.architecture).correlate(R).scalar_subquery()
    # A subset or another dataset beside the papers' ImageNet figures would mislead: its runs show in
    # the family, pareto and runs views under their own name instead.
    best = func.coalesce(
        _best_id(dataset, M.model == R.architecture),
        _best_id(dataset, M.family == zoo_family),
    ) if dataset == PAIRED_DATASET else cast(null(), Integer)
    entries = (
        select(R.year, R.team, R.entry, R.architecture, R.place, R.value.label("paper_top5_error"),
               best.label("best_id"))
        .where(R.place.is_not(None), R.metric == "top5_error", R.dataset == CHALLENGE_DATASET)
    )
    if family:
        measured_family = (
            select(M.family)
            .where(M.dataset == dataset, ranked_on_val(), M.model == R.architecture)
            .order_by(M.top1_error)  # the (dataset, measured_on, model, top1_error) index's order, so planners seek it
            .limit(1)
            .correlate(R)
            .scalar_subquery()
        )
        entries = entries.where(func.coalesce(zoo_family, measured_family) == family)
    entries = entries.subquery()
    return (
        select(entries.c.year, entries.c.team, entries.c.entry, entries.c.architecture, entries.c.place,
               entries.c.paper_top5_error, M.model.label("measured_model"), M.top1_error.label("measured_top1_error"),
               M.top5_error.label("measured_top5_error"), literal(dataset).label("dataset"), M.run_id)
        .select_from(entries)
        .outerjoin(M, M.id == entries.c.best_id)
        .order_by(entries.c.year, entries.c.place)
    )


def _family(dataset: str, family: str | None) -> Select:
    """The best run of each family measured on the dataset's val/, with how many such runs the family has."""
    families = select(M.family, func.count().label("runs")).where(M.dataset == dataset, ranked_on_val(),
                                                                  M.top1_error.is_not(None))
    if family:
        families = families.where(M.family == family)
    families = families.group_by(M.family).subquery()
    best = select(families, _best_id(dataset, M.family == families.c.family).label("best_id")).subquery()
    shown = {**{name: column.label(name) for name, column in _MEASURED.items()}, "runs": best.c.runs,
             "dataset": literal(dataset).label("dataset")}
    return (
        select(*[shown[name] for name in COLUMNS["family"]])
        .select_from(best)
        .join(M, M.id == best.c.best_id)
        .order_by(M.top1_error, M.family)
    )


def _pareto(dataset: str, family: str | None) -> Select:
    """Runs no other run beats on both top-1 error and gflops: the error-vs-compute frontier.

    A walk over the distinct costs along the (dataset, measured_on[, family], gflops, top1_error, id)
    index instead of a pass over every run: each step seeks the next gflops value, carrying the lowest
    error of every cheaper run; a cost's best run (lowest error, lowest id among ties: the first index
    entry of its gflops) is on the frontier when it errs less than that. Two seeks per distinct cost,
    however many runs share it, so the views stay index seeks at a million rows.
    """
    scope = [M.dataset == dataset, ranked_on_val()] + ([M.family == family] if family else [])
    plotted = [*scope, M.top1_error.is_not(None)]

    def next_cost(after: Any) -> Any:
        """The lowest gflops above `after` (the lowest of all when None) among the plotted runs."""
        above = [M.gflops > after] if after is not None else [M.gflops.is_not(None)]
        return select(M.gflops).where(*plotted, *above).order_by(M.gflops).limit(1).scalar_subquery()

    walk = select(next_cost(None).label("gflops"), cast(null(), Float).label("cheaper_best")).cte("costs", recursive=True)
    lowest_here = select(func.min(M.top1_error)).where(*plotted, M.gflops == walk.c.gflops).correlate(walk).scalar_subquery()
    carried = case((walk.c.cheaper_best.is_(None), lowest_here), (lowest_here < walk.c.cheaper_best, lowest_here),
                   else_=walk.c.cheaper_best)
    step = select(next_cost(walk.c.gflops).correlate(walk), carried).where(walk.c.gflops.is_not(None))
    walk = walk.union_all(step)
    best_here = (select(M.id).where(*plotted, M.gflops == walk.c.gflops).order_by(M.top1_error, M.id).limit(1)
                 .correlate(walk).scalar_subquery())
    return (
        select(*_measured_columns("pareto"))
        .select_from(walk)
        .join(M, M.id == best_here)
        .where(or_(walk.c.cheaper_best.is_(None), M.top1_error < walk.c.cheaper_best))
        .order_by(M.gflops)
    )


def _runs(dataset: str | None, family: str | None) -> Select:
    """Every measured run, newest first: the (finished, id) index read backwards, or (dataset, finished, id)."""
    query = select(*_measured_columns("runs"))
    if dataset:
        query = query.where(M.dataset == dataset)
    if family:
        query = query.where(M.family == family)
    return query.order_by(M.finished.desc(), M.id.desc())


def _reference(dataset: str | None, family: str | None) -> Select:
    """Every reference figure with its source, year by year."""
    R = ReferenceResult
    query = select(R.year, R.team, R.entry, R.architecture, R.place, R.dataset, R.metric, R.value, R.extra_data,
                   R.source, R.note)
    if dataset:
        query = query.where(R.dataset == dataset)
    if family:
        query = query.where(R.architecture.in_(select(Architecture.name).where(Architecture.family == family)))
    return query.order_by(R.year, R.place.is_(None), R.place, R.team, R.entry, R.metric)


def _measured_columns(view: str) -> list[Any]:
    """The measured_results columns a view shows, labelled with their output names, in its order."""
    return [_MEASURED[name].label(name) for name in COLUMNS[view]]


_QUERIES = {"ilsvrc": _ilsvrc, "family": _family, "pareto": _pareto, "runs": _runs, "reference": _reference}
assert set(_QUERIES) == set(COLUMNS)
