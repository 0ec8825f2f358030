"""The feedback report as one self-contained HTML page: tables and plots (inline SVG drawn by matplotlib's SVG
canvas, no pyplot state), inline CSS, no script, no CDN, nothing fetched - it opens offline and can be archived as it
is. Aggregates only: rule ids, counts and rates; no patient, no card text, no comment.

matplotlib comes with the ``report`` extra (``pip install 'precision-cds[report]'``; the ``population`` and ``models``
extras bring it too). Without it the page has the tables and says that the plots need it.
"""
from __future__ import annotations

import html
import io
from datetime import datetime, timezone
from typing import Callable

from cds_hooks.explainer.plots import inline_svg
from cds_hooks.report import reason_text

try:  # an optional dependency
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure
except ImportError:  # pragma: no cover - exercised by forcing the fallback in the tests
    matplotlib = None

MAX_LINES = 8  # engines drawn in the over-time plot (the busiest ones); every engine is in the tables
MAX_RULE_PLOTS = 12  # rules with a plot of their own over time (the busiest ones); every rule is in the table
MAX_BARS = 25
ACCEPT_COLOUR, OVERRIDE_COLOUR, THRESHOLD_COLOUR = "#2b8cbe", "#de6b2d", "#b3261e"

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .5rem}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
svg.plot{width:100%;height:auto;max-width:900px;display:block}.note{color:#666;font-size:.85rem}
tr.flag td{background:#fdecea}.grid{display:flex;flex-wrap:wrap;gap:1rem}.grid figure{margin:0;width:calc(50% - .5rem)}
figcaption{font-size:.85rem;font-weight:600;overflow-wrap:anywhere}
"""


def render_html(report: dict, *, title: str = "Feedback report") -> str:
    threshold = report["threshold"]
    flagged = {(c["level"], c["key"]) for c in report["candidates"]}
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(title)}</title>"
             f"<style>{STYLE}</style></head><body>", f"<h1>{_e(title)}</h1>"]
    overall = report["overall"]
    parts.append(_table(["", ""], [
        ["feedback items", overall["total"]], ["accepted", overall["accepted"]],
        ["overridden", overall["overridden"]], ["acceptance rate %", _pct(overall["acceptance_rate"])],
        ["override rate %", _pct(overall["override_rate"])],
        ["unlinked items (card not in the audit trail)", report["unlinked"]["total"]],
    ], header=False))
    if matplotlib is None:
        parts.append("<p class='note'>The plots need matplotlib: pip install 'precision-cds[report]'.</p>")

    parts.append(f"<h2>Candidates to retire or retune</h2><p class='note'>Rules whose override rate is at least "
                 f"{_pct(threshold['override_rate'])} % over at least {threshold['min_items']} feedback items.</p>")
    if report["candidates"]:
        parts.append(_table(["level", "rule", "items", "override %", "main override reasons"], [
            [c["level"], c["key"], c["total"], _pct(c["override_rate"]), _reasons(c["override_reasons"])]
            for c in report["candidates"]]))
    else:
        parts.append("<p>None.</p>")

    parts.append(f"<h2>Override rate by {report['period']}</h2>")
    parts.append(_figure(_over_time_svg(report), "no feedback yet"))
    parts += _rules_over_time(report, flagged)
    for level in ("engines", "findings"):
        parts.append(f"<h2>{'Engines' if level == 'engines' else 'Rules'}</h2>")
        rows, marks = [], []
        for r in report[level]:
            rows.append([r["key"], r["total"], r["accepted"], r["overridden"], _pct(r["acceptance_rate"]),
                         _pct(r["override_rate"]), _reasons(r["override_reasons"])])
            marks.append((level[:-1], r["key"]) in flagged)
        parts.append(_figure(_rates_svg(report[level], threshold["override_rate"], level), f"no {level} yet"))
        parts.append(_table(["rule", "items", "accepted", "overridden", "accept %", "override %", "override reasons"],
                            rows, flags=marks))

    parts.append("<h2>Override reasons</h2>")
    reasons = overall["override_reasons"]
    parts.append(_figure(_reasons_svg(reasons), "no override reasons yet"))
    parts.append(_table(["reason", "items"], [[reason_text(label), n] for label, n in reasons.items()]))

    if report.get("suppressions"):
        parts.append("<h2>What the feedback hid</h2><p class='note'>Per rule: suppressions made (by reason) and "
                     "how they ended: <em>inputs-changed</em> - the card came back because its result, category or "
                     "inputs changed; <em>no-longer-offered</em> - an accepted suggestion the record shows done.</p>")
        parts.append(_table(["rule", "made", "reasons", "lifted"], [
            [s["key"], s["made"], ", ".join(f"{k}: {n}" for k, n in s["reasons"].items()),
             ", ".join(f"{k}: {n}" for k, n in s["lifted"].items())] for s in report["suppressions"]]))
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"<p class='note'>Generated {generated} by precision-cds feedback-report.</p></body></html>")
    return "\n".join(parts)


# -- plots ----------------------------------------------------------------------------------------------------------
def _draw(width: float, height: float, label: str, salt: str, draw: Callable) -> str:
    """One figure drawn by ``draw(axes)`` as an inline ``<svg>`` (``salt`` keeps element ids unique on the page)."""
    rc = {"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9, "font.family": "sans-serif"}
    with matplotlib.rc_context(rc):
        figure = Figure(figsize=(width, height), dpi=72)
        FigureCanvasSVG(figure)
        draw(figure.add_subplot())
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    return inline_svg(buffer.getvalue(), label, salt)


def _over_time_svg(report: dict) -> str | None:
    engines = report["over_time"].get("engines") or {}
    if matplotlib is None or not engines:
        return None
    busiest = sorted(engines, key=lambda k: -sum(p["total"] for p in engines[k]))[:MAX_LINES]
    periods = sorted({p["key"] for k in busiest for p in engines[k]})

    def draw(axes) -> None:
        for engine in busiest:
            by = {p["key"]: p for p in engines[engine]}
            xs = [i for i, key in enumerate(periods) if key in by]
            axes.plot(xs, [by[periods[i]]["override_rate"] * 100 for i in xs], marker="o", linewidth=1.5,
                      label=engine)
        axes.axhline(report["threshold"]["override_rate"] * 100, color=THRESHOLD_COLOUR, linestyle="--",
                     linewidth=1, label="threshold")
        axes.set_xticks(range(len(periods)), periods, rotation=45 if len(periods) > 6 else 0)
        axes.set_ylim(-2, 102)
        axes.set_ylabel("override rate %")
        axes.grid(True, color="#dddddd", linewidth=0.6)
        axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)

    return _draw(9, 3.2, f"Override rate by {report['period']}, per engine", "over-time", draw)


def _rules_over_time(report: dict, flagged: set) -> list[str]:
    """Per rule: acceptance and override rate by period - a small plot for each of the busiest rules, and a table
    with every rule and period."""
    rules = report["over_time"].get("findings") or {}
    period = report["period"]
    out = [f"<h2>Rules by {_e(period)}</h2><p class='note'>Acceptance and override rate of each rule by {_e(period)} "
           f"(the {MAX_RULE_PLOTS} rules with the most feedback are plotted; every rule is in the table).</p>"]
    if not rules:
        return out + ["<p>None.</p>"]
    busiest = sorted(rules, key=lambda k: (-sum(p["total"] for p in rules[k]), k))[:MAX_RULE_PLOTS]
    plots = [(rule, _rule_svg(rule, rules[rule], report["threshold"]["override_rate"], period, number))
             for number, rule in enumerate(busiest)]
    if matplotlib is not None:
        out.append("<div class='grid'>" + "".join(
            f"<figure><figcaption>{_e(rule)}</figcaption>{svg}</figure>" for rule, svg in plots) + "</div>")
    rows, marks = [], []
    for rule in sorted(rules):
        for p in rules[rule]:
            rows.append([rule, p["key"], p["total"], p["accepted"], p["overridden"], _pct(p["acceptance_rate"]),
                         _pct(p["override_rate"])])
            marks.append(("finding", rule) in flagged)
    out.append(_table(["rule", period, "items", "accepted", "overridden", "accept %", "override %"], rows,
                      flags=marks))
    return out


def _rule_svg(rule: str, periods: list[dict], threshold: float, period: str, number: int) -> str | None:
    if matplotlib is None or not periods:
        return None
    keys = [p["key"] for p in periods]

    def draw(axes) -> None:
        xs = range(len(keys))
        axes.plot(xs, [p["acceptance_rate"] * 100 for p in periods], marker="o", linewidth=1.5, color=ACCEPT_COLOUR,
                  label="accepted")
        axes.plot(xs, [p["override_rate"] * 100 for p in periods], marker="s", linewidth=1.5, color=OVERRIDE_COLOUR,
                  label="overridden")
        axes.axhline(threshold * 100, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1)
        axes.set_xticks(list(xs), [f"{p['key']}\nn={p['total']}" for p in periods],  # n: items that period
                        rotation=45 if len(keys) > 4 else 0, fontsize=7)
        axes.set_xlim(-0.5, len(keys) - 0.5)
        axes.set_ylim(-2, 102)
        axes.set_ylabel("% of items")
        axes.grid(True, color="#dddddd", linewidth=0.6)
        axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=2, frameon=False, fontsize=7)

    return _draw(4.4, 2.4, f"Acceptance and override rate of {rule} by {period}", f"rule-{number}", draw)


def _rates_svg(rows: list[dict], threshold: float, level: str) -> str | None:
    rows = sorted(rows, key=lambda r: -r["total"])[:MAX_BARS]
    if matplotlib is None or not rows:
        return None

    def draw(axes) -> None:
        names = [r["key"] for r in rows][::-1]
        accepted = [r["acceptance_rate"] * 100 for r in rows][::-1]
        overridden = [r["override_rate"] * 100 for r in rows][::-1]
        axes.barh(names, accepted, color=ACCEPT_COLOUR, label="accepted")
        axes.barh(names, overridden, left=accepted, color=OVERRIDE_COLOUR, label="overridden")
        axes.axvline(threshold * 100, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1, label="override threshold")
        axes.set_xlim(0, 100)
        axes.set_xlabel("% of feedback items")
        axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False, fontsize=8)

    return _draw(9, 0.32 * len(rows) + 1.0, f"Accepted and overridden share per rule ({level})", level, draw)


def _reasons_svg(reasons: dict) -> str | None:
    if matplotlib is None or not reasons:
        return None
    items = list(reasons.items())[:MAX_BARS][::-1]

    def draw(axes) -> None:
        axes.barh([_short(reason_text(label)) for label, _ in items], [n for _, n in items], color=OVERRIDE_COLOUR)
        axes.set_xlabel("overrides")

    return _draw(9, 0.32 * len(items) + 0.8, "Override reasons", "reasons", draw)


# -- pieces ---------------------------------------------------------------------------------------------------------
def _figure(svg: str | None, empty: str) -> str:
    if svg is None:
        return f"<p class='note'>No plot: {_e(empty)}.</p>" if matplotlib is not None else ""
    return f"<figure>{svg}</figure>"


def _table(columns: list[str], rows: list[list], *, header: bool = True, flags: list[bool] | None = None) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>")
    for number, row in enumerate(rows):
        flagged = flags is not None and flags[number]
        cells = "".join(f"<td class='n'>{_e(v)}</td>" if isinstance(v, (int, float)) else f"<td>{_e(v)}</td>"
                        for v in row)
        out.append(f"<tr class='flag'>{cells}</tr>" if flagged else f"<tr>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def _reasons(reasons: dict) -> str:
    return "; ".join(f"{reason_text(label)}: {n}" for label, n in list(reasons.items())[:3])


def _short(text: str, limit: int = 40) -> str:
    """A plot label: the reason's words without its code, clipped (long labels shrink the whole figure)."""
    text = text.split(" (")[0] if text.endswith(")") else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct(rate: float) -> float:
    return round(rate * 100, 1)


def _e(value) -> str:
    return html.escape(str(value), quote=True)
