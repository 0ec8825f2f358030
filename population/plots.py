"""The report's figures, drawn with matplotlib (Agg, no display) and returned as inline PNG data URIs."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and workers
import matplotlib.pyplot as plt  # noqa: E402

from population.summary import RISK_BIN_WIDTH, PopulationSummary  # noqa: E402

STATUS_COLOURS = {"computed": "#2b8cbe", "insufficient-data": "#fdae6b", "not-applicable": "#bdbdbd",
                  "error": "#de2d26"}
MAX_RISK_PANELS = 9
MAX_BARS = 20


def _data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def counts_by_service(summary: PopulationSummary) -> str | None:
    services = sorted(summary.by_service)
    if not services:
        return None
    figure, axis = plt.subplots(figsize=(8, 0.6 * len(services) + 1.2))
    left = [0] * len(services)
    for status, colour in STATUS_COLOURS.items():
        counts = [summary.by_service[s].get(status, 0) for s in services]
        axis.barh(services, counts, left=left, color=colour, label=status)
        left = [a + b for a, b in zip(left, counts)]
    axis.set_xlabel("findings")
    axis.legend(loc="lower right", fontsize=8)
    axis.set_title("Findings by service and status")
    return _data_uri(figure)


def risk_distributions(summary: PopulationSummary) -> str | None:
    risks = [(fid, s) for fid, s in sorted(summary.findings.items()) if s.unit == "%" and s.risk_bins]
    risks = risks[:MAX_RISK_PANELS]
    if not risks:
        return None
    columns = min(3, len(risks))
    rows = (len(risks) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for axis, (_finding_id, stats) in zip(axes.flat, risks):
        bins = sorted(stats.risk_bins)
        axis.bar([b * RISK_BIN_WIDTH for b in bins], [stats.risk_bins[b] for b in bins], width=RISK_BIN_WIDTH,
                 align="edge", color="#2b8cbe")
        axis.set_title(stats.title, fontsize=9)
        axis.set_xlabel("%")
        axis.set_ylabel("patients")
    for axis in list(axes.flat)[len(risks):]:
        axis.axis("off")
    figure.suptitle("Risk distributions (computed results)")
    figure.tight_layout()
    return _data_uri(figure)


def care_gaps(summary: PopulationSummary) -> str | None:
    if not summary.gaps:
        return None
    items = summary.gaps.most_common(MAX_BARS)[::-1]
    labels = [f"{title} ({category})" if category else title for (title, category), _ in items]
    figure, axis = plt.subplots(figsize=(8, 0.4 * len(items) + 1.2))
    axis.barh(labels, [n for _, n in items], color="#e6550d")
    axis.set_xlabel("patients")
    axis.set_title("Care gaps by category (warning or critical)")
    return _data_uri(figure)


def missing_data(summary: PopulationSummary) -> str | None:
    living = max(1, summary.living_patients)
    rates = sorted(((s.statuses.get("insufficient-data", 0) / living * 100, s.title)
                    for s in summary.findings.values()), reverse=True)[:MAX_BARS]
    inputs = summary.missing_inputs.most_common(MAX_BARS)
    if not rates and not inputs:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 0.35 * max(len(rates), len(inputs), 3) + 1.5))
    left.barh([t for _, t in rates][::-1], [r for r, _ in rates][::-1], color="#fdae6b")
    left.set_xlabel("% of living patients")
    left.set_title("Not computed for lack of data, by score")
    right.barh([label for label, _ in inputs][::-1], [n / living * 100 for _, n in inputs][::-1], color="#9e9ac8")
    right.set_xlabel("% of living patients")
    right.set_title("Missing inputs")
    figure.tight_layout()
    return _data_uri(figure)
