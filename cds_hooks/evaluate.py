"""Offline evaluation of a hook request or a FHIR Bundle (the CLI's `evaluate`, batch scoring, informaticists)."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qs

from cds_hooks.declaration import SERVICES, ServiceDefinition
from cds_hooks.errors import CdsError, operation_outcome
from cds_hooks.processing import process_hook
from cds_hooks.services import load_all
from engine.proposals import DRAFT_ORDER_TYPES
from engine.serialize import finding_to_dict


def evaluate_file(path: Path, *, service_id: str, config: Mapping[str, Any], include_cards: bool = True) -> dict:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        return {"input": str(path), "error": f"cannot read JSON: {type(exc).__name__}"}
    result = evaluate_document(document, service_id=service_id, config=config, include_cards=include_cards)
    return {"input": str(path), **result}


def evaluate_document(document: Any, *, service_id: str, config: Mapping[str, Any], include_cards: bool = True) -> dict:
    load_all()
    definition = SERVICES.get(service_id)
    if definition is None:
        return {"error": f"unknown service {service_id!r}; known: {[s.id for s in SERVICES]}"}
    if not (isinstance(document, dict) and "hook" in document):
        resources = _resources_of(document)
        if resources is None:
            return {"service": definition.id, "error": "input is neither a hook request nor a FHIR Bundle/resource"}
        document = hook_request_from_resources(resources, definition)
        if document is None:
            return {"service": definition.id, "error": "the Bundle holds no Patient" + (
                " or no drafted order (status draft) to select" if definition.hook == "order-select" else "")}
    try:
        outcome = process_hook(definition, document, config)
    except CdsError as exc:
        return {"service": definition.id, "error": exc.diagnostics, "status": exc.status,
                "outcome": operation_outcome(exc.status, exc.diagnostics, exc.expressions, exc.issues)}
    findings, cards = outcome.findings, outcome.response["cards"]
    result: dict = {"service": definition.id, "findings": [finding_to_dict(f) for f in findings]}
    if include_cards:
        result["cards"] = cards
    return result


def hook_request_from_resources(resources: list[dict], definition: ServiceDefinition) -> dict | None:
    """Emulate the EHR: answer each prefetch template of the service from a patient's resources.

    Read templates (``Patient/{{context.patientId}}``) get the Patient; search templates get that patient's
    resources of the type, filtered by the ``code`` and ``status`` parameters when the template has them. For
    order-select and order-sign the patient's orders with status ``draft`` are the drafted orders
    (``context.draftOrders``; on order-select all of them are the selections). None when there is no Patient, or no
    drafted order for order-select (an EHR calls order-select only when something is selected).
    """
    patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    if patient is None or not patient.get("id"):
        return None
    drafts = [r for r in resources if r.get("resourceType") in DRAFT_ORDER_TYPES and r.get("status") == "draft"
              and isinstance(r.get("id"), str)]
    if definition.hook == "order-select" and not drafts:
        return None
    prefetch: dict[str, Any] = {}
    for key, template in definition.prefetch.items():
        path, _, query = template.partition("?")
        resource_type = path.split("/")[0]
        if not query:
            prefetch[key] = patient if resource_type == "Patient" else None
            continue
        params = parse_qs(query)
        codes = {c.split("|")[-1] for value in params.get("code", []) for c in value.split(",")}
        statuses = {s for value in params.get("status", []) for s in value.split(",")}
        matches = [r for r in resources if r.get("resourceType") == resource_type
                   and (not codes or any(c.get("code") in codes for c in (r.get("code") or {}).get("coding", [])))
                   and (not statuses or r.get("status") in statuses)]
        matches.sort(key=_effective_date, reverse=True)  # the templates ask for _sort=-date
        entries: list[dict] = [{"resource": r} for r in matches]
        if _includes_medication(params, resource_type):
            entries += [{"resource": m, "search": {"mode": "include"}} for m in _referenced_medications(matches,
                                                                                                        resources)]
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": entries}
    context = {"userId": "Practitioner/offline-evaluation", "patientId": patient["id"]}
    encounters = sorted((r for r in resources if r.get("resourceType") == "Encounter" and r.get("id")),
                        key=lambda r: (r.get("period") or {}).get("start", ""), reverse=True)
    if encounters:
        context["encounterId"] = encounters[0]["id"]  # the latest encounter stands for "this visit"
    elif definition.hook.startswith("encounter-"):
        context["encounterId"] = "offline-encounter"
    if definition.hook in ("order-select", "order-sign"):
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in drafts]}
        if definition.hook == "order-select":
            context["selections"] = [f"{r['resourceType']}/{r['id']}" for r in drafts]
    return {
        "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, f"offline:{definition.id}:{patient['id']}")),
        "hook": definition.hook,
        "context": context,
        "prefetch": prefetch,
    }


def _includes_medication(params: dict[str, list[str]], resource_type: str) -> bool:
    return f"{resource_type}:medication" in {v for value in params.get("_include", []) for v in value.split(",")}


def _referenced_medications(matches: list[dict], resources: list[dict]) -> list[dict]:
    """The Medications among ``resources`` that ``matches`` reference by medicationReference, once each."""
    by_id = {str(r["id"]): r for r in resources if r.get("resourceType") == "Medication" and r.get("id")}
    out: list[dict] = []
    for resource in matches:
        reference = (resource.get("medicationReference") or {}).get("reference")
        if not isinstance(reference, str) or reference.startswith("#"):
            continue
        medication_id = reference.split("/_history/")[0].rstrip("/").split("/")[-1].removeprefix("urn:uuid:")
        medication = by_id.get(medication_id)
        if medication is not None and all(m is not medication for m in out):
            out.append(medication)
    return out


def _effective_date(resource: dict) -> str:
    for key in ("effectiveDateTime", "issued", "authoredOn", "recordedDate", "onsetDateTime"):
        if isinstance(resource.get(key), str):
            return resource[key]
    period = resource.get("effectivePeriod")
    return period.get("end", period.get("start", "")) if isinstance(period, dict) else ""


def _resources_of(document: Any) -> list[dict] | None:
    if not isinstance(document, dict) or "resourceType" not in document:
        return None
    if document["resourceType"] == "Bundle":
        return [e["resource"] for e in document.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return [document]
