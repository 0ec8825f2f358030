"""Input series as inline SVG: the matplotlib plot and the hand-written fallback."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from cds_hooks.explainer import plots

SVG = "{http://www.w3.org/2000/svg}"
HISTORY = [  # newest first, as FeatureSet.history keeps it
    [231.0, "mg/dL", "2025-05-01", "Observation/c"],
    [True, None, "2025-04-01", "Observation/flag"],  # not a number: not plotted
    [float("nan"), "mg/dL", "2025-03-01", "Observation/nan"],
    [200, "mg/dL", None, "Observation/undated"],
    [213.0, "mg/dL", "2024-03-02T09:30:00+01:00", "Observation/b"],
    [190.5, "mg/dL", "2023-01-15", "Observation/a"],
]


def test_points_are_numeric_dated_oldest_first_and_the_used_one_is_marked():
    points = plots.points_from_history(HISTORY, "2025-05-01", "Observation/c")
    assert [p.value for p in points] == [190.5, 213.0, 231.0]
    assert [p.used for p in points] == [False, False, True]
    assert points[1].when.hour == 8  # time zones normalised to UTC


def test_the_matplotlib_plot_is_a_bare_scalable_svg():
    pytest.importorskip("matplotlib")
    points = plots.points_from_history(HISTORY, "2025-05-01", "Observation/c")
    svg = plots.series_svg(points, unit="mg/dL", label="Total <cholesterol> over time", salt="t1")
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg" and "width" not in root.attrib and "viewBox" in root.attrib
    assert root.attrib["aria-label"] == "Total <cholesterol> over time"
    assert "mg/dL" in svg  # the axis says the unit
    assert "<script" not in svg and "<?xml" not in svg


def test_plot_ids_differ_between_plots_on_one_page():
    pytest.importorskip("matplotlib")
    points = plots.points_from_history(HISTORY, None, None)
    first = ET.fromstring(plots.series_svg(points, unit="mg/dL", label="a", salt="plot-0-1"))
    second = ET.fromstring(plots.series_svg(points, unit="mg/dL", label="a", salt="plot-0-2"))
    ids = lambda root: {e.attrib["id"] for e in root.iter() if "id" in e.attrib}  # noqa: E731
    assert ids(first) and not ids(first) & ids(second)


def test_the_fallback_plot_draws_every_point_and_rings_the_one_used(monkeypatch):
    monkeypatch.setattr(plots, "matplotlib", None)
    points = plots.points_from_history(HISTORY, "2024-03-02T09:30:00+01:00", "Observation/b")
    svg = plots.series_svg(points, unit="mg/<dL>", label="A & B", salt="x")
    root = ET.fromstring(svg)  # well-formed, escaped
    circles = root.findall(SVG + "circle")
    assert len(circles) == len(points) + 1  # one ring around the value used
    assert len(root.findall(SVG + "polyline")) == 1
    texts = [t.text for t in root.findall(SVG + "text")]
    assert "231 mg/<dL>" in texts and "2023-01-15" in texts and "2025-05-01" in texts


def test_one_point_and_no_point():
    single = plots.points_from_history([[5.0, "%", "2025-01-01", "Observation/x"]], None, None)
    assert ET.fromstring(plots.plain_svg(single, unit="%", label="x")).findall(SVG + "circle")
    assert plots.series_svg([], unit="%", label="x", salt="s") == ""
