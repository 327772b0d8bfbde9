"""The commands that reach a Ray cluster from the outside: submit, jobs, cluster check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from arena.cli.base import AddressOption, ListFormat, ResultFormat, _print_json, app, cluster_app, jobs_app
from arena.terminal import err, out


@app.command("submit")
def submit(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="A job spec or a search spec (told from its fields).")],
    address: AddressOption = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override a spec field: key.path=value.")] = [],
    wait: Annotated[bool, typer.Option("--wait", help="Stream the job's progress and exit with its status.")] = False,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Run `arena cluster check` for the spec first.")] = True,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue this MLflow run (a job's or a search's) on the cluster.")] = None,
    force: Annotated[bool, typer.Option("--force", help="With --resume: continue a run MLflow still shows RUNNING (check first that its driver is dead).")] = False,
) -> None:
    """Check the cluster for this job or search, then send it through the Jobs API; prints the job id."""
    from arena.cluster import submit_checked

    options = (["--resume", resume] if resume else []) + (["--force"] if force and resume else [])
    if force and not resume:
        raise typer.BadParameter("--force goes with --resume", param_hint="--force")
    submission = submit_checked(spec_file(spec_path, set_, options), address, check=check)
    _report_submission(submission, address, wait)


def spec_file(spec_path: Path, overrides: list[str], options: list[str] = []) -> object:
    """The spec file as the cluster will run it: a job spec with `arena train`, a search spec with `arena search KIND`."""
    from arena.cluster import SpecFile, job_spec_file
    from arena.spec import spec_file_kind

    kind = spec_file_kind(spec_path)
    if kind == "job":
        return job_spec_file(spec_path, overrides, options)
    from arena.search.files import load_search_spec, trained_model
    from arena.settings import load_settings

    search = load_search_spec(kind, spec_path, overrides, load_settings())
    return SpecFile(spec_path, kind, ("search", kind), search.name, trained_model(kind, search), tuple(overrides), tuple(options))


def _report_submission(submission: object, address: str | None, wait: bool) -> None:
    """Print the job id (stdout) and the settings sent; with `wait`, follow the job and exit with its status."""
    from arena.cluster import connect, first_error_line, job_logs, wait_for_job
    from arena.errors import RunFailed

    out.print(submission.job_id, highlight=False, markup=False)
    travelled = ", ".join(submission.travelled) or "none (the job runs with the cluster's own settings)"
    err.print(f"settings sent with the job: {travelled}", highlight=False, markup=False)
    if submission.held_back:
        err.print(f"kept on this machine: {', '.join(submission.held_back)} (machine-local, or holding a password)",
                  highlight=False, markup=False)
    if wait:
        status = wait_for_job(connect(address), submission.job_id, follow_logs=True,
                              printer=lambda line: err.out(line, highlight=False))
        if status != "SUCCEEDED":
            reason = first_error_line("".join(job_logs(address, submission.job_id)))
            raise RunFailed(f"job {submission.job_id}: {status} ({reason})")
        err.print(f"job {submission.job_id}: {status}", highlight=False, markup=False)


@cluster_app.command("check")
def cluster_check(
    spec_path: Annotated[Optional[Path], typer.Argument(metavar="[SPEC.yaml]", help="Also check this job's data and resources.")] = None,
    address: AddressOption = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override a spec field: key.path=value.")] = [],
    format: Annotated[ResultFormat, typer.Option("--format", help="text or json.")] = ResultFormat.text,
) -> None:
    """Token, nodes, the settings a job sees, shared storage, tracking from every node, the spec's data and resources."""
    from arena.cluster import check_cluster_from_outside

    result = check_cluster_from_outside(address, None if spec_path is None else spec_file(spec_path, set_))
    if format is ResultFormat.json:
        _print_json(result.to_json())
    else:
        out.print(_render_check(result), highlight=False, markup=False)
    if not result.ok:
        raise typer.Exit(2)


