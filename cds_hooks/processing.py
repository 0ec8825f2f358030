"""One hook call, start to finish, independent of Flask (the HTTP blueprint and the CLI both use it)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from cards.render import RenderedCard, RenderOptions, render_cards
from cds_hooks.alert_memory import remember_sent_alerts
from cds_hooks.declaration import HookCall, ServiceDefinition
from cds_hooks.errors import CdsError, issue
from cds_hooks.pipeline import run_service
from cds_hooks.prefetch import Deadline, PrefetchUnavailable, resolve_prefetch
from cds_hooks.validation import validate_hook_request, validate_response
from engine.finding import Finding, InputProblem
from fhir_adapter.client import ClientSettings, client_for
from fhir_adapter.features.draft_orders import draft_orders_by_reference

if TYPE_CHECKING:
    from cds_hooks.explainer import ExplainerRecorder
    from cds_hooks.store import IssuedCard
    from cds_hooks.suppression import CallScreen

log = logging.getLogger(__name__)


@dataclass
class HookOutcome:
    response: dict
    rendered: list[RenderedCard]
    findings: list[Finding]
    call: HookCall
    # Resources left out because they are about another patient (references only; also on every finding).
    input_problems: list[InputProblem]
    # The cards sent, with their identity across calls (for the audit transaction: what feedback may name).
    issued: tuple["IssuedCard", ...] = ()


def process_hook(definition: ServiceDefinition, body: Any, config: Mapping[str, Any],
                 explainer: "ExplainerRecorder | None" = None,
                 alerts: Any = None,
                 screen_for: "Callable[[HookCall, Sequence[Finding]], CallScreen] | None" = None) -> HookOutcome:
    """Validate → resolve prefetch → run the service (cds_hooks.pipeline) → render and check cards.

    Raises CdsError with the status. One Deadline, started here, bounds every FHIR read of the call: prefetch
    resolution and what the service reads afterwards. With an ``explainer`` (the HTTP layer's), every card links to
    its explainer page and the call's evidence is stored in one write. With ``screen_for`` (the HTTP layer's), cards
    this patient's clinicians already answered are left out (cds_hooks.suppression) and the cards sent are described
    in ``HookOutcome.issued``. ``alerts`` (a cds_hooks.alert_memory AlertMemory) lets order-time services show an
    alert once per draft across hook calls."""
    settings = client_settings(config)
    deadline = Deadline.after(settings.deadline_s)
    if isinstance(body.get("hook"), str) and body["hook"] != definition.hook:
        raise CdsError(400, f"Service '{definition.id}' answers the '{definition.hook}' hook, not the hook in the request.",
                       expressions=["hook"])
    problems = validate_hook_request(body)
    if problems:
        raise CdsError(400, "The hook request is not valid CDS Hooks 2.0.1.",
                       issues=[issue(400, p.message, fhirpath(p.pointer)) for p in problems])
    try:
        resolved = resolve_prefetch(definition.prefetch, body, client_factory=client_for, settings=settings,
                                    optional=definition.optional_prefetch, deadline=deadline)
    except PrefetchUnavailable as exc:
        log.warning("prefetch unavailable for %s: key %s (%s)", definition.id, exc.key, exc.reason)
        raise CdsError(412, f"Required data '{exc.key}' could not be obtained: {exc.reason}",
                       expressions=[f"prefetch.{exc.key}"]) from None

    call = HookCall(service=definition, request=body, prefetch=resolved.data, as_of=as_of_date(config),
                    notes=list(resolved.notes), now=request_time(config), options=dict(config["ENGINE_OPTIONS"]),
                    client_settings=settings, deadline=deadline, alerts=alerts)
    result = run_service(call)
    screen = screen_for(call, result.findings) if screen_for is not None else None
    rendered = render_cards(result.findings, RenderOptions(
        patient_id=call.patient_id,
        hook_instance=call.hook_instance,
        max_cards=int(config["MAX_CARDS"]),
        show_not_applicable=bool(config["SHOW_NOT_APPLICABLE"]),
        explain_url=explainer.url_for if explainer is not None else None,
        screen=screen,
        draft_orders=draft_orders_by_reference(call.context.get("draftOrders")) or None,
    ))
    response: dict = {"cards": [rc.card for rc in rendered]}
    if result.system_actions:
        response["systemActions"] = result.system_actions
    if explainer is not None:
        # No links left on the cards if this fails.
        explainer.record(call, result.findings, response["cards"], hidden=screen.hidden if screen else (),
                         card_keys=screen.card_keys(rendered) if screen else None)
    if config["VALIDATE_RESPONSES"]:
        invalid = validate_response(response)
        if invalid:
            log.error("service %s produced a response that breaks the schema at %s", definition.id,
                      ", ".join(p.pointer for p in invalid))
            raise CdsError(500, "The service produced an invalid response; it has been logged.")
    remember_sent_alerts(call, (fid for rc in rendered for fid in rc.finding_ids))
    return HookOutcome(response=response, rendered=rendered, findings=result.findings, call=call,
                       input_problems=list(result.input_problems),
                       issued=screen.issued(rendered) if screen is not None else ())


def client_settings(config: Mapping[str, Any]) -> ClientSettings:
    return ClientSettings(
        connect_timeout_s=float(config["FHIR_CONNECT_TIMEOUT_S"]),
        read_timeout_s=float(config["FHIR_READ_TIMEOUT_S"]),
        retries=int(config["FHIR_RETRIES"]),
        backoff_factor=float(config["FHIR_BACKOFF_S"]),
        deadline_s=float(config["FHIR_DEADLINE_S"]),
        page_cap=int(config["FHIR_PAGE_CAP"]),
        max_entries=int(config["FHIR_MAX_ENTRIES"]),
        max_body_bytes=int(config["FHIR_MAX_BODY_BYTES"]),
    )


def as_of_date(config: Mapping[str, Any]) -> date:
    configured = config.get("AS_OF")
    if configured:
        return date.fromisoformat(str(configured))
    return datetime.now(timezone.utc).date()


def request_time(config: Mapping[str, Any]) -> datetime | None:
    """The clock engines compare recency against: NOW when configured, none when replaying a fixed AS_OF date
    (engines then use the end of that day), else the current UTC time."""
    configured = config.get("NOW")
    if configured:
        moment = datetime.fromisoformat(str(configured))
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if config.get("AS_OF"):
        return None
    return datetime.now(timezone.utc)


def fhirpath(pointer: str) -> str:
    """JSON pointer '/context/patientId' → 'context.patientId' for OperationOutcome.issue.expression."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/") if p]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "$"
