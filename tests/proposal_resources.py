"""Tests' view of proposals: the FHIR R4 resources cards/fhir.py builds from them, each validated with the
fhir.resources R4B model of its type (a resource that fails validation fails the test that asked for it)."""
from __future__ import annotations

from importlib import import_module

from cards.fhir import BuildContext, action_for
from engine.proposals import Suggestion

R4B_MODELS = {"Condition": "condition", "ServiceRequest": "servicerequest", "MedicationRequest": "medicationrequest"}


def validated(resource: dict):
    """The fhir.resources R4B model of the resource (raises when it is not valid FHIR)."""
    module = import_module(f"fhir.resources.R4B.{R4B_MODELS[resource['resourceType']]}")
    return getattr(module, resource["resourceType"]).model_validate(resource)


def resources(item, patient_id: str = "p1", draft_orders: dict | None = None) -> list[dict]:
    """The resources a Finding's (or one Suggestion's) proposals become, each checked against FHIR R4."""
    suggestions = [item] if isinstance(item, Suggestion) else list(item.suggestions)
    context = BuildContext(patient_id=patient_id, draft_orders=draft_orders)
    out = []
    for suggestion in suggestions:
        for proposal in suggestion.proposals:
            action = action_for(proposal, context)
            if "resource" in action:
                validated(action["resource"])
                out.append(action["resource"])
    return out


def resource(item, patient_id: str = "p1") -> dict:
    """The first resource of a finding or suggestion (most have exactly one)."""
    return resources(item, patient_id)[0]