def _render_check(result: object) -> str:
    report = result.report
    lines = [f"cluster {result.address}: the Jobs API answers and accepts the token"]
    if report:
        lines.append(f"{len(report['nodes'])} nodes on {report['hosts']} hosts:")
        for node in report["nodes"]:
            role = "head" if node["is_head"] else "worker"
            tracking = "tracking ok" if not node["tracking_error"] else f"tracking: {node['tracking_error']}"
            data = f", data {node['dataset']}" if node.get("dataset") else ""  # named where a worker would read it
            lines.append(f"  {node['host']} ({node['address']}, {role}): {node['cpus']:g} CPUs {node['gpus']:g} GPUs, {tracking}{data}")
        lines.append("settings a job sees:")
        lines += [f"  {name}={value}" for name, value in sorted(report["settings"].items())]
    lines.append(f"sent from here: {', '.join(result.travelled) or 'nothing'}"
                 + (f"; kept here: {', '.join(result.held_back)}" if result.held_back else ""))
    if result.ok:
        lines.append("ok: a job would run")
    else:
        lines.append(f"{len(result.problems)} problem(s):")
        lines += [f"  - {problem}" for problem in result.problems]
    return "\n".join(lines)


@cluster_app.command("report", hidden=True)
def cluster_report(
    spec_path: Annotated[Optional[Path], typer.Argument(metavar="[SPEC.yaml]")] = None,
    set_: Annotated[list[str], typer.Option("--set")] = [],
) -> None:
    """Run the node checks from inside the cluster (what `arena cluster check` submits) and print the report."""
    from arena.cluster.check import format_report_line
    from arena.settings import load_settings
    from arena.training.checks import cluster_report
    from arena.training.ray_driver import connect, disconnect

    settings = load_settings()
    spec = _job_of(spec_path, set_, settings) if spec_path is not None else None
    started = connect(settings)
    try:
        report = cluster_report(spec, settings)
    finally:
        if started:
            disconnect()
    sys.stdout.write(format_report_line(report.to_json()) + "\n")


def _job_of(spec_path: Path, overrides: list[str], settings: object) -> object:
    """The job a spec file trains: the job spec itself, or a search's base job."""
    from arena.spec import load_spec, spec_file_kind

    kind = spec_file_kind(spec_path)
    if kind == "job":
        return load_spec(spec_path, overrides)
    from arena.search.files import load_search_spec

    return load_search_spec(kind, spec_path, overrides, settings).base


@jobs_app.command("list")
def jobs_list(
    address: AddressOption = None,
    format: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """arena's jobs on the cluster, oldest first."""
    from arena.cluster import list_jobs

    jobs = list_jobs(address)
    if format is ListFormat.json:
        _print_json(jobs)
        return
    table = Table(title="arena jobs")
    columns = ("job_id", "status", "kind", "spec", "model", "start_time", "end_time")
    for column in columns:
        table.add_column(column)
    for job in jobs:
        table.add_row(*(str(job.get(column) or "-") for column in columns))
    out.print(table)


@jobs_app.command("status")
def jobs_status(
    job_id: str,
    address: AddressOption = None,
    format: Annotated[ResultFormat, typer.Option("--format", help="text or json.")] = ResultFormat.text,
) -> None:
    """One job's status, kind, spec, model, timing and Ray's message."""
    from arena.cluster import job_status

    record = job_status(address, job_id)
    if format is ResultFormat.json:
        _print_json(record)
    else:
        out.print(_render_job(record), highlight=False, markup=False)


def _render_job(record: dict) -> str:
    """A job's record as `field: value` lines, its status first."""
    lines = [f"job {record['job_id']}: {record['status']}"]
    for field in ("kind", "spec", "model", "entrypoint", "start_time", "end_time", "message"):
        if record.get(field):
            lines.append(f"  {field + ':':<12}{record[field]}")
    return "\n".join(lines)


@jobs_app.command("logs")
def jobs_logs(
    job_id: str,
    address: AddressOption = None,
    follow: Annotated[bool, typer.Option("--follow", help="Keep streaming until the job ends.")] = False,
) -> None:
    """A job's logs."""
    from arena.cluster import job_logs

    for chunk in job_logs(address, job_id, follow):
        sys.stdout.write(chunk)
        sys.stdout.flush()


@jobs_app.command("stop")
def jobs_stop(job_id: str, address: AddressOption = None) -> None:
    """Stop a running job."""
    from arena.cluster import stop_job

    stopped = stop_job(address, job_id)
    err.print(f"job {job_id}: {'stopping' if stopped else 'was not running'}", highlight=False)
