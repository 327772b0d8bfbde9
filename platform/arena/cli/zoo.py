"""The zoo, data, training, evaluation and search commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from arena.cli.base import (
    ListFormat, ResultFormat, _fmt, _print_json, _print_result, _print_run_page, app, data_app, models_app, search_app,
)
from arena.errors import ArenaError, UnknownNameError
from arena.terminal import err, out


@models_app.command("list")
def models_list(
    family: Annotated[Optional[str], typer.Option(help="Only this family.")] = None,
    format: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """Every registered architecture with its paper facts, params and gflops."""
    from arena import models
    from arena.settings import load_settings
    from arena.training.grown_models import make_all_resolvable

    settings = load_settings()
    make_all_resolvable(tracking_uri=settings.tracking_uri, home=settings.home)  # the grown models MLflow holds
    records = [info.to_record() for info in models.list_models(family=family, home=settings.home)]
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
    from arena.settings import load_settings
    from arena.training.grown_models import make_resolvable

    settings = load_settings()
    make_resolvable([name], tracking_uri=settings.tracking_uri, home=settings.home)  # a grown model: from MLflow
    info = models.get_model_info(name, settings.home)
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
    from arena.settings import load_settings
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

    settings = load_settings()
    if len(specs) == 1:
        results = [run_training(specs[0], settings, resume_run_id=resume, force_resume=force, verbose=verbose,
                                announce=announce)]
    else:
        results = run_lineup(specs, settings, verbose=verbose, announce=announce)
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



SearchSpecArgument = Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="The search spec.")]
SetOption = Annotated[list[str], typer.Option("--set", help="Override a spec field: key.path=value.")]
FormatOption = Annotated[ResultFormat, typer.Option("--format", help="text or json.")]
SearchVerboseOption = Annotated[bool, typer.Option("--verbose", help="Show Ray's and Tune's own logs.")]
SearchResumeOption = Annotated[Optional[str], typer.Option("--resume", help="Continue the search of this MLflow run (its parent run) from its Tune state.")]
SearchForceOption = Annotated[bool, typer.Option("--force", help="With --resume: continue a search MLflow still shows RUNNING (check first that its driver is dead).")]


@search_app.command("scaling")
def search_scaling(spec_path: SearchSpecArgument, set_: SetOption = [], format: FormatOption = ResultFormat.text,
                   verbose: SearchVerboseOption = False, resume: SearchResumeOption = None,
                   force: SearchForceOption = False) -> None:
    """EfficientNet-style compound scaling: find alpha, beta, gamma on Ray Tune, then grow the family."""
    from arena.search.scaling.plan import search_scaling
    from arena.search.scaling.report import render_scaling_result

    _run_search(search_scaling, render_scaling_result, spec_path, set_, format, verbose, resume, force)


@search_app.command("nas")
def search_nas(spec_path: SearchSpecArgument, set_: SetOption = [], format: FormatOption = ResultFormat.text,
               verbose: SearchVerboseOption = False, resume: SearchResumeOption = None,
               force: SearchForceOption = False) -> None:
    """MnasNet-style architecture search on Ray Tune; the best is saved as nas:<id>."""
    from arena.search.nas.plan import search_nas
    from arena.search.nas.report import render_nas_result

    _run_search(search_nas, render_nas_result, spec_path, set_, format, verbose, resume, force)


def _run_search(
    search: Callable[..., Any], render: Callable[[Any], str], spec_path: Path, overrides: list[str],
    format: ResultFormat, verbose: bool, resume: str | None, force: bool,
) -> None:
    """Run (or continue) a search, measure its winner on val/ once it has chosen, print the result."""
    from arena.evaluation.runner import winner_val_error
    from arena.search.core.skeleton import Continuation
    from arena.settings import load_settings

    if force and not resume:
        raise typer.BadParameter("--force goes with --resume", param_hint="--force")
    settings = load_settings()
    result = search(spec_path, overrides, settings, verbose=verbose,
                    resume=Continuation(resume, force) if resume else None)
    result = replace(result, winner_val_top1_error=winner_val_error(result.winner_run_id, settings))
    _print_result(result, format, render, result.parent_run_id)


DataRootOption = Annotated[Optional[Path], typer.Option("--data", help="Evaluate on this image folder's val/ instead of the run's own data.")]
CropsOption = Annotated[int, typer.Option("--crops", help="1 (centre crop) or 10 (corners, centre and their flips).")]
TopOption = Annotated[int, typer.Option("--top", help="How many of the hardest classes to show.")]
WorkersOption = Annotated[Optional[int], typer.Option("--workers", help="Ray tasks to shard the val set over (default: by size).")]


ClusterOption = Annotated[Optional[str], typer.Option("--address", help="Run it as a job on this Ray cluster (its dashboard URL), where the data is.")]
ResultLineOption = Annotated[bool, typer.Option("--result-line", hidden=True, help="Print the result as one ARENA-RESULT line (a job's, for the submitting machine).")]


def _print_evaluation(result: object, format: ResultFormat, result_line: bool = False) -> None:
    from arena.evaluation import render_evaluation

    if result_line:
        from arena.cluster.remote import result_line as line

        out.print(line(result.to_json()), highlight=False, markup=False, soft_wrap=True)
        return
    _print_result(result, format, render_evaluation, result.eval_run_id)


def _evaluate_on_cluster(address: str, command: list[str], arguments: list[str], name: str, format: ResultFormat) -> None:
    """Run `arena eval`/`arena ensemble` as a job on the cluster and print its result as the local command would."""
    from arena.cluster.remote import run_as_job
    from arena.evaluation import EvaluationResult

    def announce(submission: Any) -> None:
        err.print(f"job {submission.job_id}: {' '.join(command)} on the cluster at {address}", highlight=False, markup=False)

    payload = run_as_job(address, command, arguments, name=name, kind=command[0], announce=announce,
                         printer=lambda line: err.out(line, highlight=False))
    _print_evaluation(EvaluationResult.from_json(payload), format)


def _eval_arguments(data: Path | None, crops: int, top: int, workers: int | None) -> list[str]:
    """The options an evaluation job runs with on the cluster (a --data path is the cluster's)."""
    words = ["--crops", str(crops), "--top", str(top)]
    words += ["--data", str(data)] if data is not None else []
    return words + (["--workers", str(workers)] if workers is not None else [])


@app.command("eval")
def evaluate(
    run_id: Annotated[str, typer.Argument(help="The MLflow run to evaluate.")],
    data: DataRootOption = None,
    crops: CropsOption = 1,
    top: TopOption = 10,
    workers: WorkersOption = None,
    format: Annotated[ResultFormat, typer.Option("--format", help="text or json.")] = ResultFormat.text,
    address: ClusterOption = None,
    result_line: ResultLineOption = False,
) -> None:
    """Evaluate a trained run: top-1/top-5 error, per-class error and the hardest classes."""
    from arena.evaluation import EvalOptions, evaluate_run
    from arena.settings import load_settings

    if address is not None:
        _evaluate_on_cluster(address, ["eval"], [run_id, *_eval_arguments(data, crops, top, workers)], f"eval {run_id}", format)
        return
    result = evaluate_run(run_id, load_settings(), EvalOptions(data_root=data, crops=crops, top=top, workers=workers))
    _print_evaluation(result, format, result_line)


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
    address: ClusterOption = None,
    result_line: ResultLineOption = False,
) -> None:
    """Fuse several runs' predictions on the same val set (Trimps-Soushen style) and evaluate the fusion."""
    from arena.evaluation import EvalOptions, ensemble_runs
    from arena.settings import load_settings

    if address is not None:
        options = [word for weight in weights or [] for word in ("--weights", str(weight))]
        options += ["--method", method] if method else []
        _evaluate_on_cluster(address, ["ensemble"], [*run_ids, *options, *_eval_arguments(data, crops, top, workers)],
                             "ensemble " + "+".join(run_ids), format)
        return
    result = ensemble_runs(run_ids, load_settings(), weights=weights, method=method,
                           options=EvalOptions(data_root=data, crops=crops, top=top, workers=workers))
    _print_evaluation(result, format, result_line)
