"""The dashboard page: tables and inline-SVG charts in one self-contained HTML document.

The live server and `arena leaderboard show --format html` render the same page; only the live one
carries the filter form (a static file cannot re-query the database).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import jinja2
from markupsafe import Markup

from arena.charts.svg import Bar, Point, Series, bar_chart, pareto_front, scatter_chart, stylesheet
from arena.leaderboard import Store
from arena.leaderboard.views import PAIRED_DATASET
from arena.webpage.assets import read_asset
from arena.webpage.data import DEFAULT_MLFLOW_UI_URL, Dashboard, load_dashboard

_ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_page(
    store: Store,
    dataset: str | None = None,
    family: str | None = None,
    mlflow_ui_url: str = DEFAULT_MLFLOW_UI_URL,
    *,
    tracking_uri: str | None = None,
    live: bool = False,
) -> str:
    """The dashboard as one HTML document; `tracking_uri` adds MLflow's searches and exact run links."""
    data = load_dashboard(store, dataset, family, tracking_uri=tracking_uri, mlflow_ui_url=mlflow_ui_url)
    return render_dashboard(data, mlflow_ui_url=mlflow_ui_url, live=live)


def render_dashboard(data: Dashboard, *, mlflow_ui_url: str = DEFAULT_MLFLOW_UI_URL, live: bool = False) -> str:
    """The page for already-gathered data (inline CSS, JavaScript and SVG)."""
    template = _ENVIRONMENT.from_string(read_asset("page.html.j2"))
    css, script = _inline_style_and_script()
    return template.render(
        data=data, live=live, mlflow_ui_url=mlflow_ui_url.rstrip("/"), fmt=_format, css=Markup(css), script=Markup(script),
        year_chart=Markup(year_chart(data)), cost_charts={axis: Markup(cost_chart(data, axis)) for axis in ("gflops", "params")},
        scaling_charts=[(search, Markup(scaling_chart(search))) for search in data.scaling_searches],
        nas_charts=[(search, Markup(nas_chart(search))) for search in data.nas_searches],
    )


