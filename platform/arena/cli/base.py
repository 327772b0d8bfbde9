"""What every `arena` command shares: the Typer apps, common options, output formats and printers."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from arena import jsontext
from arena.errors import mask_json
from arena.terminal import err, out

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
cluster_app = typer.Typer(no_args_is_help=True, help="Would a job run on this Ray cluster? (checked from the laptop)")
app.add_typer(cluster_app, name="cluster")

AddressOption = Annotated[
    Optional[str],
    typer.Option("--address", help="The cluster's dashboard URL (default: RAY_API_SERVER_ADDRESS, RAY_ADDRESS, http://127.0.0.1:8265)."),
]



class ListFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ResultFormat(str, Enum):
    text = "text"
    json = "json"


def _print_json(payload: object) -> None:
    """A command's JSON on stdout: strict JSON (a number that is not finite is null), every secret masked (`errors.mask_json`)."""
    sys.stdout.write(jsontext.dumps(mask_json(payload), indent=2) + "\n")


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



def _print_run_page(run_id: str) -> None:
    """The line naming the run's page in the MLflow UI (its Model-training view), on stderr."""
    from arena.webpage.mlflow_links import run_page
    from arena.settings import load_settings

    settings = load_settings()
    err.print(f"  MLflow: {run_page(settings.tracking_uri, settings.mlflow_ui_url, run_id)}", highlight=False, markup=False)
