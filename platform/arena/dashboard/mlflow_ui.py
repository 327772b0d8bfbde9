"""`arena ui`: the MLflow UI on arena's tracking store, on loopback, beside the dashboard."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from arena.errors import ArenaError
from arena.settings import Settings

DEFAULT_PORT = 5000  # the port of ARENA_MLFLOW_UI_URL's default, so the dashboard's run links land here


def mlflow_ui_command(settings: Settings, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> list[str]:
    """The `mlflow ui` command line serving `settings.tracking_uri` with one worker."""
    if settings.tracking_uri.startswith(("http://", "https://")):
        raise ArenaError(
            f"the tracking store {settings.tracking_uri} is an MLflow server already: open it in a browser "
            "(set ARENA_MLFLOW_UI_URL to it so the dashboard links there)"
        )
    executable = Path(sys.executable).with_name("mlflow")
    program = [str(executable)] if executable.is_file() else [shutil.which("mlflow") or "mlflow"]
    artifact_root = settings.artifact_root if "://" in settings.artifact_root else Path(settings.artifact_root).as_uri()
    return [*program, "ui", "--backend-store-uri", settings.tracking_uri, "--default-artifact-root", artifact_root,
            "--host", host, "--port", str(port), "--workers", "1"]


def run_mlflow_ui(settings: Settings, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> int:
    """Run the MLflow UI in the foreground until interrupted; return its exit code."""
    command = mlflow_ui_command(settings, host=host, port=port)
    if settings.tracking_uri.startswith("sqlite:///"):
        Path(settings.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        process = subprocess.Popen(command)
    except OSError as error:
        raise ArenaError(f"cannot start the MLflow UI ({command[0]}): {error}") from None
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
