"""What an EHR does before it calls a CDS service: build the hook's context and resolve the service's prefetch
templates against its FHIR server (CDS Hooks 2.0.1, "Providing FHIR Resources to a CDS Service").

The prefetch sent for each key is in one of the spec's states, chosen the way an EHR would:

* a resource (read) or a searchset Bundle holding every page (``next`` links followed here);
* ``null`` — the EHR looked and found nothing: a read answered 404/410, a search matched nothing (2.0.1: "null
  ... rather than a bundle with zero entries");
* an OperationOutcome — the read failed another way (a 400 for a search parameter the server lacks, a 5xx):
  the service is told, and fetches the key itself;
* absent — the template holds a token this context cannot fill, or prefetch is off (``--no-prefetch``): the
  service fetches from ``fhirServer`` with ``fhirAuthorization``.

Templates are rendered with :func:`cds_hooks.prefetch.render_template`, the service's own renderer.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cds_hooks.prefetch import TemplateError, is_search_template, render_template
from cds_hooks.sandbox.errors import SandboxError
from cds_hooks.sandbox.fhir_access import describe_fhir_error, is_fatal
from fhir_adapter.client import FhirClient, FhirError, FhirHTTPError

PATIENT_HOOKS = ("patient-view", "encounter-start")
ORDER_HOOKS = ("order-select", "order-sign")
SUPPORTED_HOOKS = PATIENT_HOOKS + ORDER_HOOKS


@dataclass
class PrefetchBuild:
    """The ``prefetch`` object to send and, per key, which state it is in (for ``--save`` and the notes)."""

    prefetch: dict[str, Any] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HookContext:
    """Everything about "this patient, this user, this visit" that the hooks' contexts are made of."""

    patient_id: str
    user_id: str
    encounter_id: str | None = None
    draft_orders: dict | None = None  # a FHIR Bundle of draft orders (order-select / order-sign)

    def for_hook(self, hook: str) -> dict | None:
        """The hook's context, or None when this hook cannot be called for it (no encounter, no draft orders)."""
        context: dict[str, Any] = {"userId": self.user_id, "patientId": self.patient_id}
        if hook == "encounter-start":
            if not self.encounter_id:
                return None
            context["encounterId"] = self.encounter_id
        elif self.encounter_id:
            context["encounterId"] = self.encounter_id
        if hook in ORDER_HOOKS:
            if self.draft_orders is None:
                return None
            context["draftOrders"] = self.draft_orders
            if hook == "order-select":
                context["selections"] = [f"{r['resourceType']}/{r['id']}" for r in _bundle_resources(self.draft_orders)]
        return context


def skip_reason(hook: str, context: HookContext) -> str:
    if hook == "encounter-start":
        return "no encounter for this patient (give --encounter)"
    if hook in ORDER_HOOKS:
        return "no draft orders (give --draft-orders FILE)"
    return f"the sandbox does not emulate the {hook!r} hook"


def load_draft_orders(path: Path, patient_id: str | None = None) -> dict:
    """A Bundle (or a single resource) of draft orders; each needs a resourceType and an id for ``selections``."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SandboxError(f"cannot read draft orders from {path}: {type(exc).__name__}") from None
    if isinstance(document, dict) and document.get("resourceType") not in (None, "Bundle"):
        document = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": document}]}
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise SandboxError(f"{path}: draft orders must be a FHIR Bundle or one FHIR resource")
    resources = _bundle_resources(document)
    if not resources or any(not isinstance(r.get("id"), str) for r in resources):
        raise SandboxError(f"{path}: every draft order needs a resourceType and an id")
    if patient_id:
        for resource in resources:
            subject = (resource.get("subject") or {}).get("reference")
            if subject is None:
                resource["subject"] = {"reference": f"Patient/{patient_id}"}
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def _bundle_resources(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry") or []
            if isinstance(e, dict) and isinstance(e.get("resource"), dict) and e["resource"].get("resourceType")]


def resolve_prefetch(templates: dict[str, str], context: dict, client: FhirClient, fhir_base: str, *,
                     token_sent: bool = False) -> PrefetchBuild:
    """Resolve every template as an EHR would (see the module docstring for the states).

    Failures that would hit every read — the server unreachable, 401/403, answers that are not FHIR — raise
    :class:`SandboxError`; a failure of one key becomes that key's OperationOutcome."""
    build = PrefetchBuild()
    for key, template in templates.items():
        try:
            relative = render_template(template, context)
        except TemplateError as exc:
            build.states[key] = "absent"
            build.notes.append(f"{key}: not prefetched, {exc}")
            continue
        try:
            if is_search_template(template):
                resources, truncated = client.search_all(relative)
                if truncated:
                    build.notes.append(f"{key}: the search had more results than the sandbox reads; sent what it read")
                if resources:
                    build.prefetch[key] = searchset(resources, fhir_base)
                    build.states[key] = f"Bundle ({len(resources)})"
                else:
                    build.prefetch[key] = None
                    build.states[key] = "null (no match)"
            else:
                build.prefetch[key] = client.read(relative)
                build.states[key] = build.prefetch[key]["resourceType"]
        except FhirError as exc:
            if is_fatal(exc):
                raise SandboxError(describe_fhir_error(exc, fhir_base, f"prefetch {key!r}",
                                                       token_sent=token_sent)) from None
            if isinstance(exc, FhirHTTPError) and exc.status in (404, 410) and not is_search_template(template):
                build.prefetch[key] = None
                build.states[key] = "null (not found)"
                continue
            build.prefetch[key] = operation_outcome(describe_fhir_error(exc, fhir_base, f"prefetch {key!r}"))
            build.states[key] = "OperationOutcome"
            build.notes.append(f"{key}: the FHIR read failed; sent an OperationOutcome so the service fetches it")
    return build


def searchset(resources: list[dict], fhir_base: str) -> dict:
    base = fhir_base.rstrip("/")
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [_entry(r, base) for r in resources]}


def _entry(resource: dict, base: str) -> dict:
    entry: dict[str, Any] = {"resource": resource, "search": {"mode": "match"}}
    if isinstance(resource.get("id"), str):
        entry["fullUrl"] = f"{base}/{resource['resourceType']}/{resource['id']}"
    return entry


def operation_outcome(text: str) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "exception", "diagnostics": text}]}


def hook_request(*, service: dict, context: dict, fhir_base: str, fhir_authorization: dict | None,
                 prefetch: dict | None) -> dict:
    """The POST body of a hook call. ``prefetch`` None: none sent (the service fetches everything itself)."""
    body: dict[str, Any] = {"hookInstance": str(uuid.uuid4()), "hook": service["hook"], "fhirServer": fhir_base,
                            "context": context}
    if fhir_authorization:
        body["fhirAuthorization"] = fhir_authorization
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def latest_encounter_id(client: FhirClient, patient_id: str, fhir_base: str, *,
                        token_sent: bool = False) -> str | None:
    """The patient's most recent Encounter stands for "this visit" when none is given."""
    from urllib.parse import quote

    try:
        # One page is enough: the first entry of a date-sorted search is the latest.
        page = client.read(f"Encounter?patient={quote(patient_id, safe='')}&_sort=-date&_count=1")
    except FhirError as exc:
        if is_fatal(exc):
            raise SandboxError(describe_fhir_error(exc, fhir_base, "the patient's encounters",
                                                   token_sent=token_sent)) from None
        return None
    ids = [r.get("id") for r in _bundle_resources(page) if r.get("resourceType") == "Encounter" and isinstance(r.get("id"), str)]
    return ids[0] if ids else None
