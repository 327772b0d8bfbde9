"""Run an arena command on the cluster, where the data is, and bring its result back to this machine.

`arena eval RUN --address URL` and `arena ensemble ... --address URL` run as Ray jobs: the command
runs on the cluster (its driver on the head, its predictions in Ray tasks on the nodes that hold the
data) and prints its result as one log line, `ARENA-RESULT {json}`, which this side parses and prints
as the local command would.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from arena.cluster.check import first_error_line
from arena.cluster.connection import cluster_errors, connect, resolve_address
from arena.cluster.jobs import Submission, log_line, parse_log_line, submit_command, wait_for_job
from arena.errors import ArenaError, RunFailed

RESULT_PREFIX = "ARENA-RESULT "
"""Marks the log line that carries a command's JSON result from the cluster."""
_EXIT_CODE = re.compile(r"exit code (\d+)")


def result_line(payload: dict[str, Any]) -> str:
    """The log line that carries a result from the cluster to the submitting machine."""
    return log_line(RESULT_PREFIX, payload)


def parse_result(logs: str) -> dict[str, Any] | None:
    """The result in a job's log, or None when it printed none."""
    return parse_log_line(RESULT_PREFIX, logs)


def run_as_job(
    address: str | None, command: Sequence[str], arguments: Sequence[str], *, name: str, kind: str,
    printer: Callable[[str], None], announce: Callable[[Submission], None] | None = None,
) -> dict[str, Any]:
    """Run `arena COMMAND ARGUMENTS` as a job, its log lines to `printer`; return the result it printed.

    A job that fails as the command would fail here (exit 2: an unknown run, a missing val set) is an
    ArenaError with the job's own reason; any other failure is RunFailed.
    """
    url = resolve_address(address)
    client = connect(url)  # unreachable cluster or bad token: one line, before anything is sent
    submission = submit_command(url, command, [*arguments, "--result-line"], name=name, kind=kind)
    if announce is not None:
        announce(submission)
    status = wait_for_job(client, submission.job_id, follow_logs=True,
                          printer=lambda line: None if line.startswith(RESULT_PREFIX) else printer(line))
    with cluster_errors(url, submission.job_id):
        logs = client.get_job_logs(submission.job_id)
        message = str(client.get_job_info(submission.job_id).message or "")
    result = parse_result(logs)
    if status == "SUCCEEDED" and result is not None:
        return result
    reason = first_error_line(logs)
    code = _EXIT_CODE.search(message)
    if code is not None and code.group(1) == "2":
        raise ArenaError(f"{' '.join(command)} on the cluster (job {submission.job_id}): {reason}")
    raise RunFailed(f"job {submission.job_id}: {status} ({reason})")
