"""The population report: one self-contained HTML file (inline PNG figures, inline CSS, no script, no CDN), so it
opens offline and can be mailed or archived as it is. Aggregates only: no patient id or record value appears."""
from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

from population import plots
from population.layout import JobLayout
from population.summary import PopulationSummary, summarise

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .5rem}
th{background:#f4f4f4;text-align:left}td.n{text-align:right}img{max-width:100%}.note{color:#666;font-size:.85rem}
"""


def write_report(out_dir: str | Path) -> Path:
    """Write OUT/report.html from the job's Parquet files; return its path."""
    layout = JobLayout(Path(out_dir))
    summary = summarise(layout.root)
    layout.report.write_text(render(summary), encoding="utf-8")
    return layout.report


def render(summary: PopulationSummary) -> str:
    job, totals = summary.job, summary.totals
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Population report</title>"
             f"<style>{STYLE}</style></head><body>",
             "<h1>Population report</h1>",
             _table(["", ""], [
                 ["as of", job.get("as_of", "")],
                 ["services", ", ".join(job.get("services", []))],
                 ["partitions complete", f"{totals['partitions_done']} of {job.get('partitions', '?')}"],
                 ["patients scored", totals["patients"]],
                 ["deceased (no findings, as in the hooks)", totals["deceased"]],
                 ["patients without a Patient resource (their resources not scored)",
                  totals["without_patient_resource"]],
                 ["resources naming no patient (not scored)", totals.get("without_patient_reference", 0)],
                 ["findings", totals["findings"]],
                 ["engine errors", totals["errors"]],
             ], show_header=False)]
    if totals["partitions_done"] < job.get("partitions", 0):
        parts.append("<p class='note'>The job is not complete: the figures cover the partitions done so far.</p>")

    parts.append("<h2>Counts by service</h2>")
    parts.append(_figure(plots.counts_by_service(summary), "Findings by service and status"))
    statuses = ["computed", "insufficient-data", "not-applicable", "error"]
    parts.append(_table(["service", "patients", *statuses], [
        [s, summary.patients_by_service[s], *(summary.by_service[s].get(k, 0) for k in statuses)]
        for s in sorted(summary.by_service)]))

    parts.append("<h2>Risk distributions</h2>")
    parts.append(_figure(plots.risk_distributions(summary), "Risk distributions"))
    parts.append(_table(["finding", "service", "computed", "mean", "min", "max", "unit", "categories"], [
        [s.title, s.service, s.statuses.get("computed", 0), _round(s.total / s.count) if s.count else "",
         _round(s.minimum),
         _round(s.maximum), s.unit or "", "; ".join(f"{c}: {n}" for c, n in s.categories.most_common())]
        for _, s in sorted(summary.findings.items()) if s.count or s.categories]))

    parts.append("<h2>Care gaps by category</h2>")
    parts.append("<p class='note'>Findings at warning or critical severity that are a possible undiagnosed condition "
                 "(the record meets criteria for a condition that is not on the problem list) or a treatment finding "
                 "with a suggestion (treatment the record calls for). Risk scores and measurements (an eGFR, lab-"
                 "reported or computed) are not care gaps.</p>")
    parts.append(_figure(plots.care_gaps(summary), "Care gaps by category"))
    living = max(1, summary.living_patients)
    parts.append(_table(["gap", "category", "patients", "% of living patients"], [
        [title, category, n, _round(n / living * 100)] for (title, category), n in summary.gaps.most_common()]))

    parts.append("<h2>Missing-data rates</h2>")
    parts.append(_figure(plots.missing_data(summary), "Missing-data rates"))
    parts.append(_table(["finding", "insufficient data", "% of living patients", "not applicable", "computed"], [
        [s.title, s.statuses.get("insufficient-data", 0),
         _round(s.statuses.get("insufficient-data", 0) / living * 100), s.statuses.get("not-applicable", 0),
         s.statuses.get("computed", 0)] for _, s in sorted(summary.findings.items())]))
    parts.append(_table(["missing input", "patients", "% of living patients"], [
        [label, n, _round(n / living * 100)] for label, n in summary.missing_inputs.most_common()]))
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f"<p class='note'>Generated {generated} by precision-cds population report.</p></body></html>")
    return "\n".join(parts)


def _figure(data_uri: str | None, alt: str) -> str:
    if data_uri is None:
        return "<p class='note'>No data for this figure.</p>"
    return f"<img alt='{html.escape(alt)}' src='{data_uri}'>"


def _table(columns: list[str], rows: list[list], show_header: bool = True) -> str:
    out = ["<table>"]
    if show_header:
        out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in columns) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(
            f"<td class='n'>{html.escape(str(v))}</td>" if isinstance(v, (int, float)) else
            f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _round(value: float | None) -> float | str:
    return "" if value is None else round(value, 1)
