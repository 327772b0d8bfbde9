"""The dashboard under gunicorn, the production WSGI server for an address other people reach.

`arena dashboard` serves loopback with a threaded server of its own and any other address with gunicorn
(`serve_with_gunicorn`: pre-forked workers, each with a few threads and its own leaderboard connection).
Neither adds TLS or authentication: on a shared address, put a reverse proxy in front. To run gunicorn
yourself (behind that proxy, say), give it the app factory:

    gunicorn --workers 2 --threads 8 --no-control-socket --bind 127.0.0.1:8050 \\
        'arena.webpage.wsgi:create_from_settings(allowed_hosts="board.example.org")'

Each worker opens the leaderboard from ARENA_DB_URL (and reads MLflow from ARENA_TRACKING_URI) itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from flask import Flask

from arena.leaderboard import open_store
from arena.settings import Settings, load_settings
from arena.webpage.server import bind_listener, create_app

WORKERS = 2  # processes: one render does not hold up the other's requests
THREADS = 8  # per worker: answers kept per revision are fast, so a few threads keep many clients moving


def create_from_settings(allowed_hosts: str = "") -> Flask:
    """The dashboard's app over the leaderboard the environment names; `allowed_hosts`: comma-separated names."""
    return _app(load_settings(), [name.strip() for name in allowed_hosts.split(",") if name.strip()])


def serve_with_gunicorn(
    settings: Settings,
    *,
    host: str,
    port: int,
    allowed_hosts: Collection[str] = (),
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the dashboard on host:port with gunicorn (gthread workers) until interrupted; `ready(url)` once it listens."""
    from gunicorn.app.base import BaseApplication  # installed with MLflow; only this path needs it

    listener = bind_listener(host, port)  # a busy port is an ArenaError here, before gunicorn starts
    bound = listener.getsockname()[1]
    descriptor = listener.detach()  # gunicorn owns (and closes) the listening socket from here on
    shown = f"[{host}]" if ":" in host else host
    options: dict[str, Any] = {
        "bind": [f"fd://{descriptor}"], "workers": WORKERS, "threads": THREADS, "worker_class": "gthread",
        "accesslog": None, "loglevel": "warning", "timeout": 120, "graceful_timeout": 5, "proc_name": "arena-dashboard",
        "control_socket_disable": True,  # gunicorn 25+ would otherwise open a control socket under ~/.gunicorn
        "when_ready": lambda _arbiter: ready(f"http://{shown}:{bound}/") if ready is not None else None,
    }

    class Dashboard(BaseApplication):  # type: ignore[misc] - gunicorn ships no type hints
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:  # in each worker, after the fork: its own connection pool
            return _app(settings, [host, *allowed_hosts])

    Dashboard().run()


def _app(settings: Settings, allowed_hosts: Collection[str]) -> Flask:
    """The dashboard's app over the leaderboard and MLflow the settings name."""
    return create_app(open_store(settings.db_url), tracking_uri=settings.tracking_uri,
                      mlflow_ui_url=settings.mlflow_ui_url, allowed_hosts=allowed_hosts)
