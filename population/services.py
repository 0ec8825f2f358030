"""Which services a population job runs, and which resource types they read."""
from __future__ import annotations

from typing import Iterable

from cds_hooks.declaration import ServiceDefinition

# Read through a reference from a patient's resource (MedicationRequest.medicationReference), so routed as shared.
REFERENCED_TYPES = ("Medication",)


class ServiceSelectionError(ValueError):
    """A service that does not exist or cannot run over a population."""


def _load():
    from cds_hooks.declaration import SERVICES
    from cds_hooks.services import load_all

    load_all()
    return SERVICES


def default_service_ids() -> list[str]:
    """Every patient-view service whose engines read structured data, trained models excepted: models are opt-in
    (``--service heart-disease-model-demo``) because they load torch in every worker and the bundled one is a
    demonstration."""
    from engine.registry import models

    return [s.id for s in _load() if s.hook == "patient-view" and _population_problem(s) is None
            and not any(engine_id in models for engine_id in s.engines)]


def select_services(service_ids: Iterable[str] | None) -> list[ServiceDefinition]:
    registry = _load()
    ids = list(service_ids) if service_ids else default_service_ids()
    chosen: list[ServiceDefinition] = []
    for service_id in ids:
        definition = registry.get(service_id)
        if definition is None:
            raise ServiceSelectionError(f"unknown service {service_id!r}; known: {[s.id for s in registry]}")
        problem = _population_problem(definition)
        if problem:
            raise ServiceSelectionError(f"service {service_id!r} cannot score a population: {problem}")
        if definition not in chosen:
            chosen.append(definition)
    return chosen


def _population_problem(definition: ServiceDefinition) -> str | None:
    from engine.base import NoteEngine

    if definition.hook != "patient-view":
        return f"it answers {definition.hook}, which needs the encounter in progress"
    if any(isinstance(e, NoteEngine) for e in definition.engine_objects()):
        # The note engine reads note text that a Bulk Data export holds as Binary URLs outside the NDJSON; it runs
        # in the hook, where those reads are bounded by the hook's deadline.
        return "its note engine reads clinical-note attachments, which a Bulk Data export does not carry inline"
    return None


def resource_types(services: Iterable[ServiceDefinition]) -> list[str]:
    """The resource types the services' prefetch templates ask for, plus the types they read by reference: the
    types a Bulk Data export needs (``_type``) and the only ones routed."""
    types = {"Patient", *REFERENCED_TYPES}
    for definition in services:
        for template in definition.prefetch.values():
            types.add(template.split("?")[0].split("/")[0])
    return sorted(types)
