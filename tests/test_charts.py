"""The search runs' chart files: standalone SVG documents drawn by arena.charts, well-formed for any image viewer."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from arena.charts.searches import ChartPoint, NasChartPoint, nas_search_chart, scaling_search_chart
from arena.charts.svg import Point, Series, scatter_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_scaling_chart_draws_the_trained_trials_and_the_family() -> None:
    svg = scaling_search_chart(
        [ChartPoint(0.01, 40.0, "1.20/1.10/1.15"), ChartPoint(0.012, None, "never trained")],
        family_ratios=[(1, 1.0), (2, 2.1), (3, 4.3)], released_ratios=[(1, 1.0), (2, 1.8)], target=2.0, title="demo <&>",
    )
    root = ElementTree.fromstring(svg)  # well-formed XML, with its stylesheet inside: MLflow shows it as an image
    assert root.tag == f"{SVG}svg" and root.find(f"{SVG}style") is not None
    assert len(root.findall(f"{SVG}svg")) == 2  # the two panels
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "demo <&>" in texts and "1.20/1.10/1.15" in texts and "never trained" not in svg
    assert {"found family (measured)", "2^phi", "released EfficientNet B_phi / B0"} <= set(texts)


def test_nas_chart_marks_the_best_and_the_stopped_trials() -> None:
    points = [NasChartPoint(0.0015, 40.0, 0.6, "nas:a", True), NasChartPoint(0.003, 30.0, 0.7, "nas:b", True, best=True),
              NasChartPoint(0.002, 70.0, 0.3, "nas:c", False)]
    root = ElementTree.fromstring(nas_search_chart(points, target_gflops=None, title="unit"))
    classes = [element.get("class") for element in root.iter() if element.get("class")]
    assert classes.count("marker s-winner") == 2 and classes.count("marker s-stopped") == 2  # one of each per panel
    assert not any("s-target" in name for name in classes)  # no target line without a FLOPs target


def test_log_y_places_ratios_on_a_log_axis() -> None:
    series = [Series("family", "family", [Point(1, 1.0, title="a"), Point(2, 10.0, title="b"), Point(3, 100.0, title="c")])]
    svg = scatter_chart(series, "phi", "ratio", "chart", log_x=False, log_y=True)
    ys = [float(y) for y in re.findall(r'<circle class="marker s-family" cx="[0-9.]+" cy="([0-9.]+)"', svg)]
    assert len(ys) == 3 and abs((ys[0] - ys[1]) - (ys[1] - ys[2])) < 0.2  # equal steps for equal ratios
