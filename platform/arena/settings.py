"""Paths and URIs from the environment (DESIGN.md, "Settings"); every variable is optional."""

from __future__ import annotations

import os
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

    @property
    def is_local_storage(self) -> bool:
        """True when ARENA_STORAGE is a plain path (not a bucket URI such as s3:// or gs://)."""
        return "://" not in self.storage or self.storage.startswith("file://")


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
    """The ARENA_* variables that carry these settings to another process (a Ray job or worker)."""
    return {
        "ARENA_HOME": str(settings.home),
        "ARENA_TRACKING_URI": settings.tracking_uri,
        "ARENA_ARTIFACT_ROOT": settings.artifact_root,
        "ARENA_DB_URL": settings.db_url,
        "ARENA_STORAGE": settings.storage,
        "ARENA_MLFLOW_UI_URL": settings.mlflow_ui_url,
    }
