"""The `arena` command: parse, call one function of the layer below, print, set the exit code."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from arena.errors import ArenaError, UnknownNameError, mask_secrets
from arena.terminal import USER_FIXABLE_ERRNOS, err, os_error_line, out, print_error, usage_error_line

app = typer.Typer(no_args_is_help=True, add_completion=False, help="arena: the history of ImageNet classification as real distributed jobs.")
models_app = typer.Typer(no_args_is_help=True, help="The architecture zoo.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets.")
jobs_app = typer.Typer(no_args_is_help=True, help="arena's jobs on a Ray cluster (the Ray Jobs API).")
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")
app.add_typer(jobs_app, name="jobs")
search_app = typer.Typer(no_args_is_help=True, help="Searches on Ray Tune: compound scaling and NAS.")
app.add_typer(search_app, name="search")
leaderboard_app = typer.Typer(help="The ILSVRC results table beside what arena measured.", invoke_without_command=True)
app.add_typer(leaderboard_app, name="leaderboard")

AddressOption = Annotated[
    Optional[str],
    typer.Option("--address", help="The cluster's dashboard URL (default: RAY_API_SERVER_ADDRESS, RAY_ADDRESS, http://127.0.0.1:8265)."),
]



LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ListFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ResultFormat(str, Enum):
    text = "text"
    json = "json"


def _print_json(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


def _print_result(result: object, format: ResultFormat, render: object, run_id: str | None = None) -> None:
    """A command's result: its JSON object alone on stdout, or its readable rendering (and its run's MLflow page)."""
    if format is ResultFormat.json:
        _print_json(result.to_json())
    else:
        out.print(render(result), highlight=False, markup=False)
        if run_id:
            _print_run_page(run_id)


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@models_app.command("list")
def models_list(
    family: Annotated[Optional[str], typer.Option(help="Only this family.")] = None,
    format: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """Every registered architecture with its paper facts, params and gflops."""
    from arena import models

    records = [info.to_record() for info in models.list_models(family=family)]
    if format is ListFormat.json:
        _print_json(records)
    elif format is ListFormat.csv:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(records[0]) if records else ["name"])
        writer.writeheader()
        writer.writerows(records)
    else:
        table = Table(title="arena model zoo")
        for column in ("name", "family", "year", "params", "gflops", "resolution", "paper top-1 err", "paper top-5 err"):
            table.add_column(column, justify="left" if column in ("name", "family") else "right")
        for record in records:
            table.add_row(
                record["name"], record["family"], str(record["year"]), _fmt(record["params"]),
                _fmt(record["gflops"]), str(record["resolution"]),
                _fmt(record["paper_top1_error"], 1), _fmt(record["paper_top5_error"], 1),
            )
        out.print(table)


@models_app.command("show")
def models_show(name: str) -> None:
    """One architecture: its key idea, its block, the paper, params and gflops."""
    from arena import models

    info = models.get_model_info(name)
    out.print(Text.assemble((info.name, "bold"), f"  ({info.family}, {info.year})"), highlight=False)
    out.print(f"paper:      {info.paper_title} — {info.paper_authors}", highlight=False)
    out.print(f"key idea:   {info.key_idea}", highlight=False)
    out.print(f"block:      {info.block}", highlight=False)
    out.print(f"params:     {_fmt(info.params)}", highlight=False)
    out.print(f"gflops:     {_fmt(info.gflops)} (multiply-accumulates at {info.input.resolution} px)", highlight=False)
    out.print(f"input:      {info.input.resolution} px native, {info.input.min_input} px smallest, crop {info.input.crop_pct}", highlight=False)
    out.print(f"paper top-1 / top-5 error: {_fmt(info.paper_top1_error, 1)}% / {_fmt(info.paper_top5_error, 1)}%", highlight=False)
    if info.notes:
        out.print(f"notes:      {info.notes}", highlight=False)


@data_app.command("prepare")
def data_prepare(
    dataset: Annotated[str, typer.Argument(help="digits (built in) or imagenet (from SRC).")],
    source: Annotated[Optional[Path], typer.Argument(metavar="[SRC]", help="imagenet: the official archives, the untarred archives with the devkit, or Kaggle's CLS-LOC layout.")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Target folder (digits default: $ARENA_HOME/data/digits; imagenet: required).")] = None,
) -> None:
    """Write a dataset as an ImageNet-layout image folder: the built-in digits, or ImageNet from SRC."""
    if dataset == "imagenet":
        _prepare_imagenet(source, out_dir)
        return
    if dataset != "digits":
        raise UnknownNameError("dataset", dataset, ["digits", "imagenet"])
    if source is not None:
        raise ArenaError("SRC: digits is built in and takes no source folder")
    from arena.data import default_digits_root, prepare_digits
    from arena.settings import load_settings

    root = prepare_digits(out_dir or default_digits_root(load_settings()))
    out.print(f"digits written to {root} (train/ and val/, one folder per class)")


def _prepare_imagenet(source: Optional[Path], out_dir: Optional[Path]) -> None:
    from rich.progress import Progress

    from arena.data.imagenet_prepare import prepare_imagenet

    if source is None or out_dir is None:
        raise ArenaError("usage: arena data prepare imagenet SRC --out DIR (both are required)")
    with Progress(console=err, transient=True) as bar:
        tasks: dict[str, int] = {}  # one bar per step (reading, linking, unpacking)
        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)
        prepared = prepare_imagenet(source, out_dir, progress=progress)
    out.print("\n".join(prepared.describe()), highlight=False)


@app.command("train")
def train(
    spec_paths: Annotated[list[Path], typer.Argument(metavar="SPEC.yaml...", help="One job spec, or a lineup: side by side when the jobs name their CPUs and fit together, else one after another.")],
    set_: Annotated[list[str], typer.Option("--set", help="Override a spec field: key.path=value.")] = [],
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue this MLflow run from its last checkpoint.")] = None,
    force: Annotated[bool, typer.Option("--force", help="With --resume: resume a run MLflow still shows RUNNING (check first that its driver is dead).")] = False,
    format: Annotated[ResultFormat, typer.Option("--format", help="text or json.")] = ResultFormat.text,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's own logs.")] = False,
) -> None:
    """Validate job specs and train them with Ray Train (RAY_ADDRESS, or a local Ray)."""
    from arena.errors import SpecError
    from arena.spec import load_spec
    from arena.training.launcher import run_lineup, run_training

    specs, problems = [], []
    for path in spec_paths:
        try:
            specs.append(load_spec(path, set_))
        except SpecError as error:
            problems += [f"{error.source}: {problem}" for problem in error.problems]
    if problems:
        raise SpecError(problems, source="job spec" if len(spec_paths) == 1 else "job specs")
    if resume and len(specs) > 1:
        raise ArenaError("--resume takes exactly one SPEC.yaml")
    def announce(line: str) -> None:  # once every check has passed: a bad spec prints its one error alone
        err.print(line, highlight=False, markup=False)

    if len(specs) == 1:
        results = [run_training(specs[0], resume_run_id=resume, force_resume=force, verbose=verbose, announce=announce)]
    else:
        results = run_lineup(specs, verbose=verbose, announce=announce)
    if format is ResultFormat.json:
        _print_json(results[0].to_json() if len(results) == 1 else [r.to_json() for r in results])
        return
    for spec, result in zip(specs, results):
        err.print(
            Text.assemble(("done", "bold green"), (
                f" {spec.name}: run {result.run_id}, {result.epochs} epochs, "
                f"val top-1 error {_fmt(result.val_top1_error)}%, top-5 error {_fmt(result.val_top5_error)}%"
            )),
            highlight=False,
        )
        _print_run_page(result.run_id)


def _print_run_page(run_id: str) -> None:
    """The line naming the run's page in the MLflow UI (its Model-training view), on stderr."""
    from arena.dashboard.mlflow_links import run_page
    from arena.settings import load_settings

    settings = load_settings()
    err.print(f"  MLflow: {run_page(settings.tracking_uri, settings.mlflow_ui_url, run_id)}", highlight=False, markup=False)


