"""`arena ui`: the MLflow UI on arena's tracking store, on loopback, opened at the leaderboard.

`mlflow ui` is a tree of processes: the CLI process, its uvicorn server and a job runner with its
Huey consumers. arena starts it in a process group of its own and, when stopped (Ctrl-C, SIGTERM,
SIGHUP, or MLflow exiting), ends that whole group, so nothing is left running. The stores' URIs
reach MLflow through its environment variables, never its command line (where `ps` shows them to
every user), and MLflow's output passes through arena with any password in them masked.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import unquote, urlsplit

from arena.errors import ArenaError, mask_secrets
from arena.settings import Settings
from arena.spec import JobSpec
from arena.webpage.mlflow_links import artifact_url, runs_table_url

DEFAULT_PORT = 5000  # the port of ARENA_MLFLOW_UI_URL's default, so the dashboard's run links land here
READY_TIMEOUT_S = 300.0  # MLflow takes 15-20 s to answer on a laptop; a busy 2-core box, minutes
STOP_TIMEOUT_S = 20.0  # for MLflow to end its server and consumers after SIGTERM, before SIGKILL
EXPERIMENT = JobSpec.model_fields["experiment"].default


@dataclass(frozen=True)
class UiAddresses:
    """Where a user starts in the MLflow UI arena serves."""

    server: str
    runs_table: str
    leaderboard: str | None  # None until `arena leaderboard sync` publishes one


def mlflow_ui_command(settings: Settings, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> tuple[list[str], dict[str, str]]:
    """The `mlflow ui` command line serving `settings.tracking_uri` with one worker, and the environment naming the stores."""
    if settings.tracking_uri.startswith(("http://", "https://")):
        raise ArenaError(
            f"the tracking store {mask_secrets(settings.tracking_uri)} is an MLflow server already: open it in a "
            "browser (set ARENA_MLFLOW_UI_URL to it so the dashboard links there)"
        )
    executable = Path(sys.executable).with_name("mlflow")
    program = [str(executable)] if executable.is_file() else [shutil.which("mlflow") or "mlflow"]
    artifact_root = settings.artifact_root if "://" in settings.artifact_root else Path(settings.artifact_root).as_uri()
    environment = {"MLFLOW_BACKEND_STORE_URI": settings.tracking_uri, "MLFLOW_DEFAULT_ARTIFACT_ROOT": artifact_root}
    return [*program, "ui", "--host", host, "--port", str(port), "--workers", "1"], environment


def run_mlflow_ui(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    ready: Callable[[UiAddresses], None] | None = None,
    open_browser: bool = False,
) -> int:
    """Run the MLflow UI until stopped; `ready` gets its addresses once it answers. Return MLflow's exit code (0 when stopped)."""
    command, environment = mlflow_ui_command(settings, host=host, port=port)
    _check_port_free(host, port)
    if settings.tracking_uri.startswith("sqlite:///"):
        Path(settings.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    secrets = _secrets(settings)
    try:
        process = subprocess.Popen(
            command, env={**os.environ, **environment, "PYTHONUNBUFFERED": "1"}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
        )
    except OSError as error:
        raise ArenaError(f"cannot start the MLflow UI ({command[0]}): {error}") from None
    pump = threading.Thread(target=_pass_output, args=(process.stdout, sys.stderr, secrets), daemon=True)
    pump.start()
    previous = _stop_on_signals()
    try:
        server = f"http://{host}:{port}"
        _wait_until_answering(process, server)
        addresses = ui_addresses(settings, server)
        if ready is not None:
            ready(addresses)
        if open_browser:
            _open_in_browser(addresses.leaderboard or addresses.runs_table)
        return process.wait()
    except (KeyboardInterrupt, _Stopped):
        return 0
    finally:
        _restore_signals(previous)
        _stop_process_group(process)
        pump.join(timeout=5)


def ui_addresses(settings: Settings, server: str) -> UiAddresses:
    """The leaderboard's page and the `arena` experiment's runs table on `server` (the experiment created when missing)."""
    from arena.webpage.publish import EXPERIMENT as LEADERBOARD_EXPERIMENT
    from arena.tracking.experiment_views import LEADERBOARD_VIEW
    from arena.tracking.leaderboard_log import PAGE, ui_pages  # MLflow takes seconds to import

    experiment_id, leaderboard = ui_pages(
        settings.tracking_uri, settings.artifact_root, experiment=EXPERIMENT, leaderboard_experiment=LEADERBOARD_EXPERIMENT
    )
    page = artifact_url(server, leaderboard[1], leaderboard[0], PAGE) if leaderboard else None
    return UiAddresses(server=server, runs_table=runs_table_url(server, experiment_id, LEADERBOARD_VIEW), leaderboard=page)


class _Stopped(Exception):
    """SIGTERM or SIGHUP arrived: stop like Ctrl-C."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signal.Signals(signum).name)


def _stop_on_signals() -> dict[int, object]:
    """Turn SIGTERM and SIGHUP into _Stopped (main thread only); return the handlers they replace."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, _raise_stopped) for signum in (signal.SIGTERM, signal.SIGHUP)}


def _restore_signals(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, have the kernel SIGTERM it should arena itself be killed (SIGKILL included)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something listens on, before starting anything."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ArenaError(f"cannot start the MLflow UI on {host}:{port}: {error.strerror or error} "
                             "(another MLflow UI? choose a port with --port)") from None


def _wait_until_answering(process: subprocess.Popen, server: str) -> None:
    """Poll MLflow's /health until it answers; its exit before that is an ArenaError."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise ArenaError(f"the MLflow UI stopped before it answered (exit code {code}); its messages are above")
        try:
            with urllib.request.urlopen(f"{server}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise ArenaError(f"the MLflow UI did not answer on {server} within {READY_TIMEOUT_S:.0f} s")


def _stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the MLflow UI's whole process group, wait for it, SIGKILL what is left."""
    group = process.pid  # start_new_session: the group is led by, and named after, the child
    _signal_group(group, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _group_alive(group):
        _signal_group(group, signal.SIGKILL)
    process.wait()


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        pass


def _group_alive(group: int) -> bool:
    """True while some process (other than a zombie) is in the group."""
    proc = Path("/proc")
    if proc.is_dir():  # Linux: zombies answer signal 0 too, so read the group and state of each process
        for stat in proc.glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[2]) == group:
                return True
        return False
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _pass_output(source: IO[bytes] | None, target: IO[str], secrets: Iterable[str]) -> None:
    """Copy MLflow's output to `target` line by line, its secrets masked."""
    if source is None:
        return
    for raw in iter(source.readline, b""):
        target.write(_redact(raw.decode(errors="replace"), secrets))
        target.flush()


def _secrets(settings: Settings) -> list[str]:
    """The passwords in the stores' URIs, as written and percent-decoded, longest first."""
    found = set()
    for uri in (settings.tracking_uri, settings.artifact_root):
        try:
            password = urlsplit(uri).password
        except ValueError:
            continue
        if password:
            found |= {password, unquote(password)}
    return sorted(found, key=len, reverse=True)


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text




def _open_in_browser(url: str) -> bool:
    """Open `url` in the desktop's browser; False where there is none (no display on Linux: no text browser in this terminal)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False
