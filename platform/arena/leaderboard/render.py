"""Render a view's rows as a table (rich), JSON, CSV, Markdown or a self-contained HTML page."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from arena import jsontext
from arena.errors import UnknownNameError
from arena.leaderboard.views import COLUMNS

FORMATS = ("table", "json", "csv", "markdown", "html")
_HEADERS = {  # display headers for the human formats; JSON and CSV keep the field names
    "paper_top5_error": "paper top-5 %",
    "measured_top1_error": "measured top-1 %",
    "measured_top5_error": "measured top-5 %",
    "images_per_second": "images/s",
    "device_hours": "device hours",
    "extra_data": "extra data",
    "image_size": "image size",
    "run_name": "run name",
    "measured_on": "measured on",
}
_TITLES = {
    "ilsvrc": "ILSVRC classification: paper (challenge) figures beside arena's best measured run",
    "family": "Best measured run per family",
    "pareto": "Measured runs on the error-vs-GFLOPs frontier",
    "runs": "Measured runs",
    "reference": "Reference figures (papers and the challenge) with their sources",
}


def render(rows: Sequence[dict[str, Any]], fmt: str = "table", view: str | None = None) -> str:
    """Rows as text in `fmt`; `view` fixes the columns (and the header when there are no rows)."""
    if fmt not in FORMATS:
        raise UnknownNameError("format", fmt, FORMATS)
    if view is not None and view not in COLUMNS:
        raise UnknownNameError("leaderboard view", view, COLUMNS)
    columns = COLUMNS[view] if view else list(rows[0]) if rows else []
    if fmt == "json":
        return jsontext.dumps([{column: row.get(column) for column in columns} for row in rows], indent=2)
    if fmt == "csv":
        return _csv(rows, columns)
    title = _TITLES.get(view or "", "Leaderboard")
    cells = [[_cell(column, row.get(column)) for column in columns] for row in rows]
    headers = [_HEADERS.get(column, column) for column in columns]
    if fmt == "markdown":
        return _markdown(headers, cells)
    if fmt == "html":
        return _html(title, headers, cells)
    return _table(title, headers, cells)


def _cell(column: str, value: Any) -> str:
    """A value as display text: errors to 2 decimals, parameters in millions, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if column == "params" and isinstance(value, int):
        return f"{value / 1e6:.1f}M"
    if isinstance(value, float):
        if column in ("gflops", "device_hours"):
            return f"{value:.3g}"
        if column == "images_per_second":
            return f"{value:.0f}"
        return f"{value:.2f}"
    return str(value)


def _csv(rows: Sequence[dict[str, Any]], columns: list[str]) -> str:
    """Comma-separated values with a header row; nulls as empty fields."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _markdown(columns: list[str], cells: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""

    def line(values: list[str]) -> str:
        return "| " + " | ".join(value.replace("|", "\\|").replace("\n", " ") for value in values) + " |"

    return "\n".join([line(columns), "|" + "|".join(" --- " for _ in columns) + "|"] + [line(row) for row in cells])


def _table(title: str, columns: list[str], cells: list[list[str]]) -> str:
    """A rich table rendered to plain text (no colour codes, so it pipes cleanly)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold", max_width=40)
    for row in cells:
        table.add_row(*row)
    # Wide enough that no column folds below its cap, so ids and numbers stay on one line.
    widths = [min(40, max([len(column)] + [len(row[index]) for row in cells])) for index, column in enumerate(columns)]
    buffer = io.StringIO()
    width = max(80, len(title), sum(widths) + 3 * len(columns) + 1)
    Console(file=buffer, width=width, color_system=None, force_terminal=False, markup=False).print(table)
    return buffer.getvalue().rstrip("\n")


def _html(title: str, columns: list[str], cells: list[list[str]]) -> str:
    """A self-contained HTML page holding one table."""
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(value)}</td>" for value in row) + "</tr>" for row in cells)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>arena leaderboard: {html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.35rem 0.7rem; text-align: left; }}
th {{ background: #f4f4f4; position: sticky; top: 0; }}
tr:hover td {{ background: #fafafa; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""