@app.command("submit")
def submit(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="The job spec.")],
    address: AddressOption = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override a spec field: key.path=value.")] = [],
    wait: Annotated[bool, typer.Option("--wait", help="Stream the job's progress and exit with its status.")] = False,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Run `arena cluster check` for the spec first.")] = True,
) -> None:
    """Check the cluster for this job, then send it through the Jobs API; prints the job id."""
    from arena.cluster import connect, first_error_line, job_logs, submit_checked, wait_for_job
    from arena.errors import RunFailed

    submission = submit_checked(spec_path, address, set_, check=check)
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


cluster_app = typer.Typer(no_args_is_help=True, help="Would a job run on this Ray cluster? (checked from the laptop)")
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("check")
def cluster_check(
    spec_path: Annotated[Optional[Path], typer.Argument(metavar="[SPEC.yaml]", help="Also check this job's data and resources.")] = None,
    address: AddressOption = None,
    set_: Annotated[list[str], typer.Option("--set", help="Override a spec field: key.path=value.")] = [],
    format: Annotated[ResultFormat, typer.Option("--format", help="text or json.")] = ResultFormat.text,
) -> None:
    """Token, nodes, the settings a job sees, shared storage, tracking from every node, the spec's data and resources."""
    from arena.cluster import check_cluster_from_outside

    result = check_cluster_from_outside(address, spec_path, set_)
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
            lines.append(f"  {node['host']} ({node['address']}, {role}): {node['cpus']:g} CPUs {node['gpus']:g} GPUs, {tracking}")
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
    from arena.spec import load_spec
    from arena.training.cluster_checks import check_cluster
    from arena.training.ray_driver import connect, disconnect

    spec = load_spec(spec_path, set_) if spec_path is not None else None
    settings = load_settings()
    started = connect(settings)
    try:
        report = check_cluster(spec, settings)
    finally:
        if started:
            disconnect()
    sys.stdout.write(format_report_line(report.to_json()) + "\n")


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
    for column in ("job_id", "status", "spec", "model", "start_time", "end_time"):
        table.add_column(column)
    for job in jobs:
        table.add_row(*(str(job.get(column) or "-") for column in ("job_id", "status", "spec", "model", "start_time", "end_time")))
    out.print(table)


