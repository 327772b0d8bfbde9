"""Paths and URIs from the environment (docs/settings.md); every variable is optional."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


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


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (the process environment by default)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("ARENA_HOME") or Path.home() / ".arena").expanduser().resolve()
    return Settings(
        home=home,
        tracking_uri=env.get("ARENA_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}",
        artifact_root=env.get("ARENA_ARTIFACT_ROOT") or str(home / "mlartifacts"),
        db_url=env.get("ARENA_DB_URL") or f"sqlite:///{home / 'leaderboard.db'}",
        storage=env.get("ARENA_STORAGE") or str(home / "ray_results"),
        ray_address=env.get("RAY_ADDRESS") or None,
        mlflow_ui_url=env.get("ARENA_MLFLOW_UI_URL") or "http://127.0.0.1:5000",
    )


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ARENA_* variables that carry these settings to another process (a Ray job or worker).

    Not the leaderboard database: training never writes it, and its URL usually holds a password,
    which Ray would show in every worker's runtime environment.
    """
    return {
        "ARENA_HOME": str(settings.home),
        "ARENA_TRACKING_URI": settings.tracking_uri,
        "ARENA_ARTIFACT_ROOT": settings.artifact_root,
        "ARENA_STORAGE": settings.storage,
        "ARENA_MLFLOW_UI_URL": settings.mlflow_ui_url,
    }


_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@")
MACHINE_LOCAL = ("ARENA_HOME", "ARENA_DB_URL")
"""Settings that never travel with a job: a path on the submitting machine, and the leaderboard
database (training never writes it, and its URL usually carries a password)."""


def has_password(value: str) -> bool:
    """True when `value` holds a URI with a password (`scheme://user:secret@host`)."""
    return _CREDENTIALS.search(value) is not None


def masked(value: str) -> str:
    """`value` with the password of every URI in it replaced by ***, for messages and reports."""
    return _CREDENTIALS.sub(lambda match: f"{match['scheme']}{match['user']}:***@", value)


def travelling_settings(environ: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """The ARENA_* variables a submitted job takes from this machine, and the names held back.

    Only what the user set explicitly travels, so the cluster's own settings (the environment its
    nodes were started with) win everywhere else. Machine-local settings stay, and so does any
    value with a password: Ray shows a job's environment to everyone who can open its dashboard.
    """
    env = os.environ if environ is None else environ
    travelling, held_back = {}, []
    for name in sorted(env):
        if not name.startswith("ARENA_") or not env[name]:
            continue
        if name in MACHINE_LOCAL or has_password(env[name]):
            held_back.append(name)
        else:
            travelling[name] = env[name]
    return travelling, held_back
