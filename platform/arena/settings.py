"""Paths and URIs from the environment (docs/settings.md); every variable is optional."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from arena.errors import holds_secret, mask_secrets


@dataclass(frozen=True)
class TrackingAuth:
    """How arena signs in to an MLflow tracking server: MLflow's own variables, else the URI's `user:password@`.

    MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (HTTP basic auth) or MLFLOW_TRACKING_TOKEN (a
    bearer token) are what MLflow's client reads itself; arena's own HTTP checks send the same. They are
    never shown (no repr) and never travel with a job: each cluster host carries its own.
    """

    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], tracking_uri: str = "") -> TrackingAuth:
        """MLflow's variables in `environ`, else the user and password written in `tracking_uri`."""
        username, password = environ.get("MLFLOW_TRACKING_USERNAME") or None, environ.get("MLFLOW_TRACKING_PASSWORD") or None
        token = environ.get("MLFLOW_TRACKING_TOKEN") or None
        if not (username and password) and not token and tracking_uri.startswith(("http://", "https://")):
            parts = urlsplit(tracking_uri)
            if parts.password is not None:
                username, password = unquote(parts.username or ""), unquote(parts.password)
        return cls(username, password, token)

    @property
    def present(self) -> bool:
        """True when there is something to sign in with."""
        return bool(self.username and self.password) or bool(self.token)

    def headers(self) -> dict[str, str]:
        """The Authorization header MLflow's client would send (basic auth before a token, as MLflow does)."""
        if self.username and self.password:
            pair = base64.standard_b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


CREDENTIALS_HINT = ("set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in the "
                    "environment each host's Ray node is started with; they never travel with a job")


def credential_problems(hosts: Mapping[str, bool], auth: TrackingAuth, who: str) -> list[str]:
    """The hosts (host name -> has tracking credentials) that lack the credentials `who` signs in with."""
    lacking = sorted(host for host, has in hosts.items() if not has)
    if not auth.present or not lacking:
        return []
    return [f"{', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no credentials for the MLflow tracking "
            f"server, which {who} signs in with: {CREDENTIALS_HINT}"]


def without_userinfo(uri: str) -> str:
    """`uri` with any `user:password@` taken out (for an HTTP request that sends them as a header instead)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


@dataclass(frozen=True)
class Settings:
    """Where arena keeps its embedded defaults and which services it talks to."""

    home: Path
    tracking_uri: str
    artifact_root: str
    db_url: str
    storage: str
    ray_address: str | None
    mlflow_ui_url: str
    tracking_auth: TrackingAuth = TrackingAuth()
    """MLflow's sign-in for an http(s) tracking server (MLFLOW_TRACKING_USERNAME/PASSWORD or _TOKEN)."""

    def __repr__(self) -> str:  # a logged or printed Settings never shows a password
        shown = ", ".join(f"{item.name}={getattr(self, item.name)!r}" for item in fields(self))
        return mask_secrets(f"Settings({shown})")


MLFLOW_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
}
"""MLflow's HTTP retry settings under arena: a tracking server that stops answering fails a call in about
25 s (two tries of 10 s), not MLflow's default of 7 retries with a doubling backoff and 120 s each (minutes)."""


def mlflow_http_limits(environ: Mapping[str, str]) -> dict[str, str]:
    """The MLflow HTTP settings to add to `environ`: arena's bounds, for those the user has not set."""
    return {name: value for name, value in MLFLOW_HTTP_LIMITS.items() if not environ.get(name)}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (the process environment by default)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("ARENA_HOME") or Path.home() / ".arena").expanduser().resolve()
    tracking_uri = env.get("ARENA_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    return Settings(
        home=home,
        tracking_uri=tracking_uri,
        artifact_root=env.get("ARENA_ARTIFACT_ROOT") or str(home / "mlartifacts"),
        db_url=env.get("ARENA_DB_URL") or f"sqlite:///{home / 'leaderboard.db'}",
        storage=env.get("ARENA_STORAGE") or str(home / "ray_results"),
        ray_address=env.get("RAY_ADDRESS") or None,
        mlflow_ui_url=env.get("ARENA_MLFLOW_UI_URL") or "http://127.0.0.1:5000",
        tracking_auth=TrackingAuth.from_environment(env, tracking_uri),
    )


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ARENA_* variables that carry these settings to another process (a Ray job or worker).

    Never a value holding a secret (`errors.holds_secret`): Ray shows every worker's runtime environment
    on its dashboard. Not the leaderboard database (training never writes it, and its URL usually holds
    a password), and not a tracking URI with credentials: the processes of a local Ray inherit this
    machine's environment, and a cluster's hosts carry their own (ARENA_TRACKING_URI, or MLflow's
    MLFLOW_TRACKING_* variables), as they do for the database.
    """
    everything = {
        "ARENA_HOME": str(settings.home),
        "ARENA_TRACKING_URI": settings.tracking_uri,
        "ARENA_ARTIFACT_ROOT": settings.artifact_root,
        "ARENA_STORAGE": settings.storage,
        "ARENA_MLFLOW_UI_URL": settings.mlflow_ui_url,
    }
    return {name: value for name, value in everything.items() if not holds_secret(value)}


def shown_settings(settings: Settings) -> dict[str, str]:
    """The settings a job sees, as a report shows them: every secret masked."""
    shown = {"ARENA_HOME": str(settings.home), "ARENA_TRACKING_URI": settings.tracking_uri,
             "ARENA_ARTIFACT_ROOT": settings.artifact_root, "ARENA_STORAGE": settings.storage,
             "ARENA_MLFLOW_UI_URL": settings.mlflow_ui_url}
    return {name: mask_secrets(value) for name, value in shown.items()}


MACHINE_LOCAL = ("ARENA_HOME", "ARENA_DB_URL")
"""Settings that never travel with a job: a path on the submitting machine, and the leaderboard
database (training never writes it, and its URL usually carries a password)."""


def travelling_settings(environ: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """The ARENA_* variables a submitted job takes from this machine, and the names held back.

    Only what the user set explicitly travels, so the cluster's own settings (the environment its
    nodes were started with) win everywhere else. Machine-local settings stay, and so does any value
    holding a secret (a tracking URI with a password, a `?token=`): Ray shows a job's environment to
    everyone who can open its dashboard. MLflow's own MLFLOW_TRACKING_* variables are not arena's: they never travel.
    """
    env = os.environ if environ is None else environ
    travelling, held_back = {}, []
    for name in sorted(env):
        if not name.startswith("ARENA_") or not env[name]:
            continue
        if name in MACHINE_LOCAL or holds_secret(env[name]):
            held_back.append(name)
        else:
            travelling[name] = env[name]
    return travelling, held_back
