"""The terminal view: cards coloured by indicator with their suggestions and links, and the run summary.

Cards are shown because the user asked for this patient's cards; nothing else of the record is printed beyond
the patient's name, sex and birth date in the heading (so the user can see the right patient was read)."""
from __future__ import annotations

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from cds_hooks.sandbox.runner import INDICATORS, PatientRun, ServiceCall, Summary, percentile

INDICATOR_STYLE = {"critical": "bold red", "warning": "yellow", "info": "blue"}
# The explainer page path (cds_hooks.explainer); a link to it is shown as the card's explanation.
EXPLAINER_PATH = "/explain/"


def patient_heading(run: PatientRun) -> str:
    patient = run.patient if isinstance(run.patient, dict) else {}
    names = patient.get("name")
    name = ""
    if isinstance(names, list) and names and isinstance(names[0], dict):
        first = names[0]
        given = first.get("given") if isinstance(first.get("given"), list) else []
        name = first.get("text") or " ".join([*map(str, given), str(first.get("family") or "")]).strip()
    facts = [str(f) for f in (name, patient.get("gender"), patient.get("birthDate")) if f]
    return f"Patient/{run.patient_id}" + (f" — {', '.join(facts)}" if facts else "")


def render_patient(console: Console, run: PatientRun, *, in_process: bool, verbose: bool = False) -> None:
    console.print(Rule(Text(patient_heading(run), style="bold")))
    if run.error:
        console.print(Text(f"✗ {run.error}", style="red"))
        return
    for call in run.calls:
        render_call(console, call, in_process=in_process, verbose=verbose)


def render_call(console: Console, call: ServiceCall, *, in_process: bool, verbose: bool = False) -> None:
    title = Text.assemble((call.service_id, "bold"), f" ({call.hook})")
    if call.skipped:
        console.print(Text.assemble(title, (f" — skipped: {call.skipped}", "dim")))
        return
    answer = call.answer
    if call.error:
        console.print(Text.assemble(title, (f" — {call.error}", "red"), f"  {answer.elapsed_ms:.0f} ms"))
        return
    count = len(call.cards)
    console.print(Text.assemble(title, f" — {count} card{'s' if count != 1 else ''}", (f"  {answer.elapsed_ms:.0f} ms", "dim")))
    if verbose:
        for key, state in call.prefetch_states.items():
            console.print(Text(f"  prefetch {key}: {state}", style="dim"))
    for note in call.notes:
        console.print(Text(f"  note: {note}", style="dim"))
    for index, card in enumerate(call.cards):
        try:
            panel = card_panel(card, in_process=in_process)
        except (AttributeError, KeyError, TypeError, ValueError):
            # The answer passed the schema, yet something in it cannot be drawn: say so, keep the other cards.
            console.print(Text(f"  card {index + 1} cannot be shown (its content is not as CDS Hooks describes)",
                               style="red"))
            continue
        console.print(panel)
    for action in (answer.body.get("systemActions") or []):
        if isinstance(action, dict):
            console.print(Text(f"  system action: {action.get('type')} — {action.get('description', '')}",
                               style="dim"))


def card_panel(card: dict, *, in_process: bool) -> Panel:
    indicator = card.get("indicator", "info")
    style = INDICATOR_STYLE.get(indicator, "white")
    parts: list = []
    if card.get("detail"):
        parts.append(Markdown(card["detail"]))
    source = card.get("source") or {}
    if source.get("label"):
        parts.append(Text.assemble(("Source: ", "bold"), source["label"], (f"  {source['url']}" if source.get("url") else "", "cyan")))
    suggestions = card.get("suggestions") or []
    if suggestions:
        behaviour = card.get("selectionBehavior")
        parts.append(Text("Suggestions" + (f" ({behaviour})" if behaviour else "") + ":", style="bold"))
        for suggestion in suggestions:
            line = Text(f"  • {suggestion.get('label', '')}")
            if suggestion.get("isRecommended"):
                line.append(" [recommended]", style="green")
            line.append(f"  id {suggestion.get('uuid', '-')}", style="dim")
            parts.append(line)
            for action in suggestion.get("actions") or []:
                parts.append(Text(f"      {action.get('type', '?')}: {action.get('description', '')}", style="dim"))
    links = card.get("links") or []
    for link in links:
        url = link.get("url", "")
        explainer = EXPLAINER_PATH in url
        label = "How this was calculated" if explainer else link.get("label", "link")
        line = Text.assemble(("Link: ", "bold"), f"{label} → ", (url, "cyan underline"), f" ({link.get('type', '?')})")
        if explainer and in_process:
            line.append("  (served by the in-process app only; use --service-url to open it)", style="dim")
        parts.append(line)
    for reason in card.get("overrideReasons") or []:
        parts.append(Text(f"Override reason: {reason.get('display') or reason.get('code')}", style="dim"))
    parts.append(Text(f"card {card.get('uuid', '-')}", style="dim"))
    title = Text.assemble((f" {indicator.upper()} ", f"reverse {style}"), " ", card.get("summary", ""))
    return Panel(Group(*parts), title=title, title_align="left", border_style=style)


def render_summary(console: Console, summary: Summary) -> None:
    table = Table(title=f"{summary.patients} patient{'s' if summary.patients != 1 else ''}", title_justify="left",
                  caption="cards per indicator; latency of the hook calls in ms", caption_justify="left")
    table.add_column("service", no_wrap=True)
    table.add_column("calls", justify="right")
    for indicator in INDICATORS:
        table.add_column(indicator[:4], justify="right", style=INDICATOR_STYLE[indicator])
    table.add_column("err", justify="right")
    table.add_column("skip", justify="right")
    for label in ("p50", "p90", "p99"):
        table.add_column(label, justify="right")
    services = sorted(set(summary.calls) | set(summary.skipped))
    errors_by_service: dict[str, int] = {}
    for _, service, _ in summary.errors:
        errors_by_service[service] = errors_by_service.get(service, 0) + 1
    for service in services:
        latencies = summary.latencies_ms.get(service, [])
        table.add_row(service, str(summary.calls[service]),
                      *(str(summary.cards[service][i]) for i in INDICATORS),
                      str(errors_by_service.get(service, 0)), str(summary.skipped[service]),
                      *(_ms(percentile(latencies, q)) for q in (50, 90, 99)))
    overall = summary.all_latencies()
    table.add_row("all", str(sum(summary.calls.values())),
                  *(str(sum(c[i] for c in summary.cards.values())) for i in INDICATORS),
                  str(summary.error_count), str(sum(summary.skipped.values())),
                  *(_ms(percentile(overall, q)) for q in (50, 90, 99)), style="bold")
    console.print(table)
    for patient_id, service, message in summary.errors:
        # A patient-level message already names Patient/<id> (it says what was read); a call's does not.
        line = message if service == "-" and f"Patient/{patient_id}" in message \
            else f"Patient/{patient_id} {'' if service == '-' else service + ': '}{message}"
        console.print(Text(f"✗ {line}", style="red"))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
