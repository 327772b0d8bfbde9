"""Ray clusters from the outside: job submission through the Ray Jobs API, and `arena cluster check`."""

from arena.cluster.check import CheckResult, check_cluster_from_outside, first_error_line, submit_checked
from arena.cluster.connection import DEFAULT_ADDRESS, connect, resolve_address
from arena.cluster.jobs import (
    SpecFile,
    job_spec_file,
    submit_command,
    job_logs,
    job_status,
    list_jobs,
    stop_job,
    submit_entrypoint,
    submit_job,
    wait_for_job,
)

__all__ = [
    "SpecFile",
    "job_spec_file",
    "submit_command",
    "CheckResult",
    "check_cluster_from_outside",
    "first_error_line",
    "submit_checked",
    "DEFAULT_ADDRESS",
    "connect",
    "job_logs",
    "job_status",
    "list_jobs",
    "resolve_address",
    "stop_job",
    "submit_entrypoint",
    "submit_job",
    "wait_for_job",
]
