"""`arena cluster check`: from the laptop, would a job run on this cluster?

The laptop reaches a cluster only through its Jobs API, so the node-by-node checks
(`arena.training.checks.cluster_report`) run as a small job of their own, with the same working directory
and travelling settings a real job would get; its report comes back in the job's log.
"""

from __future__ import annotations

import itertools
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.cluster.connection import cluster_errors, connect, resolve_address
from arena.cluster.jobs import (
    SpecFile, Submission, job_spec_file, log_line, parse_log_line, staged_job, submit_job, wait_for_job,
)
from arena.errors import ArenaError
from arena.settings import credential_problems, load_settings

REPORT_PREFIX = "ARENA-CLUSTER-REPORT "
"""Marks the log line that carries the check job's JSON report."""
CHECK_METADATA = "arena_check"
"""Metadata key of a check job: not arena's training job (`arena jobs list` leaves it out)."""
CHECK_TIMEOUT_SECONDS = 300.0
"""A check job that has not ended by then is stopped (a cluster too busy to run a 0-CPU job)."""


@dataclass
class CheckResult:
    """What `arena cluster check` found: the cluster's report, what travelled, every problem."""

    address: str
    report: dict[str, Any] = field(default_factory=dict)
    travelled: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "ok": self.ok, "travelled": self.travelled, "held_back": self.held_back,
                "problems": self.problems, **self.report}


def report_entrypoint(spec_file: str | None, overrides: Sequence[str] = ()) -> str:
    """The command the check job runs on the cluster."""
    words = ["python", "-m", "arena.cli", "cluster", "report"]
    if spec_file is not None:
        words.append(spec_file)
    for override in overrides:
        words += ["--set", override]
    return shlex.join(words)


def check_cluster_from_outside(
    address: str | None, spec: Path | SpecFile | None = None, overrides: Sequence[str] = (), *,
    environ: Mapping[str, str] | None = None, timeout_seconds: float = CHECK_TIMEOUT_SECONDS,
) -> CheckResult:
    """Run the cluster's node checks (and the spec's, when given: a job's, or a search's base job) as a job.

    A path is a job spec, validated here; a search spec comes as a SpecFile its caller validated.
    Gathers every problem.
    """
    url = resolve_address(address)
    if spec is not None and not isinstance(spec, SpecFile):
        spec = job_spec_file(Path(spec), overrides)  # a bad spec is the user's first problem: nothing is sent
    client = connect(url)  # unreachable cluster or bad token: one line, here
    with staged_job(None if spec is None else spec.path, environ) as (spec_file, folder, env_vars, held_back):
        with cluster_errors(url):
            job_id = client.submit_job(
                entrypoint=report_entrypoint(spec_file, () if spec is None else spec.overrides),
                runtime_env={"working_dir": str(folder), "env_vars": env_vars},
                metadata={CHECK_METADATA: "1"},
            )
    result = CheckResult(url, travelled=sorted(env_vars), held_back=held_back)
    try:
        status = wait_for_job(client, job_id, timeout_seconds=timeout_seconds)
    except ArenaError:
        with cluster_errors(url, job_id):
            client.stop_job(job_id)
        result.problems.append(f"the check job {job_id} did not end within {timeout_seconds:g} s (is the cluster busy?)")
        return result
    with cluster_errors(url, job_id):
        logs = client.get_job_logs(job_id)
    report = parse_report(logs)
    if report is None:
        result.problems.append(f"the check job {job_id} ended {status} without a report: {first_error_line(logs)}")
        return result
    result.report = report
    result.problems += report.get("problems", [])
    # The cluster cannot see this machine's credentials (they never travel): compare them here.
    if str(report.get("settings", {}).get("ARENA_TRACKING_URI", "")).startswith(("http://", "https://")):
        hosts = {node["host"]: bool(node.get("tracking_credentials")) for node in report.get("nodes", [])}
        result.problems += credential_problems(hosts, load_settings(environ).tracking_auth, "this machine")
    return result


def format_report_line(report: Mapping[str, Any]) -> str:
    """The log line that carries a report from the cluster to the laptop."""
    return log_line(REPORT_PREFIX, report)


def parse_report(logs: str) -> dict[str, Any] | None:
    """The report in a check job's log, or None when it has none."""
    return parse_log_line(REPORT_PREFIX, logs)


def first_error_line(logs: str) -> str:
    """The line of a failed job's log that says why: arena's own `error:` line, else the last exception line."""
    lines = [line.strip() for line in logs.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("error:"):
            # A spec error lists its problems on the lines below ("  - data.root: ..."): keep them.
            listed = [item.removeprefix("- ") for item in itertools.takewhile(lambda x: x.startswith("- "), lines[index + 1:])]
            return ": ".join([line.removeprefix("error:").strip(), "; ".join(listed)] if listed else [line.removeprefix("error:").strip()])
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Failed")) and " " not in head:
            return line
    return lines[-1] if lines else "(the job printed nothing)"


class ClusterNotReady(ArenaError):
    """The cluster would not run the job: every problem the check found, one a line."""

    def __init__(self, result: CheckResult) -> None:
        self.result = result
        lines = [f"the cluster at {result.address} would not run this job ({len(result.problems)} problem(s)):"]
        lines += [f"  - {problem}" for problem in result.problems]
        super().__init__("\n".join(lines))


def submit_checked(spec: Path | SpecFile, address: str | None, overrides: Sequence[str] = (), *,
                   check: bool = True) -> Submission:
    """`arena submit`: check the cluster for this job or search first (unless `check` is off), then send it."""
    if not isinstance(spec, SpecFile):
        spec = job_spec_file(Path(spec), overrides)
    if check:
        result = check_cluster_from_outside(address, spec)
        if not result.ok:
            raise ClusterNotReady(result)
    return submit_job(spec, address)
