"""Shared fixtures: an isolated ARENA_HOME per test, and one Ray head per test session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Keep every Ray address of the tests on loopback (Ray would swap 127.0.0.1 for the host's own IP).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def arena_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point every ARENA_* setting at this test's own folder; return the Settings."""
    from arena.settings import load_settings

    home = tmp_path / "arena-home"
    monkeypatch.setenv("ARENA_HOME", str(home))
    monkeypatch.setenv("ARENA_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.setenv("ARENA_ARTIFACT_ROOT", str(home / "mlartifacts"))
    monkeypatch.setenv("ARENA_DB_URL", f"sqlite:///{home / 'leaderboard.db'}")
    monkeypatch.setenv("ARENA_STORAGE", str(home / "ray_results"))
    return load_settings()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory):
    """One `ray start --head` on 127.0.0.1 for the session (2 CPUs, its own ports and temp dir)."""
    temp = Path(tempfile_short("arena-ray-"))
    port = free_port()
    env = {**os.environ, "RAY_TMPDIR": str(temp)}
    command = [
        str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
        "--num-cpus=2", "--num-gpus=0", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
        f"--dashboard-port={free_port()}", f"--temp-dir={temp}",
        "--disable-usage-stats",
    ]
    # --block keeps `ray start` as the parent of this head's processes, in a process group of
    # its own, so the teardown stops this head only (`ray stop` would stop every Ray on the machine).
    head = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    try:
        wait_for_port(port, timeout=120)
        yield address
    finally:
        stop_process_group(head)
        shutil.rmtree(temp, ignore_errors=True)


def wait_for_port(port: int, timeout: float) -> None:
    """Wait until something listens on 127.0.0.1:port."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            time.sleep(2)  # the GCS answers before the raylet has registered the node
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM a process group, then SIGKILL whatever is left."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def tempfile_short(prefix: str) -> str:
    """A short temp folder: Ray's unix socket paths must stay under ~100 characters."""
    import tempfile

    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")
