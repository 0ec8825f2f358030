"""Declaring a CDS service: once, with ``@service``; discovery, routing and prefetch follow from it.

    @service(id="cardiovascular-risk", hook="patient-view", title="…", description="…",
             prefetch={"patient": "Patient/{{context.patientId}}"}, engines=("pce-2013",))
    def cardiovascular_risk(call: HookCall) -> list[Finding]:
        return call.run_engines()

The decorated function receives a HookCall whose prefetch has been resolved before it runs, and runs inside the
service pipeline (cds_hooks.pipeline): resources about another patient are already left out of
``call.scoped_resources()`` and ``call.run_engines()``, a deceased patient's call never reaches it, and a handler
that raises gives error findings. Engines may be calculators, detectors, models, note engines (they read the
scoped notes) and rules (they read the findings of engines the same service declares; see ``service``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterable, Iterator

from engine.base import Engine, RuleEngine
from engine.finding import Finding, InputProblem


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    handler: Callable[["HookCall"], "list[Finding] | ServiceResult"]
    prefetch: dict[str, str] = field(default_factory=dict)
    engines: tuple[str, ...] = ()
    usage_requirements: str | None = None
    # Prefetch keys the service can answer without (e.g. family history for one item of a score): when such a
    # key can't be had, the call goes on with it empty instead of a 412.
    optional_prefetch: frozenset[str] = frozenset()
    # A setting (e.g. "ENABLE_DEMO_MODEL") that must be true for the service to exist: off, it is left out of
    # discovery and its URLs answer 404. None: always on.
    enabled_by: str | None = None

    def enabled(self, config) -> bool:
        return self.enabled_by is None or bool(config.get(self.enabled_by))

    def discovery_entry(self) -> dict:
        entry: dict[str, Any] = {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
        }
        if self.prefetch:
            entry["prefetch"] = dict(self.prefetch)
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        return entry

    def engine_objects(self) -> list[Engine]:
        return [find_engine(engine_id) for engine_id in self.engines]


@dataclass
class ServiceResult:
    findings: list[Finding]
    system_actions: list[dict] = field(default_factory=list)
    # Resources left out of the call (about another patient); the pipeline also puts them on every finding.
    input_problems: list[InputProblem] = field(default_factory=list)


@dataclass
class HookCall:
    """What a service handler sees: the validated request with its prefetch already resolved."""

    service: ServiceDefinition
    request: dict
    prefetch: dict[str, Any]
    as_of: date
    notes: list[str] = field(default_factory=list)
    now: datetime | None = None  # the request time (tz-aware); None when replaying a fixed date
    options: dict[str, Any] = field(default_factory=dict)  # engine options from the configuration
    client_settings: Any = None  # fhir_adapter.client.ClientSettings for services that read more than the prefetch
    deadline: Any = None  # cds_hooks.prefetch.Deadline of the hook, shared by prefetch resolution and later reads
    # cds_hooks.alert_memory.AlertMemory: which order-time alerts were already shown (None: no memory, show all).
    alerts: Any = None
    # Finding id → the alert memory keys of the order-time alerts kept for this call (remembered once sent).
    alert_keys: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _scoped: Any = field(default=None, init=False, repr=False, compare=False)
    # The engine.inputs.FeatureSet the engines last read (set by run_engines): findings keep only the value they used,
    # the explainer page plots each input's whole series from it. None until engines have run.
    features: Any = field(default=None, init=False, repr=False, compare=False)

    def fhir_client(self):
        """A client for the request's fhirServer with its bearer token, or None when there is no server to ask."""
        server = self.request.get("fhirServer")
        if not server or self.client_settings is None:
            return None
        from fhir_adapter.client import client_for

        return client_for(server, self.request.get("fhirAuthorization"), self.client_settings)

    def read_deadline(self):
        """The hook's deadline for any FHIR read the service makes itself (what prefetch resolution left of it)."""
        if self.deadline is None:  # a call built outside process_hook (tests, tools)
            from cds_hooks.prefetch import Deadline
            from fhir_adapter.client import ClientSettings

            self.deadline = Deadline.after((self.client_settings or ClientSettings()).deadline_s)
        return self.deadline

    @property
    def context(self) -> dict:
        return self.request.get("context") or {}

    @property
    def patient_id(self) -> str | None:
        return self.context.get("patientId")

    @property
    def hook_instance(self) -> str:
        return self.request.get("hookInstance", "")

    def resources(self) -> list[dict]:
        """All resources from the resolved prefetch, flattened (single resources and search results), unscoped:
        services read ``scoped_resources()``."""
        out: list[dict] = []
        for value in self.prefetch.values():
            if isinstance(value, dict):
                out.append(value)
            elif isinstance(value, list):
                out.extend(v for v in value if isinstance(v, dict))
        return out

    def scoped(self):
        """The prefetch's resources about context.patientId, what was dropped and whether the patient is deceased
        (a cds_hooks.pipeline.ScopedRecord, computed once per call)."""
        if self._scoped is None:
            from cds_hooks.pipeline import scope_to_patient

            self._scoped = scope_to_patient(self.resources(), self.patient_id, self.as_of)
        return self._scoped

    def scoped_resources(self) -> list[dict]:
        """The resources of the resolved prefetch that are about this call's patient."""
        return list(self.scoped().resources)

    def run_engines(self) -> list[Finding]:
        """The declared engines, in two phases, on the scoped record (features, and notes for note engines)."""
        from cds_hooks.pipeline import evaluate_call

        return evaluate_call(self)


