"""`arena dashboard`: the leaderboard page and its JSON endpoints, served on loopback with Flask.

    GET /                                   the page (?dataset=&family=)
    GET /api/leaderboard?view=&dataset=&family=&limit=&offset=   a leaderboard view's rows (a page of them)
    GET /api/dashboard?dataset=&family=     everything the page shows, as JSON
    GET /api/filters                        the datasets and families one can filter by

A bad query answers HTTP 400 with {"error": message}; a database that cannot be reached, 503; an
unexpected failure, 500 with a one-line message (the traceback goes to the server's log, never to the client).

Only requests naming an allowed host (loopback names, the bound address, any given with --allowed-host)
are answered; any other Host header is 400, so a page elsewhere cannot read the API through DNS
rebinding. Every answer carries a Content-Security-Policy, nosniff, no framing and no referrer. What is
served is computed once per leaderboard revision (cache.py), so a team refreshing the page after a sync
costs one rendering.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import socket
from collections.abc import Callable, Collection
from typing import Any

from flask import Flask, Response, json, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from arena.errors import ArenaError, UnknownNameError
from arena.leaderboard import VIEWS, Store, show
from arena.leaderboard.chart_points import filter_choices
from arena.leaderboard.views import SQL_INTEGER_MAX
from arena.webpage.cache import DEFAULT_MAX_AGE_S, Answer, AnswerCache
from arena.webpage.data import DEFAULT_MLFLOW_UI_URL, Dashboard, check_filters, load_dashboard
from arena.webpage.page import content_security_policy, render_dashboard

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_LIMIT = 1000  # rows one /api/leaderboard request may ask for: ten pages of runs, never a whole table
_ARGUMENTS = {"/": {"dataset", "family"}, "/api/dashboard": {"dataset", "family"},
              "/api/leaderboard": {"view", "dataset", "family", "limit", "offset"}, "/api/filters": set()}
log = logging.getLogger(__name__)


class BadQuery(ArenaError):
    """A query string the server cannot answer (unknown argument, bad number)."""


def create_app(
    store: Store,
    *,
    tracking_uri: str | None = None,
    mlflow_ui_url: str = DEFAULT_MLFLOW_UI_URL,
    allowed_hosts: Collection[str] = (),
    max_age_s: float = DEFAULT_MAX_AGE_S,
) -> Flask:
    """The dashboard's Flask app over an open leaderboard store (and the MLflow store, when given).

    `allowed_hosts`: host names or addresses, besides the loopback ones, that a request's Host header may
    name. `max_age_s`: how long an answer is served between syncs before MLflow's part is read again.
    """
    app = Flask("arena.webpage")
    app.json.sort_keys = False  # keep each view's column order
    hosts = LOOPBACK_NAMES | {_host_name(host) for host in allowed_hosts}
    headers = {
        "Content-Security-Policy": content_security_policy(), "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cross-Origin-Resource-Policy": "same-origin",
    }
    cache = AnswerCache(max_age_s=max_age_s)

    @app.before_request
    def _check_host() -> None:
        if _host_name(_without_port(request.host)) not in hosts:
            raise BadQuery(f"unknown host {request.host[:100]!r}: the dashboard answers loopback names, its own address "
                           "and those given with --allowed-host")

    @app.before_request
    def _check_arguments() -> None:
        known = _ARGUMENTS.get(request.path)
        unknown = sorted(set(request.args) - known) if known is not None else []
        if unknown:
            raise BadQuery(f"unknown query argument {unknown[0]!r}; valid: {', '.join(sorted(known)) or 'none'}")

    def asked() -> Dashboard:
        return load_dashboard(store, _arg("dataset"), _arg("family"), tracking_uri=tracking_uri, mlflow_ui_url=mlflow_ui_url)

    def cached(key: tuple, compute: Callable[[], Answer]) -> Response:
        answer = cache.get(key, store.revision(), compute)
        return Response(answer.body, mimetype=answer.mimetype)

    @app.get("/")
    def page() -> Response:
        def render() -> Answer:
            html = render_dashboard(asked(), mlflow_ui_url=mlflow_ui_url, live=True)
            return Answer(html.encode("utf-8"), "text/html")

        return cached(("/", _arg("dataset"), _arg("family")), render)

    @app.get("/api/leaderboard")
    def leaderboard() -> Response:
        view = _arg("view") or "ilsvrc"
        if view not in VIEWS:
            raise BadQuery(f"unknown leaderboard view {view!r}; valid: {', '.join(VIEWS)}")
        limit, offset = _whole("limit", least=1, most=MAX_LIMIT), _whole("offset", least=0) or 0

        def rows() -> Answer:
            dataset, family = _arg("dataset"), _arg("family")
            if view not in ("runs", "reference"):  # those two list every dataset unless told one
                dataset, family, _ = check_filters(store, dataset, family)
            found = show(store, view, dataset, family, limit, offset)
            return _json({"view": view, "dataset": dataset, "family": family, "offset": offset, "rows": found})

        return cached(("/api/leaderboard", view, _arg("dataset"), _arg("family"), limit, offset), rows)

    @app.get("/api/dashboard")
    def dashboard() -> Response:
        return cached(("/api/dashboard", _arg("dataset"), _arg("family")), lambda: _json(asked().as_json()))

    @app.get("/api/filters")
    def filters() -> Response:
        return cached(("/api/filters",), lambda: _json(filter_choices(store)))

    @app.after_request
    def _harden(response: Response) -> Response:
        response.headers.update(headers)
        return response

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
    allowed_hosts: Collection[str] = (),
) -> BaseWSGIServer:
    """A threaded WSGI server for the dashboard, bound and listening (port 0: any free port); it answers `host` too."""
    app = create_app(store, tracking_uri=tracking_uri, mlflow_ui_url=mlflow_ui_url, allowed_hosts=[host, *allowed_hosts])
    with bind_listener(host, port) as listener:
        server = make_server(host, port, app, threaded=True, fd=listener.fileno())  # werkzeug keeps a duplicate
    server.server_port = server.socket.getsockname()[1]  # what HTTPServer's own bind would have set (port 0: the real one)
    return server


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one); a busy port or unknown host is an ArenaError.

    Bound here, not by the WSGI server: werkzeug and gunicorn answer a busy port with sys.exit, not an
    exception the CLI can report.
    """
    try:
        return socket.create_server((host, port), family=_family(host), reuse_port=False)
    except (OSError, OverflowError) as error:  # busy, not ours, unknown host; a port past 65535
        raise ArenaError(f"cannot serve the dashboard on {host}:{port}: {error.strerror or error}") from None


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _family(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal, else AF_INET."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


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


def _whole(name: str, *, least: int, most: int = SQL_INTEGER_MAX) -> int | None:
    """A whole-number argument, ASCII digits only, from `least` to `most` (limit: 1, so one request never dumps a table)."""
    raw = _arg(name)
    if raw is None:
        return None
    # str.isdigit alone takes other scripts' digits (and superscripts, which int() refuses).
    if not (raw.isascii() and raw.isdigit()) or int(raw.lstrip("0")[:30] or "0") < least:
        kind = "a positive whole number" if least > 0 else "a whole number"
        raise BadQuery(f"{name} must be {kind}, not {raw[:40]!r}")
    # The length first: int() of thousands of digits is slow, and past 4300 an error. MAX_LIMIT for limit;
    # the database driver cannot send a LIMIT or OFFSET past SQL_INTEGER_MAX.
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(most)) or int(digits) > most:
        raise BadQuery(f"{name} must be at most {most}, not {digits[:40]}{'...' if len(digits) > 40 else ''}")
    return int(digits)


def _without_port(host: str) -> str:
    """A Host header's name or address, without its port (`[::1]:8050` -> `::1`)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _host_name(host: str) -> str:
    """A host name compared case-insensitively, without a trailing dot or IPv6 brackets."""
    return host.strip("[]").rstrip(".").lower()


def _json(value: object) -> Answer:
    """A strict JSON body (column order kept): a non-finite number, which JSON cannot hold, is null."""
    return Answer(json.dumps(_finite(value), sort_keys=False, allow_nan=False).encode("utf-8") + b"\n", "application/json")


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinity inside it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _error(message: str, status: int) -> tuple[Response, int]:
    """A JSON error body: {"error": message, "status": status}."""
    return jsonify({"error": message, "status": status}), status
