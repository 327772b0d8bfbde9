"""Addresses inside the MLflow UI (3.17), always in its Model-training view.

MLflow's UI is a hash-routed single-page app. Its routes (`/experiments/<id>/runs/<run>`, the run's
`artifacts/<path>` tab, the experiment's `runs` table) take a `workflowType` query after the hash;
without it the UI falls back to the view the browser last chose, GenAI by default, whose pages for
an experiment are trace, latency and token panels. So every address arena prints or renders carries
`workflowType=machine_learning`. MLflow's run-only route (`/runs/<run>`) redirects to the full one
and drops the query, so it is used only when the run's experiment is unknown.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

MODEL_TRAINING = {"workflowType": "machine_learning"}


def run_url(mlflow_ui_url: str, run_id: str, experiment_id: str | None) -> str:
    """The run's page (MLflow's run-only route when the experiment is unknown)."""
    if experiment_id is None:
        return _address(mlflow_ui_url, f"/runs/{run_id}")
    return _address(mlflow_ui_url, f"/experiments/{experiment_id}/runs/{run_id}")


def artifact_url(mlflow_ui_url: str, run_id: str, experiment_id: str, artifact_path: str) -> str:
    """One artifact of a run, open in the run's artifact viewer (an HTML file renders in place)."""
    return _address(mlflow_ui_url, f"/experiments/{experiment_id}/runs/{run_id}/artifacts/{quote(artifact_path)}")


def runs_table_url(mlflow_ui_url: str, experiment_id: str, saved_view: str | None = None) -> str:
    """The experiment's runs table, through one of its saved views when named."""
    query = {"viewStateShareKey": saved_view} if saved_view else {}
    return _address(mlflow_ui_url, f"/experiments/{experiment_id}/runs", query)


def _address(mlflow_ui_url: str, route: str, query: dict[str, str] | None = None) -> str:
    """`route` of the UI at `mlflow_ui_url`, in the Model-training view."""
    return f"{mlflow_ui_url.rstrip('/')}/#{route}?{urlencode({**(query or {}), **MODEL_TRAINING})}"


def run_page(tracking_uri: str, mlflow_ui_url: str, run_id: str) -> str:
    """The run's page, its experiment read from the tracking store (the run-only route when it cannot be read)."""
    from arena.errors import ArenaError
    from arena.tracking.run_log import get_run_summary  # MLflow takes seconds to import; callers have it loaded

    try:
        experiment_id = get_run_summary(tracking_uri, run_id)["experiment_id"]
    except ArenaError:
        experiment_id = None
    return run_url(mlflow_ui_url, run_id, experiment_id)
