"""The leaderboard inside MLflow: after each sync, an `leaderboard` experiment run with its tables and page.

The run holds, for every dataset with measured runs, the ilsvrc and family views as MLflow tables
(`ilsvrc/<dataset>.json`, `family/<dataset>.json`, shown by the MLflow UI's artifact viewer) and the
dashboard page for the default dataset as `leaderboard.html`, which the MLflow UI renders in place.
"""

from __future__ import annotations

from arena.dashboard.data import DEFAULT_MLFLOW_UI_URL
from arena.dashboard.page import render_page
from arena.leaderboard import Store, show
from arena.leaderboard.dashboard_views import filter_choices
from arena.leaderboard.views import COLUMNS

EXPERIMENT = "leaderboard"
PUBLISHED_VIEWS = ("ilsvrc", "family")


def publish_leaderboard_to_mlflow(
    store: Store,
    tracking_uri: str,
    *,
    artifact_root: str | None = None,
    mlflow_ui_url: str = DEFAULT_MLFLOW_UI_URL,
    experiment: str = EXPERIMENT,
) -> str:
    """Replace the `leaderboard` run of `experiment` with the current tables and page; return its run id."""
    from arena.settings import load_settings
    from arena.tracking.leaderboard_log import replace_leaderboard_run  # MLflow takes seconds to import

    choices = filter_choices(store)
    tables = {}
    measured_runs = 0
    for dataset in choices["datasets"]:
        for view in PUBLISHED_VIEWS:
            rows = show(store, view, dataset)
            tables[f"{view}/{_file_name(dataset)}.json"] = (COLUMNS[view], rows)
            if view == "family":
                measured_runs += sum(row["runs"] for row in rows)
    page = render_page(store, None, None, mlflow_ui_url, tracking_uri=tracking_uri)
    return replace_leaderboard_run(
        tracking_uri, artifact_root or load_settings().artifact_root, experiment=experiment, tables=tables,
        texts={"leaderboard.html": page},
        tags={"arena.dataset": choices["default_dataset"]},
        metrics={"datasets": len(choices["datasets"]), "measured_runs": measured_runs},
    )


def _file_name(dataset: str) -> str:
    """A dataset name safe as an artifact file name."""
    return "".join(character if character.isalnum() or character in "-_." else "_" for character in dataset)