class ServiceRegistry:
    def __init__(self) -> None:
        self._services: dict[str, ServiceDefinition] = {}

    def add(self, definition: ServiceDefinition) -> None:
        if definition.id in self._services:
            raise ValueError(f"CDS service {definition.id!r} is declared twice")
        self._services[definition.id] = definition

    def get(self, service_id: str) -> ServiceDefinition | None:
        return self._services.get(service_id)

    def __iter__(self) -> Iterator[ServiceDefinition]:
        return iter(sorted(self._services.values(), key=lambda s: s.id))

    def __len__(self) -> int:
        return len(self._services)


SERVICES = ServiceRegistry()


def find_engine(engine_id: str) -> Engine:
    """The engine with this id from whichever registry declares it."""
    import engine.calculators  # noqa: F401 - registers the engines a service may name
    import engine.detectors  # noqa: F401
    import engine.models  # noqa: F401 - the trained-model engine (torch loads only when a model runs)
    import engine.models.notes  # noqa: F401 - the note engine (the encoder loads only when notes are read)
    import engine.order_checks  # noqa: F401 - the order-time checks
    import engine.pharmacogenomics  # noqa: F401 - the pharmacogenomic engines
    import engine.rules  # noqa: F401 - the treatment rules
    from engine.registry import calculators, detectors, models, order_checks, pharmacogenomics, rules

    for registry in (calculators, detectors, rules, models, order_checks, pharmacogenomics):
        if engine_id in registry:
            return registry.get(engine_id)
    raise KeyError(f"unknown engine {engine_id!r}")


def engine_features(engine_ids: Iterable[str]) -> tuple[str, ...]:
    """Every feature the named engines require or read optionally, in declaration order."""
    names: list[str] = []
    for engine_id in engine_ids:
        found = find_engine(engine_id)
        names.extend(n for n in (*found.requires, *found.optional) if n not in names)
    return tuple(names)


def engine_records(engine_ids: Iterable[str]) -> tuple[str, ...]:
    """Every FHIR resource type the named engines read as records (``Engine.reads_records``), in declaration order."""
    types: list[str] = []
    for engine_id in engine_ids:
        types.extend(t for t in find_engine(engine_id).reads_records if t not in types)
    return tuple(types)


class ServiceDeclarationError(ValueError):
    """A service declaration that cannot work as written (a rule reading an engine the service does not run)."""


def check_rule_inputs(service_id: str, engines: Iterable[Engine]) -> None:
    """Every engine a rule reads must be a first-phase engine of the same service.

    A rule's inputs are not pulled in silently: each engine of a service is a card the clinician sees, so the
    service names it (e.g. a statin rule's service declares "pce-2013" too). Raises ServiceDeclarationError."""
    engines = list(engines)
    first_phase = {e.id for e in engines if not isinstance(e, RuleEngine)}
    rule_ids = {e.id for e in engines if isinstance(e, RuleEngine)}
    for rule in (e for e in engines if isinstance(e, RuleEngine)):
        for read in rule.reads_findings:
            if read in rule_ids:
                raise ServiceDeclarationError(
                    f"service {service_id!r}: rule {rule.id!r} reads rule {read!r}; rules read only scores, "
                    "detectors and models")
            if read not in first_phase:
                raise ServiceDeclarationError(
                    f"service {service_id!r}: rule {rule.id!r} reads the findings of {read!r}, which the service does "
                    f"not declare; add {read!r} to its engines")


def service(*, id: str, hook: str, title: str, description: str, prefetch: dict[str, str] | None = None,
            engines: Iterable[str] = (), usage_requirements: str | None = None, enabled_by: str | None = None):
    """Declare a CDS service. Without ``prefetch``, the templates are derived from the features its engines read
    (Observations by their LOINC codes, the problem list, medications, ... — see services/feature_prefetch.py) and
    the records they read (``Engine.reads_records``: the medication list, allergies).

    Every engine id must be known; a rule's ``reads_findings`` must name engines the service also declares
    (ServiceDeclarationError otherwise, at import time rather than on the first hook call)."""
    engines = tuple(engines)
    check_rule_inputs(id, [find_engine(engine_id) for engine_id in engines])
    optional_prefetch: frozenset[str] = frozenset()
    if prefetch is None and engines:
        from cds_hooks.services.feature_prefetch import OPTIONAL_KEYS, prefetch_for

        prefetch = prefetch_for(engine_features(engines), engine_records(engines))
        optional_prefetch = frozenset(OPTIONAL_KEYS) & set(prefetch)

    def decorate(handler):
        SERVICES.add(ServiceDefinition(id=id, hook=hook, title=title, description=description, handler=handler,
                                       prefetch=dict(prefetch or {}), engines=tuple(engines),
                                       usage_requirements=usage_requirements, optional_prefetch=optional_prefetch,
                                       enabled_by=enabled_by))
        return handler

    return decorate