@jobs_app.command("status")
def jobs_status(job_id: str, address: AddressOption = None) -> None:
    """One job's status."""
    from arena.cluster import job_status

    _print_json(job_status(address, job_id))


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


@search_app.command("scaling")
def search_scaling(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="The compound-scaling search spec.")],
    set_: Annotated[list[str], typer.Option("--set", help="Override a spec field: key.path=value.")] = [],
    format: Annotated[ResultFormat, typer.Option("--format", help="text or json.")] = ResultFormat.text,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's and Tune's own logs.")] = False,
) -> None:
    """EfficientNet-style compound scaling: find alpha, beta, gamma on Ray Tune, then grow the family."""
    from arena.search.scaling_report import render_scaling_result
    from arena.search.scaling_search import search_scaling as run_search

    result = _with_winner_val(run_search(spec_path, set_, verbose=verbose))
    _print_result(result, format, render_scaling_result, result.parent_run_id)


def _with_winner_val(result: Any) -> Any:
    """The search result with its winner's val/ error, measured once the choice was made."""
    from arena.evaluation.runner import winner_val_error
    from arena.settings import load_settings

    return replace(result, winner_val_top1_error=winner_val_error(result.winner_run_id, load_settings()))


DataRootOption = Annotated[Optional[Path], typer.Option("--data", help="Evaluate on this image folder's val/ instead of the run's own data.")]
CropsOption = Annotated[int, typer.Option("--crops", help="1 (centre crop) or 10 (corners, centre and their flips).")]
TopOption = Annotated[int, typer.Option("--top", help="How many of the hardest classes to show.")]
WorkersOption = Annotated[Optional[int], typer.Option("--workers", help="Ray tasks to shard the val set over (default: by size).")]


def _print_evaluation(result: object, format: ResultFormat) -> None:
    from arena.evaluation import render_evaluation

    _print_result(result, format, render_evaluation, result.eval_run_id)


@app.command("eval")
def evaluate(
    run_id: Annotated[str, typer.Argument(help="The MLflow run to evaluate.")],
    data: DataRootOption = None,
    crops: CropsOption = 1,
    top: TopOption = 10,
    workers: WorkersOption = None,
    format: Annotated[ResultFormat, typer.Option("--format", help="text or json.")] = ResultFormat.text,
) -> None:
    """Evaluate a trained run: top-1/top-5 error, per-class error and the hardest classes."""
    from arena.evaluation import evaluate_run
    from arena.settings import load_settings

    result = evaluate_run(run_id, load_settings(), data_root=data, crops=crops, top=top, workers=workers)
    _print_evaluation(result, format)


