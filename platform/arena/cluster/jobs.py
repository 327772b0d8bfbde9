"""Send arena jobs to a Ray cluster through the Ray Jobs API; list, follow and stop them.

A submitted job runs the arena command for its spec on the cluster: `python -m arena.cli train <spec>`
for a job spec, `python -m arena.cli search scaling|nas <spec>` for a search spec (with its `--set`
overrides and, to continue a run, `--resume RUN_ID`), the same path as the local command. Its working
directory carries arena's source and the spec file. It runs with the cluster's settings (the
environment its nodes were started with): only the ARENA_* variables the user set explicitly travel
with it, and never one that holds a password.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import arena
from arena.cluster.connection import cluster_errors, connect, resolve_address
from arena.errors import ArenaError
from arena.settings import travelling_settings
from arena.spec import load_spec

if TYPE_CHECKING:
    from ray.job_submission import JobDetails, JobSubmissionClient

ARENA_METADATA = "arena"
"""Metadata key that marks a Ray job as arena's (value "1"); `list_jobs` shows only these."""
SPEC_FOLDER = "jobs"
"""Folder of the job's working directory that holds the submitted spec file."""
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
_SOURCE_EXCLUDES = ("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", "*.db", "mlruns", "mlartifacts", "ray_results")


def log_line(prefix: str, payload: Mapping[str, Any]) -> str:
    """One log line that carries `payload` from a job on the cluster to this machine, marked by `prefix`."""
    return prefix + json.dumps(payload)


def parse_log_line(prefix: str, logs: str) -> dict[str, Any] | None:
    """The payload of the last line marked by `prefix` in a job's log, or None when it printed none."""
    for line in reversed(logs.splitlines()):
        if line.startswith(prefix):
            return json.loads(line.removeprefix(prefix))
    return None


def arena_entrypoint(command: Sequence[str], spec_file: str | None, overrides: Sequence[str] = (),
                     options: Sequence[str] = ()) -> str:
    """The shell command a cluster runs: `python -m arena.cli COMMAND [SPEC] [--set ...] [OPTIONS]`."""
    words = ["python", "-m", "arena.cli", *command]
    if spec_file is not None:
        words.append(spec_file)
    for override in overrides:
        words += ["--set", override]
    return shlex.join([*words, *options])


def train_entrypoint(spec_file: str, overrides: Sequence[str] = ()) -> str:
    """The shell command a cluster runs for one training job (`arena train`, through `python -m`)."""
    return arena_entrypoint(("train",), spec_file, overrides)


@dataclass(frozen=True)
class SpecFile:
    """A spec file, validated here, and the arena command that runs it on the cluster."""

    path: Path
    kind: str
    """`train` for a job spec, `scaling` or `nas` for a search spec: `arena jobs list` shows it."""
    command: tuple[str, ...]
    """The arena command that runs it: ("train",) or ("search", "nas")."""
    name: str
    model: str
    overrides: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    """Further options of the command, e.g. ("--resume", RUN_ID)."""

    def entrypoint(self, spec_file: str) -> str:
        """The command the cluster runs, with the spec at `spec_file` in the job's working directory."""
        return arena_entrypoint(self.command, spec_file, self.overrides, self.options)


def job_spec_file(spec_path: Path, overrides: Sequence[str] = (), options: Sequence[str] = ()) -> SpecFile:
    """A job spec to run with `arena train`; a bad spec is a SpecError here, before anything is sent."""
    spec = load_spec(spec_path, overrides)
    return SpecFile(Path(spec_path), "train", ("train",), spec.name, spec.model, tuple(overrides), tuple(options))


def stage_job_files(spec_path: Path | None, destination: Path) -> str | None:
    """Copy arena's source (and the spec file) into `destination`; return the spec's path inside it."""
    package = Path(arena.__file__).resolve().parent
    shutil.copytree(package, destination / "arena", ignore=shutil.ignore_patterns(*_SOURCE_EXCLUDES))
    if spec_path is None:
        return None
    (destination / SPEC_FOLDER).mkdir(parents=True, exist_ok=True)
    shutil.copy2(spec_path, destination / SPEC_FOLDER / spec_path.name)
    return f"{SPEC_FOLDER}/{spec_path.name}"


