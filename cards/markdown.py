"""Card detail in GitHub-flavoured markdown: result, inputs with provenance, missing inputs, method and citation."""
from __future__ import annotations

from datetime import date, datetime

from engine.finding import Evidence, Finding, Kind


def detail_markdown(finding: Finding) -> str:
    parts: list[str] = []
    if finding.message:
        parts.append(finding.message)
    if finding.measures:
        rows = [f"| {finding.title} | {_fmt(finding.value)} {finding.unit or ''} | {finding.category or ''} |"]
        rows += [f"| {m.label} | {_fmt(m.value)} {m.unit} | {m.category or ''} |" for m in finding.measures]
        parts.append("| Result | Value | Category |\n|---|---|---|\n" + "\n".join(rows))
    # A suggested diagnosis (it names the condition it is about) shows its thresholds and the criteria it met.
    diagnosis = finding.kind is Kind.DIAGNOSIS and isinstance((finding.extra or {}).get("concept"), dict)
    if finding.thresholds:
        parts.append(("**Thresholds:** " if diagnosis else "**Categories:** ") + "; ".join(finding.thresholds))
    if finding.inputs:
        parts.append("**Inputs used**\n\n" + inputs_table(finding.inputs))
    if finding.missing:
        parts.append("**Missing inputs**\n\n" + "\n".join(f"- {m.label}: {m.reason}" for m in finding.missing))
    if finding.assumptions:
        parts.append("**Assumptions**\n\n" + "\n".join(f"- {a}" for a in finding.assumptions))
    if finding.input_problems:
        parts.append("**Values not used**\n\n" + "\n".join(
            f"- {p.source + ': ' if p.source else ''}{p.reason}" for p in finding.input_problems))
    if finding.explanation and diagnosis and all(t.contribution is None for t in finding.explanation):
        rows = "\n".join(f"| {t.label} | {_fmt(t.value)} |" for t in finding.explanation)
        parts.append("**Criteria and the results that meet them**\n\n| Criterion | Results |\n|---|---|\n" + rows)
    elif finding.explanation:
        rows = "\n".join(
            f"| {t.label} | {_fmt(t.value)} | {'' if t.contribution is None else f'{t.contribution:+.3f}'} |"
            for t in finding.explanation)
        parts.append("**How the result was computed**\n\n| Term | Value | Contribution |\n|---|---|---|\n" + rows)
    parts.append(method_and_citation(finding))
    return "\n\n".join(p for p in parts if p)


def insufficient_markdown(findings: list[Finding]) -> str:
    sections = []
    for f in findings:
        lines = [f"**{f.title}** — not computed."]
        lines += [f"- {m.label}: {m.reason}" for m in f.missing]
        # The engine's message beyond the default "Cannot compute: missing ..." (which the list above already says),
        # e.g. "LDL-C >= 190 mg/dL: statin without risk estimation" stays visible on a data-needed card.
        default = f"Cannot compute: missing {', '.join(m.label for m in f.missing)}."
        extra = (f.message or "").removeprefix(default).strip()
        if extra:
            lines.append(f"- {extra}")
        if f.input_problems:
            lines += [f"- not used: {p.source + ': ' if p.source else ''}{p.reason}" for p in f.input_problems]
        if f.inputs:
            lines.append("")
            lines.append("Available inputs:\n\n" + inputs_table(f.inputs))
        lines.append("")
        lines.append(method_and_citation(f))
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def inputs_table(inputs) -> str:
    rows = ["| Input | Value | Unit | Date | Source |", "|---|---|---|---|---|"]
    for ev in inputs:
        rows.append(f"| {ev.label} | {_fmt(ev.value)} | {ev.unit or ''} | {_date(ev.effective)} | {_source(ev)} |")
    return "\n".join(rows)


def method_and_citation(finding: Finding) -> str:
    c = finding.citation
    lines = []
    if finding.method:
        lines.append(f"**Method:** {finding.method}")
    ref = c.full
    if c.doi:
        ref += f" doi:{c.doi}"
    if c.url:
        ref += f" <{c.url}>"
    lines.append(f"**Source:** {ref}")
    lines.append(f"_Engine {finding.engine_id} v{finding.engine_version}._")
    return "\n\n".join(lines)


def _source(ev: Evidence) -> str:
    if ev.source:
        text = ev.source
    elif ev.derived_from:
        text = "derived from " + ", ".join(d.label for d in ev.derived_from)
    else:
        text = ""
    if ev.note:
        text = f"{text} ({ev.note})" if text else ev.note
    return text.replace("|", "/")


def _date(value) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        value = value + 0.0  # no "-0" in a clinician's table
        if abs(value) < 0.005:
            return "0"
        return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value).replace("|", "/")