@app.command("ensemble")
def ensemble(
    run_ids: Annotated[list[str], typer.Argument(metavar="RUN_ID...", help="Two or more trained runs.")],
    weights: Annotated[Optional[list[float]], typer.Option("--weights", help="One weight per run (repeat the option).")] = None,
    method: Annotated[Optional[str], typer.Option("--method", help="mean | weighted | vote (default: weighted with --weights, else mean).")] = None,
    data: DataRootOption = None,
    crops: CropsOption = 1,
    top: TopOption = 10,
    workers: WorkersOption = None,
    format: Annotated[ResultFormat, typer.Option("--format", help="text or json.")] = ResultFormat.text,
) -> None:
    """Fuse several runs' predictions on the same val set (Trimps-Soushen style) and evaluate the fusion."""
    from arena.evaluation import ensemble_runs
    from arena.settings import load_settings

    result = ensemble_runs(run_ids, load_settings(), weights=weights, method=method, data_root=data,
                           crops=crops, top=top, workers=workers)
    _print_evaluation(result, format)


@search_app.command("nas")
def search_nas(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="The NAS search spec.")],
    set_: Annotated[list[str], typer.Option("--set", help="Override a spec field: key.path=value.")] = [],
    format: Annotated[ResultFormat, typer.Option("--format", help="text or json.")] = ResultFormat.text,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray's and Tune's own logs.")] = False,
) -> None:
    """MnasNet-style architecture search on Ray Tune; the best is saved as nas:<id>."""
    from arena.search.nas_report import render_nas_result
    from arena.search.nas_search import search_nas as run_search

    result = _with_winner_val(run_search(spec_path, set_, verbose=verbose))
    _print_result(result, format, render_nas_result, result.parent_run_id)


def _show_leaderboard(
    view: str,
    dataset: Optional[str],
    family: Optional[str],
    format: str,
    out_file: Optional[Path] = None,
    limit: Optional[int] = None,
    offset: int = 0,
) -> None:
    from arena.leaderboard import open_store, render, show
    from arena.leaderboard.views import PAGES
    from arena.settings import load_settings

    settings = load_settings()
    with open_store(settings.db_url) as store:
        if format == "html":
            # The dashboard page itself, as one self-contained file that can be published as is.
            from arena.dashboard import render_page

            text = render_page(store, dataset, family, settings.mlflow_ui_url, tracking_uri=settings.tracking_uri)
        else:
            rows = show(store, view, dataset=dataset, family=family, limit=limit, offset=offset)
            text = render(rows, format, view)
            if limit is None and len(rows) == PAGES.get(view):  # a full default page: there may be more
                err.print(f"rows {offset + 1}-{offset + len(rows)}; --offset {offset + len(rows)} for the next page, "
                          "--limit 0 for all", highlight=False)
    if out_file is not None:
        try:
            out_file.write_text(text)
        except OSError as error:
            raise ArenaError(f"--out {out_file}: cannot write: {error.strerror or error}") from None
        err.print(f"wrote {out_file}", highlight=False)
    elif format == "table":
        out.print(text, highlight=False)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


ViewOption = Annotated[str, typer.Option("--view", help="ilsvrc | family | pareto | runs | reference.")]
DatasetOption = Annotated[Optional[str], typer.Option("--dataset", help="Measured runs on this dataset (default: the most measured; the ilsvrc view pairs only imagenet-1k).")]
FamilyOption = Annotated[Optional[str], typer.Option("--family", help="Only this model family.")]
FormatOption = Annotated[str, typer.Option("--format", help="table | json | csv | markdown | html.")]
LimitOption = Annotated[
    Optional[int],
    typer.Option("--limit", help="Rows at most (default: every row; the runs view: one page of the newest). 0: every row."),
]
OffsetOption = Annotated[int, typer.Option("--offset", help="Skip this many rows first (the next page).")]


@leaderboard_app.callback()
def leaderboard(
    context: typer.Context,
    view: ViewOption = "ilsvrc",
    dataset: DatasetOption = None,
    family: FamilyOption = None,
    format: FormatOption = "table",
    limit: LimitOption = None,
    offset: OffsetOption = 0,
) -> None:
    """The leaderboard (the ilsvrc view unless told otherwise)."""
    if context.invoked_subcommand is None:
        _show_leaderboard(view, dataset, family, format, limit=limit, offset=offset)


@leaderboard_app.command("show")
def leaderboard_show(
    view: ViewOption = "ilsvrc",
    dataset: DatasetOption = None,
    family: FamilyOption = None,
    format: FormatOption = "table",
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of stdout.")] = None,
    limit: LimitOption = None,
    offset: OffsetOption = 0,
) -> None:
    """One view of the leaderboard, in one format (html: the whole dashboard page as one file)."""
    _show_leaderboard(view, dataset, family, format, out_file, limit=limit, offset=offset)


