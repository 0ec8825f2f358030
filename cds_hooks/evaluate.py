"""Offline evaluation of a hook request or a FHIR Bundle (the CLI's `evaluate`, batch scoring, informaticists)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from cards.render import RenderOptions, render_cards
from cds_hooks.declaration import SERVICES
from cds_hooks.errors import CdsError, operation_outcome
from cds_hooks.pipeline import evaluate_resources
from cds_hooks.processing import as_of_date, process_hook
from cds_hooks.services import load_all
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
    if isinstance(document, dict) and "hook" in document:
        try:
            outcome = process_hook(definition, document, config)
        except CdsError as exc:
            return {"service": definition.id, "error": exc.diagnostics,
                    "status": exc.status, "outcome": operation_outcome(exc.status, exc.diagnostics, exc.expressions, exc.issues)}
        findings, cards = outcome.findings, outcome.response["cards"]
    else:
        resources = _resources_of(document)
        if resources is None:
            return {"service": definition.id, "error": "input is neither a hook request nor a FHIR Bundle/resource"}
        patient_id = next((r.get("id") for r in resources if r.get("resourceType") == "Patient"), None)
        findings = evaluate_resources(definition.engine_objects(), resources, as_of=as_of_date(config),
                                      patient_id=patient_id)
        cards = [rc.card for rc in render_cards(findings, RenderOptions(
            patient_id=patient_id, hook_instance=f"offline:{patient_id}", max_cards=int(config["MAX_CARDS"]),
            show_not_applicable=bool(config["SHOW_NOT_APPLICABLE"])))]
    result: dict = {"service": definition.id, "findings": [finding_to_dict(f) for f in findings]}
    if include_cards:
        result["cards"] = cards
    return result


def _resources_of(document: Any) -> list[dict] | None:
    if not isinstance(document, dict) or "resourceType" not in document:
        return None
    if document["resourceType"] == "Bundle":
        return [e["resource"] for e in document.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return [document]