def submit_entrypoint(
    address: str | None,
    entrypoint: str,
    *,
    working_dir: Path | None = None,
    env_vars: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> str:
    """Submit a shell command as a Ray job (arena-marked) with its working dir and environment; return its id."""
    url = resolve_address(address)
    runtime_env: dict[str, Any] = {"env_vars": dict(env_vars or {})}
    if working_dir is not None:
        runtime_env["working_dir"] = str(working_dir)
    client = connect(url)
    with cluster_errors(url):
        return client.submit_job(
            entrypoint=entrypoint,
            runtime_env=runtime_env,
            metadata={ARENA_METADATA: "1", **dict(metadata or {})},
        )


@dataclass(frozen=True)
class Submission:
    """A job sent to a cluster, and which of this machine's settings went with it."""

    job_id: str
    travelled: list[str]
    held_back: list[str]


@contextmanager
def staged_job(spec_path: Path | None, environ: Mapping[str, str] | None = None) -> Iterator[tuple[str | None, Path, dict[str, str], list[str]]]:
    """A working directory with arena's source (and the spec), and the settings that travel with it.

    Yields (the spec's path inside the folder or None, the folder, env_vars, names held back).
    """
    env_vars, held_back = travelling_settings(dict(os.environ if environ is None else environ))
    with tempfile.TemporaryDirectory(prefix="arena-job-") as staging:
        spec_file = stage_job_files(None if spec_path is None else Path(spec_path), Path(staging))
        yield spec_file, Path(staging), env_vars, held_back


def submit_job(spec: Path | SpecFile, address: str | None, overrides: Sequence[str] = ()) -> Submission:
    """Run a spec on the cluster at `address` with its arena command (a path: a job spec, validated here first).

    The job runs with the cluster's settings; only the ARENA_* variables set here explicitly
    travel with it (see `travelling_settings`).
    """
    if not isinstance(spec, SpecFile):
        spec = job_spec_file(Path(spec), overrides)  # a bad spec stops here, before anything is sent
    with staged_job(spec.path) as (spec_file, folder, env_vars, held_back):
        job_id = submit_entrypoint(
            address,
            spec.entrypoint(spec_file),
            working_dir=folder,
            env_vars=env_vars,
            metadata={"arena_spec": spec.name, "arena_model": spec.model, "arena_kind": spec.kind},
        )
    return Submission(job_id, sorted(env_vars), held_back)


def submit_command(
    address: str | None, command: Sequence[str], arguments: Sequence[str], *, name: str, kind: str,
) -> Submission:
    """Run an arena command that needs no spec file (`arena eval RUN ...`) on the cluster; return its job."""
    with staged_job(None) as (_, folder, env_vars, held_back):
        job_id = submit_entrypoint(
            address,
            arena_entrypoint(command, None, (), arguments),
            working_dir=folder,
            env_vars=env_vars,
            metadata={"arena_spec": name, "arena_model": "-", "arena_kind": kind},
        )
    return Submission(job_id, sorted(env_vars), held_back)


def wait_for_job(
    client: JobSubmissionClient,
    job_id: str,
    follow_logs: bool = False,
    printer: Callable[[str], None] = print,
    *,
    poll_seconds: float = 1.0,
    timeout_seconds: float | None = None,
) -> str:
    """Wait until the job ends, printing its log lines as they come when `follow_logs`; return its status."""
    address = getattr(client, "_address", "the Ray cluster")
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    if follow_logs:
        for chunk in _tail(client, job_id, address):
            for line in chunk.splitlines():
                printer(line)
            _check_deadline(deadline, job_id, timeout_seconds)
    while True:
        with cluster_errors(address, job_id):
            status = str(client.get_job_status(job_id))
        if status in TERMINAL_STATUSES:
            return status
        _check_deadline(deadline, job_id, timeout_seconds)
        time.sleep(poll_seconds)


def list_jobs(address: str | None = None) -> list[dict[str, Any]]:
    """arena's jobs on the cluster, oldest first."""
    url = resolve_address(address)
    client = connect(url)
    with cluster_errors(url):
        jobs = client.list_jobs()
    mine = [job for job in jobs if (job.metadata or {}).get(ARENA_METADATA) == "1"]
    return [job_record(job) for job in sorted(mine, key=lambda job: job.start_time or 0)]


def job_status(address: str | None, job_id: str) -> dict[str, Any]:
    """One job's status, message and timing."""
    url = resolve_address(address)
    client = connect(url)
    with cluster_errors(url, job_id):
        return job_record(client.get_job_info(job_id))


def job_logs(address: str | None, job_id: str, follow: bool = False) -> Iterator[str]:
    """The job's log text: all of it at once, or chunk by chunk until the job ends when `follow`."""
    url = resolve_address(address)
    client = connect(url)
    with cluster_errors(url, job_id):
        client.get_job_info(job_id)  # an unknown id fails here, before any streaming starts
    if follow:
        yield from _tail(client, job_id, url)
        return
    with cluster_errors(url, job_id):
        yield client.get_job_logs(job_id)


def stop_job(address: str | None, job_id: str) -> bool:
    """Ask the job to stop; True if it was still running."""
    url = resolve_address(address)
    client = connect(url)
    with cluster_errors(url, job_id):
        return bool(client.stop_job(job_id))


def job_record(job: JobDetails) -> dict[str, Any]:
    """A JobDetails as a plain dict for tables and `--format json`."""
    metadata = job.metadata or {}
    return {
        "job_id": job.submission_id or job.job_id,
        "status": str(job.status),
        "kind": metadata.get("arena_kind", "train"),
        "spec": metadata.get("arena_spec"),
        "model": metadata.get("arena_model"),
        "entrypoint": job.entrypoint,
        "message": job.message,
        "start_time": _iso_time(job.start_time),
        "end_time": _iso_time(job.end_time),
    }


def _iso_time(milliseconds: int | None) -> str | None:
    if not milliseconds:
        return None
    return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def _check_deadline(deadline: float | None, job_id: str, timeout_seconds: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ArenaError(f"job {job_id} did not finish within {timeout_seconds:g} s; it is still on the cluster")


def _tail(client: JobSubmissionClient, job_id: str, address: str) -> Iterator[str]:
    # tail_job_logs is an async generator over a websocket; drive it from a private event loop.
    loop = asyncio.new_event_loop()
    stream = client.tail_job_logs(job_id)
    try:
        while True:
            with cluster_errors(address, job_id):
                try:
                    chunk = loop.run_until_complete(stream.__anext__())
                except StopAsyncIteration:
                    return
            yield chunk
    finally:
        loop.run_until_complete(stream.aclose())
        loop.close()