@leaderboard_app.command("sync")
def leaderboard_sync(
    full: Annotated[bool, typer.Option("--full", help="Read every run, not only those that ended since the last sync.")] = False,
) -> None:
    """Bring finished MLflow runs into the leaderboard (idempotent, incremental); drop deleted and unfinished ones."""
    from arena.leaderboard import open_store, sync_runs
    from arena.settings import load_settings

    from arena.dashboard import publish_leaderboard_to_mlflow

    settings = load_settings()
    with open_store(settings.db_url) as store:
        report = sync_runs(store, settings.tracking_uri, full=full)
        # The same ranking inside MLflow, for people who live in its UI: the `leaderboard` experiment.
        publish_leaderboard_to_mlflow(
            store, settings.tracking_uri, artifact_root=settings.artifact_root, mlflow_ui_url=settings.mlflow_ui_url
        )
    err.print(
        f"leaderboard synced from {mask_secrets(settings.tracking_uri)}{' (every run)' if report.full else ''}: "
        f"{report.added} added, {report.updated} updated, {report.removed} removed, {report.skipped} skipped",
        highlight=False,
    )


@app.command("dashboard")
def dashboard(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")] = 8050,
    host: Annotated[str, typer.Option("--host", help="Address to bind (keep 127.0.0.1 unless you know why).")] = "127.0.0.1",
) -> None:
    """Serve the leaderboard dashboard until Ctrl-C."""
    from arena.dashboard import serve
    from arena.leaderboard import open_store
    from arena.settings import load_settings

    if host not in LOOPBACK_HOSTS:
        err.print(
            f"warning: the dashboard on {host} is reachable from other machines, without authentication; "
            "it shows run names, metrics and MLflow links (keep 127.0.0.1 unless you know why)",
            highlight=False,
        )
    settings = load_settings()
    with open_store(settings.db_url) as store:
        serve(store, host=host, port=port, tracking_uri=settings.tracking_uri, mlflow_ui_url=settings.mlflow_ui_url,
              ready=lambda url: err.print(f"dashboard on {url} (Ctrl-C stops it)", highlight=False))


@app.command("ui")
def ui(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 5000,
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="Open the leaderboard in the desktop's browser.")] = True,
) -> None:
    """Start the MLflow UI on arena's tracking store (127.0.0.1) and open it at the leaderboard."""
    from arena.dashboard import run_mlflow_ui
    from arena.dashboard.mlflow_ui import UiAddresses
    from arena.settings import load_settings

    settings = load_settings()

    def show(addresses: UiAddresses) -> None:
        leaderboard = addresses.leaderboard or "not published yet (arena leaderboard sync publishes it)"
        out.print(f"leaderboard: {leaderboard}\nruns table:  {addresses.runs_table}", highlight=False, markup=False)
        if settings.mlflow_ui_url.rstrip("/") != addresses.server:
            err.print(f"note: the dashboard's run links point at ARENA_MLFLOW_UI_URL={settings.mlflow_ui_url}, "
                      f"not this UI ({addresses.server})", highlight=False, markup=False)
        err.print(f"MLflow UI on {addresses.server} (Ctrl-C stops it)", highlight=False, markup=False)

    raise typer.Exit(run_mlflow_ui(settings, port=port, ready=show, open_browser=browser))


def main() -> None:
    """Run the CLI; a user's mistake prints one line and exits 2, a failed run exits 1, no traceback."""
    try:
        # Non-standalone mode returns (not raises) the code of a typer.Exit: pass it on.
        code = app(standalone_mode=False)
    except ArenaError as error:
        print_error(str(error))
        sys.exit(error.exit_code)
    except typer.Exit as exit_:  # raised outside click's own handling (a callback, say)
        sys.exit(exit_.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted", highlight=False)
        sys.exit(130)
    except OSError as error:  # a path that is not there or not writable, a full disk
        print_error(os_error_line(error))
        sys.exit(2 if error.errno in USER_FIXABLE_ERRNOS else 1)
    except typer.TyperException as error:  # typer's own click: usage errors, bad parameter values
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare `arena models`: its help, as click does
            error.show()
        else:
            print_error(usage_error_line(error))
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
