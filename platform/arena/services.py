"""Do the services the settings name answer? Checked in seconds, before anything waits on them.

MLflow's client retries a tracking server that is down for minutes, and its SQL store a database
that is down for over a minute; arena asks first, once per process, and turns a refusal into one
ArenaError naming the store (password masked) and the setting to check. No MLflow here: the check
runs before MLflow is imported (`arena train` checks while Ray starts) and on every node of a cluster.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from arena.errors import ArenaError, mask_secrets
from arena.settings import TrackingAuth, without_userinfo

PROBE_TIMEOUT_SECONDS = 10.0
"""How long arena waits for a tracking server or database to answer before it says it does not."""
_DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
_answered: set[str] = set()  # tracking URIs that answered in this process: checked once, not per call
_answered_lock = threading.Lock()


@dataclass(frozen=True)
class StoreProblem:
    """Why a tracking store cannot be used: what went wrong, and whether it was the credentials."""

    reason: str
    """A few words: `connection refused`, `HTTP 401`, ..."""
    credentials: bool = False
    """The server answered, but asked for credentials or refused the ones sent (HTTP 401 or 403)."""

    def line(self, tracking_uri: str, auth: TrackingAuth) -> str:
        """One line for the user, naming the store (password masked) and what to check."""
        shown = mask_secrets(tracking_uri)
        if not self.credentials:
            return f"cannot use the MLflow tracking store {shown}: {self.reason}; check ARENA_TRACKING_URI"
        if auth.present:
            return (f"the MLflow tracking server {shown} refused arena's credentials ({self.reason}): check "
                    "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)")
        return (f"the MLflow tracking server {shown} asks for credentials ({self.reason}): set MLFLOW_TRACKING_USERNAME "
                "and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)")


def store_problem(tracking_uri: str, auth: TrackingAuth, timeout: float = PROBE_TIMEOUT_SECONDS) -> StoreProblem | None:
    """None when the tracking store answers (a server: an API call signed in with `auth`), else why not.

    A file store is not checked; a database store (postgresql://...) is checked for a listening port
    only, so that MLflow's own engine, which retries a dead database for over a minute, never meets one.
    """
    scheme = tracking_uri.split("://", 1)[0].split("+", 1)[0].lower() if "://" in tracking_uri else ""
    if scheme in ("http", "https"):
        return _server_problem(tracking_uri, auth, timeout)
    if scheme == "postgresql":
        return _postgresql_problem(tracking_uri, timeout)
    if scheme in _DATABASE_PORTS:
        return _port_problem(tracking_uri, _DATABASE_PORTS[scheme], timeout)
    return None


def _postgresql_problem(tracking_uri: str, timeout: float) -> StoreProblem | None:
    """Connect once with libpq's own timeout: a port that accepts but never answers, or a refused password, shows here."""
    try:
        import psycopg
    except ImportError:  # no driver here: MLflow's engine will say so; the port is all we can check
        return _port_problem(tracking_uri, _DATABASE_PORTS["postgresql"], timeout)
    scheme, rest = tracking_uri.split("://", 1)
    try:
        with psycopg.connect(f"postgresql://{rest}", connect_timeout=max(1, round(timeout))):
            return None
    except psycopg.Error as error:
        return StoreProblem(mask_secrets(" ".join(str(error).split()) or type(error).__name__))


def _server_problem(tracking_uri: str, auth: TrackingAuth, timeout: float) -> StoreProblem | None:
    url = f"{without_userinfo(tracking_uri).rstrip('/')}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
    request = urllib.request.Request(url, headers=auth.headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            return StoreProblem(f"HTTP {error.code}", credentials=True)
        if error.code == 404 and "RESOURCE_DOES_NOT_EXIST" in error.read(4096).decode("utf-8", "replace"):
            return None  # signed in; there is just no experiment called Default
        return StoreProblem(f"its API answered HTTP {error.code} (is it an MLflow tracking server?)")
    except (urllib.error.URLError, OSError) as error:
        return StoreProblem(_reason(error))
    except (ValueError, http.client.HTTPException):  # e.g. a raw `/` in the password ends the host part early
        return StoreProblem("not a valid URL: write a `/`, `@` or `:` in the user or password as %2F, %40 or %3A")


def _port_problem(tracking_uri: str, default_port: int, timeout: float) -> StoreProblem | None:
    try:
        parts = urlsplit(tracking_uri)
        host, port = parts.hostname, parts.port or default_port
    except ValueError as error:
        return StoreProblem(f"not a valid URI: {error}")
    if not host:  # a local socket (postgresql:///db?host=/run/postgresql): MLflow's engine finds it
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as error:
        return StoreProblem(_reason(error))


def _reason(error: BaseException) -> str:
    """A few words on why a connection failed."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return f"no answer within {PROBE_TIMEOUT_SECONDS:g} s (is it running, and reachable from here?)"
    if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
        return "connection refused (is it running?)"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    return mask_secrets(str(reason).splitlines()[0] if str(reason) else type(reason).__name__)




def require_tracking_store(tracking_uri: str, auth: TrackingAuth) -> None:
    """Raise ArenaError (one line) unless the tracking store answers; a store that answered once is not asked again."""
    with _answered_lock:
        if tracking_uri in _answered:
            return
    problem = store_problem(tracking_uri, auth)
    if problem is not None:
        raise ArenaError(problem.line(tracking_uri, auth))
    with _answered_lock:
        _answered.add(tracking_uri)
