"""Charts as SVG, drawn from plain numbers: grouped bars by year and scatter/line plots.

Pure functions of their inputs, no JavaScript needed: the same markup serves the live dashboard, the
self-contained HTML file and the search runs' chart artifacts. Colours come from CSS classes
(`s-<series>`) that `charts.css` styles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources

WIDTH, HEIGHT = 760, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 40, 56  # plot margins: axis labels left and below, legend above


@dataclass(frozen=True)
class Point:
    """One marker: its position, the text of its tooltip, an optional label and link."""

    x: float
    y: float
    title: str
    label: str = ""
    href: str | None = None


@dataclass(frozen=True)
class Series:
    """Markers of one kind, optionally joined by a line; `name` goes in the legend, `css` picks the colour."""

    name: str
    css: str
    points: Sequence[Point]
    marker: str = "circle"  # circle | square | diamond | none
    line: str = ""  # "" | solid | dashed | step
    labels: bool = False


@dataclass(frozen=True)
class Bar:
    """One year's group of bars: paper figure and measured figure, each optional."""

    category: str
    caption: str
    values: dict[str, float | None] = field(default_factory=dict)  # series css -> value
    titles: dict[str, str] = field(default_factory=dict)
    hrefs: dict[str, str | None] = field(default_factory=dict)


def stylesheet() -> str:
    """The charts' CSS (colours, lines and text by class), to inline beside their markup."""
    return resources.files(__package__).joinpath("charts.css").read_text(encoding="utf-8")


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """Points no other point beats on both x (cost) and y (error), by increasing x."""
    front: list[Point] = []
    for point in sorted(points, key=lambda p: (p.x, p.y)):
        if not front or point.y < front[-1].y:
            front.append(point)
    return front


def bar_chart(bars: Sequence[Bar], legend: Sequence[tuple[str, str]], y_label: str, chart_id: str) -> str:
    """Grouped vertical bars, one group per category; `legend` lists (css, name) in bar order."""
    top = max([value for bar in bars for value in bar.values.values() if value is not None] or [1.0])
    y_ticks = _linear_ticks(0.0, top * 1.1)
    y_max = y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(chart_id, y_label, "")
    parts += _y_axis(y_ticks, lambda v: TOP + plot_h * (1 - v / y_max))
    group = plot_w / max(len(bars), 1)
    width = min(28.0, group * 0.8 / max(len(legend), 1))
    for index, bar in enumerate(bars):
        center = LEFT + group * (index + 0.5)
        parts.append(_text(center, HEIGHT - BOTTOM + 18, bar.category, "tick"))
        parts.append(_text(center, HEIGHT - BOTTOM + 32, bar.caption, "caption"))
        for slot, (css, _name) in enumerate(legend):
            value = bar.values.get(css)
            x = center - width * len(legend) / 2 + slot * width
            if value is None:
                parts.append(_text(x + width / 2, TOP + plot_h - 4, "–", f"missing s-{css}"))
                continue
            y = TOP + plot_h * (1 - value / y_max)
            rect = (f'<rect class="bar s-{css}" x="{x:.1f}" y="{y:.1f}" width="{width - 2:.1f}" '
                    f'height="{TOP + plot_h - y:.1f}"><title>{escape(bar.titles.get(css, ""))}</title></rect>')
            parts.append(_link(bar.hrefs.get(css), rect))
            parts.append(_text(x + width / 2 - 1, y - 4, f"{value:.1f}", "value"))
    parts += _legend([(name, css, "square", "") for css, name in legend])
    return _close(parts)


def scatter_chart(
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    chart_id: str,
    *,
    log_x: bool = True,
    log_y: bool = False,
    empty: str = "no data yet",
) -> str:
    """Markers (and lines) of several series on shared axes; x on a log scale unless told otherwise, y linear unless told."""
    points = [point for one in series for point in one.points if _finite(point, log_x, log_y)]
    parts = _frame(chart_id, y_label, x_label)
    if not points:
        parts.append(_text(WIDTH / 2, HEIGHT / 2, empty, "empty"))
        parts += _legend([(one.name, one.css, one.marker, one.line) for one in series])
        return _close(parts)
    xs, ys = [p.x for p in points], [p.y for p in points]
    x_ticks = _log_ticks(min(xs), max(xs)) if log_x else _linear_ticks(min(xs), max(xs))
    y_ticks = _log_ticks(min(ys), max(ys)) if log_y else _linear_ticks(min(ys), max(ys))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x_scale = math.log10 if log_x else float
    y_scale = math.log10 if log_y else float

    def to_x(value: float) -> float:
        return LEFT + plot_w * _fraction(value, x_ticks, x_scale)

    def to_y(value: float) -> float:
        return TOP + plot_h * (1 - _fraction(value, y_ticks, y_scale))

    parts += _y_axis(y_ticks, to_y)
    for tick in x_ticks:
        x = to_x(tick)
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}"/>')
        parts.append(_text(x, TOP + plot_h + 16, _number(tick), "tick"))
    for one in series:
        shown = [p for p in one.points if _finite(p, log_x, log_y)]
        if one.line and len(shown) > 1:
            parts.append(_polyline(shown, one, to_x, to_y))
        for point in shown:
            x, y = to_x(point.x), to_y(point.y)
            marker = _marker(one.marker, x, y, one.css, point.title)
            parts.append(_link(point.href, marker))
            if one.labels and point.label:
                near_right = x > WIDTH - RIGHT - 110  # keep the label inside the plot
                parts.append(_text(x - 6 if near_right else x + 6, y - 6, point.label, f"label s-{one.css}",
                                   anchor="end" if near_right else "start"))
    parts += _legend([(one.name, one.css, one.marker, one.line) for one in series])
    return _close(parts)


