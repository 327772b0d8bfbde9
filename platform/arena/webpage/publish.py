"""The leaderboard inside MLflow: after each sync, the `leaderboard` experiment's one run gets the current tables and page.

The run holds, for every dataset with measured runs, the ilsvrc and family views as MLflow tables
(`ilsvrc/<dataset>.json`, `family/<dataset>.json`, shown by the MLflow UI's artifact viewer) and the
dashboard page for the default dataset as `leaderboard.html`, which the MLflow UI renders in place.
The run is the same one every time (tracking/leaderboard_log.py), so its page keeps its address.
"""

from __future__ import annotations

from dataclasses import replace

from arena.leaderboard import Store, show
from arena.leaderboard.chart_points import filter_choices
from arena.leaderboard.views import COLUMNS
from arena.webpage.data import DEFAULT_MLFLOW_UI_URL, load_dashboard
from arena.webpage.page import render_dashboard

EXPERIMENT = "leaderboard"
PUBLISHED_VIEWS = ("ilsvrc", "family")
# MLflow shows an HTML artifact in an iframe sandboxed without `allow-popups`: a plain click on a
# link that opens a new tab does nothing there, while Ctrl-click and middle-click still open it.
SANDBOX_NOTE = ("Inside MLflow, open a run's page with Ctrl-click (Cmd-click on a Mac) or a middle click: "
                "MLflow's HTML viewer ignores plain clicks on links.")


def publish_leaderboard_to_mlflow(
    store: Store,
    tracking_uri: str,
    artifact_root: str,
    *,
    mlflow_ui_url: str = DEFAULT_MLFLOW_UI_URL,
    experiment: str = EXPERIMENT,
) -> str:
    """Write the current tables and page to the `leaderboard` run of `experiment` (created under `artifact_root`); return its id."""
    from arena.tracking.leaderboard_log import PAGE, publish_leaderboard_run  # MLflow takes seconds to import

    choices = filter_choices(store)
    tables = {}
    measured_runs = 0
    for dataset in choices["datasets"]:
        for view in PUBLISHED_VIEWS:
            rows = show(store, view, dataset)
            tables[f"{view}/{_file_name(dataset)}.json"] = (COLUMNS[view], rows)
            if view == "family":
                measured_runs += sum(row["runs"] for row in rows)
    data = load_dashboard(store, tracking_uri=tracking_uri, mlflow_ui_url=mlflow_ui_url)
    page = render_dashboard(replace(data, notes=[*data.notes, SANDBOX_NOTE]), mlflow_ui_url=mlflow_ui_url)
    return publish_leaderboard_run(
        tracking_uri, artifact_root, experiment=experiment, tables=tables,
        texts={PAGE: page},
        tags={"arena.dataset": choices["default_dataset"]},
        metrics={"datasets": len(choices["datasets"]), "measured_runs": measured_runs},
    )


def _file_name(dataset: str) -> str:
    """A dataset name safe as an artifact file name."""
    return "".join(character if character.isalnum() or character in "-_." else "_" for character in dataset)
