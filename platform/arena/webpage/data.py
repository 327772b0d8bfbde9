"""Gather what the dashboard shows, as plain data: the leaderboard's rows, chart points and MLflow searches.

The leaderboard database is the source of every table and point; MLflow is read only for what the
database does not hold (experiment ids for run links, searches and their trials). When MLflow cannot
be read the page still renders, with a note saying why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from arena import kinds
from arena.errors import ArenaError, UnknownNameError
from arena.leaderboard import Store, show
from arena.leaderboard.chart_points import filter_choices, measured_points, paper_points, run_experiments
from arena.leaderboard.views import PAIRED_DATASET
from arena.webpage.mlflow_links import run_url

if TYPE_CHECKING:
    from arena.tracking.query import Search

DEFAULT_MLFLOW_UI_URL = "http://127.0.0.1:5000"
SEARCHES_SHOWN = 3  # newest searches of each kind on the page
SEARCH_TRIAL_KINDS = frozenset(kinds.TRIAL_OF_SEARCH.values())  # drawn with their search, not among the models


@dataclass(frozen=True)
class Dashboard:
    """Everything one page shows, for one dataset and (optionally) one family."""

    dataset: str
    family: str | None
    datasets: list[str]
    families: list[str]
    ilsvrc: list[dict[str, Any]]
    family_rows: list[dict[str, Any]]
    paper_points: list[dict[str, Any]]
    measured_points: list[dict[str, Any]]
    scaling_searches: list[dict[str, Any]] = field(default_factory=list)
    nas_searches: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generated: str = ""

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def run_link(mlflow_ui_url: str, run_id: str, experiment_id: str | None) -> str:
    """The run's page in the MLflow UI's Model-training view (the run-only route when the experiment is unknown)."""
    return run_url(mlflow_ui_url, run_id, experiment_id or None)


def check_filters(store: Store, dataset: str | None, family: str | None) -> tuple[str, str | None, dict[str, Any]]:
    """The dataset and family to show (dataset defaulted); unknown names raise UnknownNameError."""
    choices = filter_choices(store)
    dataset = dataset or choices["default_dataset"]
    if dataset not in choices["datasets"]:
        raise UnknownNameError("dataset", dataset, choices["datasets"])
    if family and family not in choices["families"]:
        raise UnknownNameError("family", family, choices["families"])
    return dataset, family or None, choices


def load_dashboard(
    store: Store,
    dataset: str | None = None,
    family: str | None = None,
    *,
    tracking_uri: str | None = None,
    mlflow_ui_url: str = DEFAULT_MLFLOW_UI_URL,
) -> Dashboard:
    """Read the page's data; MLflow (`tracking_uri`) adds experiment ids for the links and the searches."""
    dataset, family, choices = check_filters(store, dataset, family)
    # The ILSVRC table and chart pair the papers with imagenet-1k runs whatever dataset the page shows.
    ilsvrc = show(store, "ilsvrc", PAIRED_DATASET, family)
    family_rows = show(store, "family", dataset, family)
    papers = paper_points(store, family)
    measured = [row for row in measured_points(store, dataset, family) if row["kind"] not in SEARCH_TRIAL_KINDS]
    notes: list[str] = []
    experiment_ids: dict[str, str] = {}
    searches: list[Search] = []
    if tracking_uri:
        from arena.tracking import query  # MLflow takes seconds to import; only this path needs it

        try:
            experiment_ids = query.experiment_ids(tracking_uri)
            searches = query.list_searches(tracking_uri, SEARCHES_SHOWN)
        except ArenaError as error:
            notes.append(f"MLflow not read: {error}")
    experiments = run_experiments(store, [row["run_id"] for row in ilsvrc + family_rows])
    for row in ilsvrc + family_rows:
        experiment = experiment_ids.get(experiments.get(row["run_id"], ""))
        row["run_url"] = run_link(mlflow_ui_url, row["run_id"], experiment) if row["run_id"] else None
    for row in measured:
        row["run_url"] = run_link(mlflow_ui_url, row["run_id"], experiment_ids.get(row.pop("experiment") or ""))
    shown = [search for search in searches if _matches(search, dataset, family)]
    return Dashboard(
        dataset=dataset, family=family, datasets=choices["datasets"], families=choices["families"],
        ilsvrc=ilsvrc, family_rows=family_rows, paper_points=papers, measured_points=measured,
        scaling_searches=[_search_json(s, mlflow_ui_url, measured) for s in shown if s.kind == kinds.SCALING_SEARCH],
        nas_searches=[_search_json(s, mlflow_ui_url, measured) for s in shown if s.kind == kinds.NAS_SEARCH],
        notes=notes, generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _matches(search: Search, dataset: str, family: str | None) -> bool:
    """True when a search ran on the dataset (and family) shown; untagged searches always show."""
    return (search.dataset in (None, dataset)) and (not family or search.family in (None, family))


def _search_json(search: Search, mlflow_ui_url: str, measured: list[dict[str, Any]]) -> dict[str, Any]:
    """A search as plain data with links; a scaling family member gets its measured error when one was trained."""
    by_model = {row["model"]: row for row in measured}
    trials = []
    for trial in search.trials:
        item = asdict(trial)
        item["run_url"] = run_link(mlflow_ui_url, trial.run_id, search.experiment_id)
        trials.append(item)
    family = []
    for phi, gflops in search.family_gflops:
        model = f"scaled:{search.name}-phi{phi}"
        trained = by_model.get(model)
        family.append({"phi": phi, "model": model, "gflops": gflops,
                       "measured_top1_error": trained["measured_top1_error"] if trained else None,
                       "run_url": trained["run_url"] if trained else None})
    return {"kind": search.kind, "name": search.name, "run_id": search.run_id, "status": search.status,
            "dataset": search.dataset, "family": search.family, "coefficients": search.coefficients,
            "run_url": run_link(mlflow_ui_url, search.run_id, search.experiment_id), "trials": trials,
            "scaled_family": family}