def content_security_policy() -> str:
    """The page's Content-Security-Policy: its own inline style and script (by hash), nothing fetched, never framed."""
    css, script = _inline_style_and_script()
    return (f"default-src 'none'; style-src '{_sha256(css)}'; script-src '{_sha256(script)}'; img-src data:; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def _inline_style_and_script() -> tuple[str, str]:
    """The text of the page's one <style> and one <script> element, exactly as the template writes them."""
    return stylesheet() + read_asset("dashboard.css"), read_asset("dashboard.js")


def _sha256(text: str) -> str:
    """A CSP hash source for an inline element's text."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def year_chart(data: Dashboard) -> str:
    """Top-5 error of each ILSVRC year's winner: the challenge's figure beside arena's measured one."""
    bars = []
    for row in data.ilsvrc:
        if row["place"] != 1:
            continue
        measured = row["measured_top5_error"]
        paper_title = f"{row['year']} {row['team']}: {row['entry']} — top-5 error {row['paper_top5_error']:.2f}% (challenge test set)"
        measured_title = (f"{row['measured_model']} on {row['dataset']}: top-5 error {measured:.2f}% (run {row['run_id']})"
                          if measured is not None else "not measured")
        bars.append(Bar(
            category=str(row["year"]), caption=_short(row["team"], 14),
            values={"paper": row["paper_top5_error"], "measured": measured},
            titles={"paper": paper_title, "measured": measured_title}, hrefs={"measured": row.get("run_url")},
        ))
    legend = [("paper", "paper (ILSVRC test set)"), ("measured", f"measured ({PAIRED_DATASET})")]
    return bar_chart(bars, legend, "top-5 error (%)", "chart-years")


def cost_chart(data: Dashboard, axis: str) -> str:
    """Top-1 error against GFLOPs (or parameters), paper and measured points each with their Pareto front."""
    def cost(row: dict[str, Any]) -> float | None:
        value = row.get(axis)
        return None if value is None else (value / 1e6 if axis == "params" else float(value))

    unit = "GFLOPs (multiply-accumulates), log scale" if axis == "gflops" else "parameters (millions), log scale"
    paper = [
        Point(cost(row), row["paper_top1_error"], label=row["name"],
              title=f"{row['name']} ({row['family']}, {row['year']}): paper top-1 error {row['paper_top1_error']:.1f}%, "
                    f"{_fmt_cost(row)}" + (f" — {row['source']}" if row.get("source") else ""))
        for row in data.paper_points if cost(row) is not None
    ]
    measured = [
        Point(cost(row), row["measured_top1_error"], label=row["model"], href=row.get("run_url"),
              title=f"{row['model']} on {data.dataset}: measured top-1 error {row['measured_top1_error']:.2f}%, "
                    f"{_fmt_cost(row)}, {row['epochs'] or '?'} epochs (run {row['run_id']})")
        for row in data.measured_points if cost(row) is not None
    ]
    series = [
        Series("paper (ImageNet val)", "paper", paper, marker="square"),
        Series("paper Pareto front", "paper-front", pareto_front(paper), marker="none", line="solid", labels=True),
        Series(f"measured ({data.dataset})", "measured", measured, marker="circle", labels=True),
        Series("measured Pareto front", "measured-front", pareto_front(measured), marker="none", line="dashed"),
    ]
    return scatter_chart(series, unit, "top-1 error (%)", f"chart-cost-{axis}")


def scaling_chart(search: dict[str, Any]) -> str:
    """A compound-scaling search: each trial's error (on what it was measured) against its GFLOPs, and the scaled family once trained."""
    trials = [
        Point(trial["gflops"], trial["val_top1_error"], href=trial["run_url"], label=trial["name"],
              title=f"{trial['name']} ({trial['status']}): {trial['val_top1_error']:.2f}% on {trial['measured_on']} "
                    f"at {trial['gflops']:.3g} GFLOPs")
        for trial in search["trials"] if trial["gflops"] is not None and trial["val_top1_error"] is not None
    ]
    measured_on = {trial["measured_on"] for trial in search["trials"]}
    error_axis = f"{measured_on.pop()} top-1 error (%)" if len(measured_on) == 1 else "top-1 error (%)"
    family = [
        Point(member["gflops"], member["measured_top1_error"], label=f"φ={member['phi']}", href=member["run_url"],
              title=f"{member['model']}: measured {member['measured_top1_error']:.2f}% at {member['gflops']:.3g} GFLOPs")
        for member in search["scaled_family"] if member["measured_top1_error"] is not None
    ]
    series = [Series("trials (φ = 1)", "trial", trials), Series("scaled family, trained", "family", family,
                                                                marker="diamond", line="solid", labels=True)]
    return scatter_chart(series, "GFLOPs, log scale", error_axis, f"chart-scaling-{search['run_id']}",
                         empty="no trial has finished yet")


def nas_chart(search: dict[str, Any]) -> str:
    """A NAS: each trial's reward in the order the trials started, and the best reward so far."""
    rewards = [(index, trial) for index, trial in enumerate(search["trials"], start=1) if trial["reward"] is not None]
    points = [Point(index, trial["reward"], href=trial["run_url"],
                    title=f"trial {index} {trial['name']} ({trial['status']}): reward {trial['reward']:.4g}")
              for index, trial in rewards]
    best: list[Point] = []
    for point in points:
        if not best or point.y > best[-1].y:
            best.append(Point(point.x, point.y, title=f"best so far: {point.y:.4g} at trial {point.x:g}"))
    if best and points and best[-1].x < points[-1].x:
        best.append(Point(points[-1].x, best[-1].y, title=best[-1].title))
    series = [Series("reward", "reward", points), Series("best so far", "best", best, marker="none", line="step")]
    return scatter_chart(series, "trial", "reward", f"chart-nas-{search['run_id']}", log_x=False,
                         empty="no trial has reported a reward yet")


def _format(value: Any, kind: str = "error") -> str:
    """A table cell: errors to 2 decimals, params in millions, GFLOPs to 3 significant digits."""
    if value is None:
        return ""
    if kind == "params":
        return f"{value / 1e6:.1f}M"
    if kind == "gflops":
        return f"{value:.3g}"
    if kind == "int":
        return f"{value:.0f}"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _fmt_cost(row: dict[str, Any]) -> str:
    """GFLOPs and parameters as one phrase."""
    params = f", {row['params'] / 1e6:.1f}M params" if row.get("params") else ""
    return f"{row['gflops']:.3g} GFLOPs{params}"


def _short(text: str, width: int) -> str:
    """Text cut to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"
