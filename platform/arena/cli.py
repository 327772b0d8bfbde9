"""The `arena` command: parse, call one function of the layer below, print, set the exit code."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from arena.errors import ArenaError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="arena: the history of ImageNet classification as real distributed jobs.")
models_app = typer.Typer(no_args_is_help=True, help="The architecture zoo.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets.")
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")

# A pipe or a log gets wide tables instead of rich's 80-column default.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


class ListFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ResultFormat(str, Enum):
    text = "text"
    json = "json"


def _print_json(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


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
    out.print(f"[bold]{info.name}[/]  ({info.family}, {info.year})")
    out.print(f"paper:      {info.paper_title} — {info.paper_authors}")
    out.print(f"key idea:   {info.key_idea}")
    out.print(f"block:      {info.block}")
    out.print(f"params:     {_fmt(info.params)}")
    out.print(f"gflops:     {_fmt(info.gflops)} (multiply-accumulates at {info.input.resolution} px)")
    out.print(f"input:      {info.input.resolution} px native, {info.input.min_input} px smallest, crop {info.input.crop_pct}")
    out.print(f"paper top-1 / top-5 error: {_fmt(info.paper_top1_error, 1)}% / {_fmt(info.paper_top5_error, 1)}%")
    if info.notes:
        out.print(f"notes:      {info.notes}")


@data_app.command("prepare")
def data_prepare(
    dataset: Annotated[str, typer.Argument(help="The built-in dataset to write: digits.")],
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Target folder (default: $ARENA_HOME/data/digits).")] = None,
) -> None:
    """Write a built-in real dataset as an ImageNet-layout image folder."""
    from arena.data import default_digits_root, prepare_digits
    from arena.errors import UnknownNameError
    from arena.settings import load_settings

    if dataset != "digits":
        raise UnknownNameError("built-in dataset", dataset, ["digits"])
    root = prepare_digits(out_dir or default_digits_root(load_settings()))
    out.print(f"digits written to {root} (train/ and val/, one folder per class)")


@app.command("train")
def train(
    spec_paths: Annotated[list[Path], typer.Argument(metavar="SPEC.yaml...", help="One job spec, or a lineup run one after another.")],
    set_: Annotated[list[str], typer.Option("--set", help="Override a spec field: key.path=value.")] = [],
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue this MLflow run from its last checkpoint.")] = None,
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
    if len(specs) == 1:
        results = [run_training(specs[0], resume_run_id=resume, verbose=verbose)]
    else:
        results = run_lineup(specs, verbose=verbose)
    if format is ResultFormat.json:
        _print_json(results[0].to_json() if len(results) == 1 else [r.to_json() for r in results])
        return
    for spec, result in zip(specs, results):
        err.print(
            f"[bold green]done[/] {spec.name}: run {result.run_id}, {result.epochs} epochs, "
            f"val top-1 error {_fmt(result.val_top1_error)}%, top-5 error {_fmt(result.val_top5_error)}%",
            highlight=False,
        )


def main() -> None:
    """Run the CLI; user-fixable problems print one line (no traceback) and exit 2."""
    try:
        app(standalone_mode=False)
    except ArenaError as error:
        err.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(error.exit_code)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as error:  # click's usage errors
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
