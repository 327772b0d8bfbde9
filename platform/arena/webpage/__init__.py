"""The leaderboard's web page: tables and charts from the leaderboard database, served, written to a file or published to MLflow.

    store = open_store(settings.db_url)
    serve(make_dashboard_server(store, port=8050, tracking_uri=settings.tracking_uri, mlflow_ui_url=settings.mlflow_ui_url))
    serve_with_gunicorn(settings, host="10.0.0.7", port=8050, allowed_hosts=["board.example.org"])  # wsgi.py: a shared address
    html = render_page(store, dataset="digits", mlflow_ui_url=settings.mlflow_ui_url)  # one self-contained file
    publish_leaderboard_to_mlflow(store, settings.tracking_uri, settings.artifact_root)  # the `leaderboard` run in MLflow
"""

from __future__ import annotations

from arena.webpage.mlflow_ui import mlflow_ui_command, run_mlflow_ui
from arena.webpage.page import render_page
from arena.webpage.publish import publish_leaderboard_to_mlflow
from arena.webpage.server import DEFAULT_HOST, DEFAULT_PORT, create_app, is_loopback, make_dashboard_server, serve

__all__ = [
    "DEFAULT_HOST", "DEFAULT_PORT", "create_app", "is_loopback", "make_dashboard_server", "mlflow_ui_command", "publish_leaderboard_to_mlflow", "render_page",
    "run_mlflow_ui", "serve",
]
