"""Reach a Ray cluster's Jobs API: resolve its address, send the auth token, turn failures into ArenaErrors.

Ray 2.60 clusters use token authentication. arena sends the token the way Ray's own clients find it:
RAY_AUTH_TOKEN, else the file named by RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from arena.errors import ArenaError

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
"""The Jobs API (dashboard) of a Ray head started on this machine with Ray's default ports."""

_ADDRESS_HINT = "is it running? (RAY_ADDRESS / --address)"
PROBE_TIMEOUT_SECONDS = 5.0
"""How long arena waits for a cluster's Jobs API to answer before it says it does not."""
_ENV_LOCK = threading.Lock()
_REASONS = (
    ("refused", "connection refused"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("name or service not known", "unknown host"),
    ("nodename nor servname", "unknown host"),
    ("failed to resolve", "unknown host"),
)
# Ray's job client logs each upload and websocket close at INFO; arena prints its own messages.
_QUIET_LOGGERS = ("ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk", "ray._private.runtime_env.packaging")


def resolve_address(address: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The Jobs API URL: `address`, else RAY_API_SERVER_ADDRESS, else an http(s) RAY_ADDRESS, else the default."""
    env = os.environ if environ is None else environ
    candidate = address or env.get("RAY_API_SERVER_ADDRESS")
    if not candidate:
        ray_address = env.get("RAY_ADDRESS", "")
        if ray_address and not ray_address.startswith(("http://", "https://")):
            raise ArenaError(
                f"RAY_ADDRESS={ray_address} is a cluster (GCS) address, but the Jobs API needs the dashboard "
                "URL: pass --address http://HEAD:8265 or set RAY_API_SERVER_ADDRESS"
            )
        candidate = ray_address or DEFAULT_ADDRESS
    candidate = candidate.strip().rstrip("/")
    if "://" not in candidate:
        candidate = f"http://{candidate}"
    if not candidate.startswith(("http://", "https://")):
        raise ArenaError(f"Ray Jobs API address {candidate!r} must be an http:// or https:// URL, e.g. {DEFAULT_ADDRESS}")
    return candidate


def auth_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The Ray auth token from RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token; None when there is none."""
    env = os.environ if environ is None else environ
    if env.get("RAY_AUTH_TOKEN", "").strip():
        return env["RAY_AUTH_TOKEN"].strip()
    path = Path(env["RAY_AUTH_TOKEN_PATH"]) if env.get("RAY_AUTH_TOKEN_PATH") else Path.home() / ".ray" / "auth_token"
    try:
        return path.expanduser().read_text().strip() or None
    except OSError:
        return None


def auth_headers(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """HTTP headers that authenticate arena to a token-protected Ray cluster."""
    token = auth_token(environ)
    return {"Authorization": f"Bearer {token}"} if token else {}


@contextmanager
def cluster_errors(address: str, job_id: str | None = None) -> Iterator[None]:
    """Turn the Jobs API's connection, auth and not-found failures into one-line ArenaErrors."""
    import requests
    from ray.exceptions import AuthenticationError

    try:
        yield
    except AuthenticationError as error:
        reason = str(error).splitlines()[0]
        raise ArenaError(
            f"the Ray cluster at {address} refused arena's credentials ({reason}); set RAY_AUTH_TOKEN or "
            "RAY_AUTH_TOKEN_PATH to the cluster's token (`ray get-auth-token` on the head node prints it)"
        ) from None
    except (ConnectionError, requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
        raise ArenaError(f"cannot reach the Ray cluster at {address}: {_reason(error)}; {_ADDRESS_HINT}") from None
    except RuntimeError as error:
        text = str(error)
        if job_id is not None and "404" in text:
            raise ArenaError(
                f"no job {job_id!r} on the Ray cluster at {address}; `arena jobs list` shows arena's jobs"
            ) from None
        if "status code" in text:
            raise ArenaError(f"the Ray cluster at {address} answered: {text.splitlines()[0]}") from None
        if "Version check" in text:  # something answers there, but not a Ray dashboard
            raise ArenaError(f"no Ray Jobs API at {address} ({text.split('.')[0].lower()}); {_ADDRESS_HINT}") from None
        raise


def _reason(error: BaseException) -> str:
    """A few words on why a connection failed, from the whole exception chain."""
    text = ""
    while error is not None:
        text += f" {error}".lower()
        error = error.__cause__ or error.__context__
    for needle, reason in _REASONS:
        if needle in text:
            return reason
    return "no answer"


def connect(address: str | None = None) -> JobSubmissionClient:
    """A Jobs API client for the cluster at `address` (see `resolve_address`), authenticated with its token."""
    from ray.job_submission import JobSubmissionClient

    url = resolve_address(address)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    headers = auth_headers()
    _probe(url, headers)
    with cluster_errors(url), _without_ray_address():
        return JobSubmissionClient(url, headers=headers)


def _probe(url: str, headers: Mapping[str, str]) -> None:
    """Fail in seconds when nothing answers at `url`: Ray's client waits on a silent address for ever."""
    request = urllib.request.Request(f"{url}/api/version", headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_SECONDS):
            return
    except urllib.error.HTTPError:  # it answered: Ray's own client says what the answer means
        return
    except (urllib.error.URLError, OSError) as error:
        reason = _reason(error)
        if reason == "timed out":
            reason = f"no answer within {PROBE_TIMEOUT_SECONDS:g} s"
        raise ArenaError(f"cannot reach the Ray cluster at {url}: {reason}; {_ADDRESS_HINT}") from None
    except (ValueError, http.client.HTTPException):  # its text may quote a piece of the password: not shown
        raise ArenaError(
            f"Ray Jobs API address {url!r} is not a valid URL (write a `/`, `@` or `:` in a user or password as "
            f"%2F, %40 or %3A); {_ADDRESS_HINT}"
        ) from None


@contextmanager
def _without_ray_address() -> Iterator[None]:
    # JobSubmissionClient lets RAY_ADDRESS / RAY_API_SERVER_ADDRESS override the address it is given;
    # arena's explicit --address must win, so hide them while the client is built.
    with _ENV_LOCK:
        saved = {name: os.environ.pop(name) for name in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS") if name in os.environ}
        try:
            yield
        finally:
            os.environ.update(saved)
