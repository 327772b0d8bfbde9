"""`arena dashboard`: the leaderboard page and its JSON endpoints, served on loopback with Flask.

    GET /                                   the page (?dataset=&family=)
    GET /api/leaderboard?view=&dataset=&family=&limit=&offset=   a leaderboard view's rows (a page of them)
    GET /api/dashboard?dataset=&family=     everything the page shows, as JSON
    GET /api/filters                        the datasets and families one can filter by

A bad query answers HTTP 400 with {"error": message}; a database that cannot be reached, 503; an
unexpected failure, 500 with a one-line message (the traceback goes to the server's log, never to the client).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from arena.errors import ArenaError, UnknownNameError
from arena.leaderboard import VIEWS, Store, show
from arena.leaderboard.chart_points import filter_choices
from arena.leaderboard.views import SQL_INTEGER_MAX
from arena.webpage.data import DEFAULT_MLFLOW_UI_URL, Dashboard, check_filters, load_dashboard
from arena.webpage.page import render_dashboard

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
_ARGUMENTS = {"/": {"dataset", "family"}, "/api/dashboard": {"dataset", "family"},
              "/api/leaderboard": {"view", "dataset", "family", "limit", "offset"}, "/api/filters": set()}
log = logging.getLogger(__name__)


class BadQuery(ArenaError):
    """A query string the server cannot answer (unknown argument, bad number)."""


def create_app(store: Store, *, tracking_uri: str | None = None, mlflow_ui_url: str = DEFAULT_MLFLOW_UI_URL) -> Flask:
    """The dashboard's Flask app over an open leaderboard store (and the MLflow store, when given)."""
    app = Flask("arena.webpage")
    app.json.sort_keys = False  # keep each view's column order

    @app.before_request
    def _check_arguments() -> None:
        known = _ARGUMENTS.get(request.path)
        unknown = sorted(set(request.args) - known) if known is not None else []
        if unknown:
            raise BadQuery(f"unknown query argument {unknown[0]!r}; valid: {', '.join(sorted(known)) or 'none'}")

    def asked() -> Dashboard:
        return load_dashboard(store, _arg("dataset"), _arg("family"), tracking_uri=tracking_uri, mlflow_ui_url=mlflow_ui_url)

    @app.get("/")
    def page() -> Response:
        return Response(render_dashboard(asked(), mlflow_ui_url=mlflow_ui_url, live=True), mimetype="text/html")

    @app.get("/api/leaderboard")
    def leaderboard() -> Response:
        view = _arg("view") or "ilsvrc"
        if view not in VIEWS:
            raise BadQuery(f"unknown leaderboard view {view!r}; valid: {', '.join(VIEWS)}")
        dataset, family = _arg("dataset"), _arg("family")
        if view not in ("runs", "reference"):  # those two list every dataset unless told one
            dataset, family, _ = check_filters(store, dataset, family)
        limit, offset = _whole("limit", least=1), _whole("offset", least=0) or 0
        rows = show(store, view, dataset, family, limit, offset)
        return jsonify({"view": view, "dataset": dataset, "family": family, "offset": offset, "rows": rows})

    @app.get("/api/dashboard")
    def dashboard() -> Response:
        return jsonify(asked().as_json())

    @app.get("/api/filters")
    def filters() -> Response:
        return jsonify(filter_choices(store))

    @app.errorhandler(BadQuery)
    @app.errorhandler(UnknownNameError)
    def _bad_request(error: ArenaError) -> tuple[Response, int]:
        return _error(str(error), 400)

    @app.errorhandler(ArenaError)
    def _unavailable(error: ArenaError) -> tuple[Response, int]:  # a database that went away, say: not the query's fault
        return _error(str(error), 503)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        return _error(f"{error.name}: {request.path}" if error.code == 404 else str(error.description), error.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("dashboard request %s failed", request.full_path)
        return _error(f"internal error ({type(error).__name__}); see the dashboard's log", 500)

    return app


def make_dashboard_server(
    store: Store,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    tracking_uri: str | None = None,
    mlflow_ui_url: str = DEFAULT_MLFLOW_UI_URL,
) -> BaseWSGIServer:
    """A threaded WSGI server for the dashboard, bound and listening (port 0: any free port)."""
    app = create_app(store, tracking_uri=tracking_uri, mlflow_ui_url=mlflow_ui_url)
    # Bind here: werkzeug answers a busy port with sys.exit, not an exception the CLI can report.
    try:
        listener = socket.create_server((host, port), reuse_port=False)
    except (OSError, OverflowError) as error:  # busy, not ours, unknown host; a port past 65535
        raise ArenaError(f"cannot serve the dashboard on {host}:{port}: {error.strerror or error}") from None
    with listener:
        server = make_server(host, port, app, threaded=True, fd=listener.fileno())  # werkzeug keeps a duplicate
    server.server_port = server.socket.getsockname()[1]  # what HTTPServer's own bind would have set (port 0: the real one)
    return server


def serve(server: BaseWSGIServer, *, ready: Callable[[str], None] | None = None) -> None:
    """Serve the dashboard (a `make_dashboard_server`) until interrupted; `ready(url)` is called first."""
    if ready is not None:
        ready(f"http://{server.host}:{server.server_port}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _arg(name: str) -> str | None:
    """A query argument, None when absent or empty."""
    return request.args.get(name) or None


def _whole(name: str, *, least: int) -> int | None:
    """A whole-number argument of at least `least` (limit: 1, so one request never dumps a whole table)."""
    raw = _arg(name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < least:
        kind = "a positive whole number" if least > 0 else "a whole number"
        raise BadQuery(f"{name} must be {kind}, not {raw!r}")
    if int(raw) > SQL_INTEGER_MAX:  # the database driver cannot send a larger LIMIT or OFFSET
        raise BadQuery(f"{name} must be at most {SQL_INTEGER_MAX}, not {raw}")
    return int(raw)


def _error(message: str, status: int) -> tuple[Response, int]:
    """A JSON error body: {"error": message, "status": status}."""
    return jsonify({"error": message, "status": status}), status