def figure(title: str, panels: Sequence[tuple[str, str]]) -> str:
    """A standalone SVG document: `title` over (panel title, chart markup) panels side by side, its stylesheet inside."""
    top = 60  # the figure's title, then each panel's
    width, height = WIDTH * len(panels), top + HEIGHT
    parts = [
        f'<svg class="figure" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        f"<style><![CDATA[\n{stylesheet()}]]></style>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
        _text(width / 2, 24, title, "figure-title"),
    ]
    for index, (name, chart) in enumerate(panels):
        parts.append(_text(WIDTH * (index + 0.5), 52, name, "panel-title"))
        parts.append(chart.replace("<svg ", f'<svg x="{WIDTH * index}" y="{top}" width="{WIDTH}" height="{HEIGHT}" ', 1))
    return _close(parts)


def _frame(chart_id: str, y_label: str, x_label: str) -> list[str]:
    """The SVG root, the plot area's border and the axis titles."""
    plot_h = HEIGHT - TOP - BOTTOM
    return [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{plot_h}"/>',
        f'<text class="axis-title" transform="translate(16 {TOP + plot_h / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>',
        _text(LEFT + (WIDTH - LEFT - RIGHT) / 2, HEIGHT - 12, x_label, "axis-title"),
    ]


def _y_axis(ticks: Sequence[float], to_y: Callable[[float], float]) -> list[str]:
    """Horizontal grid lines with their labels."""
    parts = []
    for tick in ticks:
        y = to_y(tick)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(_text(LEFT - 6, y + 4, _number(tick), "tick", anchor="end"))
    return parts


def _legend(entries: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """One row of (name, css, marker, line) entries above the plot: a line sample for line-only series."""
    parts, x = [], LEFT
    for name, css, marker, line in entries:
        if marker == "none" and line:
            parts.append(f'<line class="line {line} s-{css}" x1="{x - 2}" y1="18" x2="{x + 12}" y2="18"/>')
        else:
            parts.append(_marker(marker, x + 5, 18, css, name, role="key"))
        parts.append(_text(x + 16, 22, name, "legend", anchor="start"))
        x += 28 + 6.5 * len(name)
    return parts


def _marker(kind: str, x: float, y: float, css: str, title: str, role: str = "marker") -> str:
    """A marker shape centred on (x, y) with a tooltip; `role` is `marker` on the plot, `key` in the legend."""
    tip = f"<title>{escape(title)}</title>"
    if kind == "square":
        return f'<rect class="{role} s-{css}" x="{x - 4.5:.1f}" y="{y - 4.5:.1f}" width="9" height="9">{tip}</rect>'
    if kind == "diamond":
        shape = f"{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} {x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}"
        return f'<polygon class="{role} s-{css}" points="{shape}">{tip}</polygon>'
    if kind == "none":
        return ""
    return f'<circle class="{role} s-{css}" cx="{x:.1f}" cy="{y:.1f}" r="5">{tip}</circle>'


def _polyline(
    points: Sequence[Point], series: Series, to_x: Callable[[float], float], to_y: Callable[[float], float]
) -> str:
    """The series' line through its points in order; `step` draws a staircase (best so far)."""
    coordinates: list[tuple[float, float]] = []
    for point in points:
        x, y = to_x(point.x), to_y(point.y)
        if series.line == "step" and coordinates:
            coordinates.append((x, coordinates[-1][1]))
        coordinates.append((x, y))
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    return f'<polyline class="line {series.line} s-{series.css}" points="{path}"/>'


def _link(href: str | None, inner: str) -> str:
    """Wrap markup in a link when there is somewhere to go."""
    return f'<a href="{escape(href)}" target="_blank" rel="noopener">{inner}</a>' if href else inner


def _text(x: float, y: float, text: str, css: str, anchor: str = "middle") -> str:
    """Escaped SVG text."""
    return f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'


def _close(parts: list[str]) -> str:
    """The finished SVG markup."""
    return "\n".join([*parts, "</svg>"])


def _finite(point: Point, log_x: bool, log_y: bool) -> bool:
    """True when a point can be placed (and is positive along a log axis)."""
    return math.isfinite(point.x) and math.isfinite(point.y) and (point.x > 0 or not log_x) and (point.y > 0 or not log_y)


def _fraction(value: float, ticks: Sequence[float], scale: Callable[[float], float]) -> float:
    """Where `value` lies between the first and last tick, 0 to 1, on the axis' scale."""
    span = scale(ticks[-1]) - scale(ticks[0]) or 1.0
    return (scale(value) - scale(ticks[0])) / span


def _log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks spanning [low, high] on a log axis."""
    start, stop = math.floor(math.log10(low)), math.ceil(math.log10(high))
    candidates = [m * 10.0**e for e in range(start, stop + 1) for m in (1, 2, 5)]
    below = [t for t in candidates if t <= low]
    above = [t for t in candidates if t >= high]
    first, last = (below[-1] if below else candidates[0]), (above[0] if above else candidates[-1])
    ticks = [t for t in candidates if first <= t <= last]
    return ticks if len(ticks) > 1 else [first / 2, first * 2]


def _linear_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round-numbered ticks spanning [low, high]."""
    if high <= low:
        low, high = low - 1.0, high + 1.0
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = [first]
    while ticks[-1] < high - 1e-9:
        ticks.append(ticks[-1] + step)
    return [round(t, 10) for t in ticks]


def _number(value: float) -> str:
    """A tick label without needless decimals (0.0015, not 2e-03: neighbouring small ticks stay distinct)."""
    return f"{value:g}"
