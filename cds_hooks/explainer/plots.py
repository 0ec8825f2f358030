"""Each input over time as an inline SVG (no image files, no scripts, nothing fetched by the browser).

matplotlib draws the plots when it is installed (the ``training`` and ``population`` extras bring it; its SVG canvas
needs no display and no pyplot state, so it is safe in a threaded server). Without it - the server's install - a small
hand-written SVG shows the same points, so the page never loses its plots to a missing optional dependency.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Sequence
from xml.sax.saxutils import escape, quoteattr

try:  # an optional dependency: not in the server's install (.[models])
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
except ImportError:  # pragma: no cover - exercised by forcing the fallback in the tests
    matplotlib = None

LINE_COLOUR = "#1f5f9f"
USED_COLOUR = "#c0392b"


@dataclass(frozen=True)
class Point:
    when: datetime
    value: float
    used: bool = False  # the value the finding used


def points_from_history(history: Sequence[Sequence[Any]], used_effective: str | None,
                        used_source: str | None) -> list[Point]:
    """Numeric, dated points oldest first; ``history`` rows are ``[value, unit, effective, source]``."""
    points: list[Point] = []
    for row in history:
        if not isinstance(row, (list, tuple)) or len(row) < 4:
            continue
        value, _unit, effective, source = row[:4]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # no booleans, no NaN
            continue
        when = parse_when(effective)
        if when is None:
            continue
        used = (used_source is not None and source == used_source and effective == used_effective) or (
            used_source is None and effective is not None and effective == used_effective)
        points.append(Point(when, float(value), used))
    points.sort(key=lambda p: p.when)
    return points


def parse_when(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text[:10]), datetime.min.time())
        except ValueError:
            return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def series_svg(points: Sequence[Point], *, unit: str | None, label: str, salt: str) -> str:
    """One input's values over time as an ``<svg>`` element (``salt`` keeps element ids unique on a page)."""
    if not points:
        return ""
    if matplotlib is not None:
        return _matplotlib_svg(points, unit=unit, label=label, salt=salt)
    return plain_svg(points, unit=unit, label=label)


def _matplotlib_svg(points: Sequence[Point], *, unit: str | None, label: str, salt: str) -> str:
    rc = {"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 10, "font.family": "sans-serif"}
    with matplotlib.rc_context(rc):
        figure = Figure(figsize=(6.4, 2.3), dpi=72)
        FigureCanvasSVG(figure)
        axes = figure.add_subplot()
        when = [p.when for p in points]
        values = [p.value for p in points]
        axes.plot(when, values, color=LINE_COLOUR, marker="o", markersize=4, linewidth=1.5)
        used = [p for p in points if p.used]
        if used:
            axes.plot([p.when for p in used], [p.value for p in used], linestyle="none", marker="o", markersize=9,
                      markerfacecolor="none", markeredgecolor=USED_COLOUR, markeredgewidth=2, label="value used")
            axes.legend(loc="best", frameon=False, fontsize=9)
        locator = AutoDateLocator(minticks=2, maxticks=6)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        if unit:
            axes.set_ylabel(unit)
        axes.grid(True, color="#dddddd", linewidth=0.6)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        if len(points) == 1:  # one point: give the axis some width so it is not a degenerate range
            from datetime import timedelta

            axes.set_xlim(points[0].when - timedelta(days=30), points[0].when + timedelta(days=30))
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    return inline_svg(buffer.getvalue(), label, salt)


def inline_svg(document: str, label: str, salt: str) -> str:
    """The bare ``<svg>`` element, scaled by CSS (no fixed size), announced to screen readers by its label.

    matplotlib numbers its element ids per figure (``axes_1``, ``line2d_1``): every id, and every reference to one,
    gets the plot's ``salt`` in front so that several plots share a page without clashing ids."""
    start = document.find("<svg")
    svg = document[start:] if start >= 0 else document
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", salt)
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{prefix}-{m.group(1)})", svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', svg)
    svg = re.sub(r'^<svg([^>]*?)\swidth="[^"]*"', r"<svg\1", svg, count=1)
    svg = re.sub(r'^<svg([^>]*?)\sheight="[^"]*"', r"<svg\1", svg, count=1)
    svg = svg.replace("<svg", f'<svg role="img" aria-label={quoteattr(label)} class="plot"', 1)
    return svg.strip()


def plain_svg(points: Sequence[Point], *, unit: str | None, label: str) -> str:
    """The fallback plot: points joined by a line, value used ringed, range and dates written at the edges."""
    width, height, left, right, top, bottom = 480, 170, 56, 12, 12, 30
    xs = [p.when.timestamp() for p in points]
    ys = [p.value for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 86400 * 30, x1 + 86400 * 30
    if y1 == y0:
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return top + (y1 - y) / (y1 - y0) * (height - top - bottom)

    coords = [(sx(x), sy(y)) for x, y in zip(xs, ys)]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label={quoteattr(label)} class="plot">',
             f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
             'fill="none" stroke="#cccccc"/>']
    if len(coords) > 1:
        parts.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (
            LINE_COLOUR, " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)))
    for (x, y), point in zip(coords, points):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{LINE_COLOUR}"/>')
        if point.used:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" stroke="{USED_COLOUR}" '
                         'stroke-width="2"/>')
    suffix = f" {unit}" if unit else ""
    parts.append(f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" font-size="10">'
                 f'{escape(_number(y1) + suffix)}</text>')
    parts.append(f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" font-size="10">'
                 f'{escape(_number(y0) + suffix)}</text>')
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="10">{points[0].when.date().isoformat()}</text>')
    parts.append(f'<text x="{width - right}" y="{height - 8}" text-anchor="end" font-size="10">'
                 f'{points[-1].when.date().isoformat()}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")
