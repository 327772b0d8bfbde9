"""The dashboard as a WSGI application, for a production server on a shared address.

`arena dashboard` serves on loopback with a threaded server of its own. On an address other people
reach, run gunicorn (installed with MLflow) behind a reverse proxy that adds TLS and authentication:

    gunicorn --workers 2 --threads 8 --bind 127.0.0.1:8050 \\
        'arena.webpage.wsgi:create_from_settings(allowed_hosts="board.example.org")'

Each worker opens the leaderboard from ARENA_DB_URL (and reads MLflow from ARENA_TRACKING_URI) itself.
"""

from __future__ import annotations

from flask import Flask

from arena.leaderboard import open_store
from arena.settings import load_settings
from arena.webpage.server import create_app


def create_from_settings(allowed_hosts: str = "") -> Flask:
    """The dashboard's app over the leaderboard the environment names; `allowed_hosts`: comma-separated names."""
    settings = load_settings()
    return create_app(
        open_store(settings.db_url), tracking_uri=settings.tracking_uri, mlflow_ui_url=settings.mlflow_ui_url,
        allowed_hosts=[name.strip() for name in allowed_hosts.split(",") if name.strip()],
    )
