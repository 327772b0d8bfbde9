"""The leaderboard, its dashboard and the MLflow UI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from arena.cli.base import app, leaderboard_app
from arena.errors import ArenaError, mask_secrets
from arena.terminal import err, out

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
            from arena.webpage import render_page

            text = render_page(store, dataset, family, settings.mlflow_ui_url, tracking_uri=settings.tracking_uri)
        else:
            rows = show(store, view, dataset=dataset, family=family, limit=limit, offset=offset)
            text = mask_secrets(render(rows, format, view))  # table, csv and json: the one detector, as every printer
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
    from arena.training.grown_models import make_all_resolvable
    from arena.webpage import publish_leaderboard_to_mlflow

    settings = load_settings()
    make_all_resolvable(tracking_uri=settings.tracking_uri, home=settings.home)  # grown models join `architectures`
    with open_store(settings.db_url) as store:
        report = sync_runs(store, settings.tracking_uri, full=full, home=settings.home)
        # The same ranking inside MLflow, for people who live in its UI: the `leaderboard` experiment.
        publish_leaderboard_to_mlflow(
            store, settings.tracking_uri, artifact_root=settings.artifact_root, mlflow_ui_url=settings.mlflow_ui_url
        )
    for refused in report.refused:
        err.print(f"warning: {refused.line()}", highlight=False, markup=False)
    err.print(
        f"leaderboard synced from {mask_secrets(settings.tracking_uri)}{' (every run)' if report.full else ''}: "
        f"{report.added} added, {report.updated} updated, {report.removed} removed, {report.skipped} skipped",
        highlight=False,
    )


@app.command("dashboard")
def dashboard(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free one).")] = 8050,
    host: Annotated[str, typer.Option("--host", help="Address to bind (keep 127.0.0.1 unless you know why).")] = "127.0.0.1",
    allowed_host: Annotated[
        Optional[list[str]],
        typer.Option("--allowed-host", help="A host name browsers use to reach the page, besides loopback and --host (repeatable)."),
    ] = None,
    server: Annotated[
        str, typer.Option("--server", help="auto (threaded on loopback, gunicorn elsewhere) | threaded | gunicorn."),
    ] = "auto",
) -> None:
    """Serve the leaderboard dashboard until Ctrl-C."""
    from arena.leaderboard import open_store
    from arena.settings import load_settings
    from arena.webpage import is_loopback, make_dashboard_server, serve

    if server not in ("auto", "threaded", "gunicorn"):
        raise ArenaError(f"--server: unknown server {server!r}; valid: auto, threaded, gunicorn")
    if not is_loopback(host):
        err.print(
            f"warning: the dashboard on {host} is reachable from other machines, without authentication or TLS; "
            "it shows run names, metrics and MLflow links. Put a reverse proxy with both in front of it "
            "(docs/leaderboard.md, \"Serving a team\")",
            highlight=False, markup=False,
        )
    settings = load_settings()

    def announce(url: str) -> None:
        err.print(f"dashboard on {url} (Ctrl-C stops it)", highlight=False, markup=False)

    if server == "gunicorn" or (server == "auto" and not is_loopback(host)):
        from arena.webpage.wsgi import serve_with_gunicorn

        with open_store(settings.db_url):  # a database that cannot be opened: one line here, not in every worker
            pass
        serve_with_gunicorn(settings, host=host, port=port, allowed_hosts=allowed_host or (), ready=announce)
        return
    with open_store(settings.db_url) as store:
        threaded = make_dashboard_server(store, host=host, port=port, tracking_uri=settings.tracking_uri,
                                         mlflow_ui_url=settings.mlflow_ui_url, allowed_hosts=allowed_host or ())
        serve(threaded, ready=announce)


@app.command("ui")
def ui(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 5000,
    browser: Annotated[bool, typer.Option("--browser/--no-browser", help="Open the leaderboard in the desktop's browser.")] = True,
) -> None:
    """Start the MLflow UI on arena's tracking store (127.0.0.1) and open it at the leaderboard."""
    from arena.webpage import run_mlflow_ui
    from arena.webpage.mlflow_ui import UiAddresses
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
