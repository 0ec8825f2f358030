"""The one path every service's hook call takes, shared by the HTTP layer and the offline CLI.

    resolved prefetch ─▶ scope to context.patientId ─▶ deceased? no cards ─▶ handler
                                                                              └─ call.run_engines():
                          features (feature engines) and notes (note engines) of the scoped record
                          ─▶ engines in two phases, each isolated (engine.runner)

* **Scope.** Resources whose subject (or ``patient``) is another patient, or that name no patient where they must,
  are dropped before anything reads them: no feature, no note, no Binary fetched for them. Each dropped resource is
  reported as an InputProblem naming only its reference, on every finding of the call and in the result.
* **Deceased.** A Patient with ``deceasedBoolean`` true or a ``deceasedDateTime`` on or before the as-of date gets no
  findings from any service: risk scores, diagnosis gaps and note suggestions mean nothing after death. The handler
  is not called.
* **Isolation.** Each engine runs in isolation (its failure is an error finding); a handler that raises gives an error
  finding for each engine it declares.
* **Drafted orders.** On order-select and order-sign the hook context's ``draftOrders`` become
  ``FeatureSet.draft_orders`` (``engine.clinical_record.DraftOrder``): the order-time checks' own input, never part of
  the medication list the prefetch gives.
* **One deadline.** The hook's :class:`cds_hooks.prefetch.Deadline`, made when the hook starts, bounds prefetch
  resolution and every later read (note attachments) together.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from engine.base import Engine, NoteEngine
from engine.finding import Finding, InputProblem, Status
from engine.inputs import FeatureSet
from engine.runner import run_engines
from fhir_adapter.features import extract_features
from fhir_adapter.parse import ParsedRecord, resource_ref
from fhir_adapter.parse.patient_scope import choose_patient, subject_problem

if TYPE_CHECKING:
    from cds_hooks.declaration import HookCall, ServiceResult

log = logging.getLogger(__name__)

# Resource types that are always about one patient: without a subject (or patient) reference they cannot be
# confirmed to be this patient's and are dropped, as the feature adapter does. Other types (Medication,
# Practitioner, Binary, ...) are kept unless they name a patient.
PATIENT_RESOURCE_TYPES = frozenset({
    "Observation", "Condition", "MedicationRequest", "MedicationStatement", "MedicationAdministration", "Procedure",
    "FamilyMemberHistory", "Goal", "AllergyIntolerance", "DocumentReference", "DiagnosticReport", "Encounter",
    "Immunization", "ServiceRequest", "CarePlan",
})


@dataclass(frozen=True)
class ScopedRecord:
    """The request's resources that are about its patient, and what was left out."""

    resources: tuple[dict, ...]
    dropped: tuple[InputProblem, ...] = ()  # one per resource left out, naming only its reference
    deceased: bool = False


def scope_to_patient(resources: Iterable[Any], patient_id: str | None, as_of: date) -> ScopedRecord:
    """Keep the resources about ``patient_id`` (the patient of the first Patient when no id is given).

    The rule is the feature adapter's (fhir_adapter.parse.patient_scope): ``Patient/<id>`` or ``urn:uuid:<id>``,
    absolute or versioned forms included, is this patient; anything else, or no reference on a patient resource, is
    not."""
    items = [r for r in resources if isinstance(r, dict)]
    patients = [r for r in items if r.get("resourceType") == "Patient"]
    parsed = ParsedRecord()
    allowed = choose_patient(parsed, [(p, None) for p in patients], patient_id, validate="none")
    chosen_ref = parsed.patient.ref if parsed.patient is not None else None
    dropped = list(parsed.problems)  # Patients that are not the request's, by reference
    kept: list[dict] = []
    chosen: dict | None = None
    # The verdict on each patient reference met (the same one or two, a thousand times on a long record).
    reasons: dict[str, str | None] = {}
    for resource in items:
        rtype = resource.get("resourceType")
        if rtype == "Patient":
            if chosen_ref is not None and resource_ref(resource) == chosen_ref:
                if chosen is None:
                    chosen = resource
                    kept.append(resource)
            elif chosen_ref is None and allowed is None:
                kept.append(resource)
            continue  # another patient, or a second copy: already reported by choose_patient
        if allowed is None:
            kept.append(resource)
            continue
        subject = resource.get("subject")  # _patient_reference's first choice, the usual one, read here
        if type(subject) is not dict or type(reference := subject.get("reference")) is not str or \
                not (reference := reference.strip()):
            reference = _patient_reference(resource)
        if reference is None:
            reason = None if rtype not in PATIENT_RESOURCE_TYPES else subject_problem(None, allowed)
        else:
            reason = reasons.get(reference, _NOT_JUDGED)
            if reason is _NOT_JUDGED:
                reason = reasons[reference] = subject_problem(reference, allowed)
        if reason is None:
            kept.append(resource)
        else:
            dropped.append(InputProblem(resource_ref(resource), None, reason))
    if dropped:
        log.info("scope: %d resource(s) not about the request's patient were left out", len(dropped))
    return ScopedRecord(tuple(kept), tuple(dropped), chosen is not None and is_deceased(chosen, as_of))


_NOT_JUDGED = object()  # a patient reference not judged yet (None is a verdict: this patient)


def _patient_reference(resource: dict) -> str | None:
    for key in ("subject", "patient"):
        value = resource.get(key)
        if isinstance(value, dict):
            reference = value.get("reference")
            if isinstance(reference, str) and reference.strip():
                return reference.strip()
    return None


def is_deceased(patient: Mapping[str, Any], as_of: date) -> bool:
    """Dead on the as-of date: ``deceasedBoolean`` true, or a ``deceasedDateTime`` (even a partial one, 2024 or
    2024-05) that starts on or before it. A later date means alive then (a replay of an earlier day)."""
    if patient.get("deceasedBoolean") is True:
        return True
    when = patient.get("deceasedDateTime")
    if not isinstance(when, str) or not when.strip():
        return False
    parts = when.strip()[:10].split("-")
    try:
        year = int(parts[0])
        month = int(parts[1]) if len(parts) > 1 else 1
        day = int(parts[2]) if len(parts) > 2 else 1
        return date(year, month, day) <= as_of
    except (ValueError, IndexError):
        return True  # present but unreadable: the EHR says the patient died; no cards is the safe side


# ---------------------------------------------------------------------------------------------------------------------
# The service call


def run_service(call: "HookCall") -> "ServiceResult":
    """Run the service of ``call`` through the pipeline: scope, deceased check, handler, problems reported."""
    from cds_hooks.declaration import ServiceResult

    scoped = call.scoped()
    if scoped.deceased:
        log.info("service %s: the patient is deceased; no cards", call.service.id)
        return ServiceResult(findings=[], input_problems=list(scoped.dropped))
    try:
        result = call.service.handler(call)
    except Exception as exc:  # noqa: BLE001 - a failing service answers with error findings, not a 500
        engines = call.service.engine_objects()
        if not engines:
            raise
        log.error("service %s failed: %s", call.service.id, type(exc).__name__)
        result = [engine.finding(Status.ERROR, message=f"{engine.title} could not be evaluated (internal error).")
                  for engine in engines]
    if not isinstance(result, ServiceResult):
        result = ServiceResult(findings=list(result))
    result.findings = with_problems(result.findings, scoped.dropped)
    result.input_problems = _merge(result.input_problems, scoped.dropped)
    return result


def evaluate_call(call: "HookCall") -> list[Finding]:
    """The service's declared engines on the patient-scoped record (what ``HookCall.run_engines`` does).

    The FeatureSet the engines read is left on ``call.features`` (the explainer plots each input's history from it)."""
    scoped = call.scoped()
    if scoped.deceased:
        return []
    engines: list[Engine] = call.service.engine_objects()
    note_engines = [e for e in engines if isinstance(e, NoteEngine)]
    if note_engines:
        notes, codes, problems = read_notes(call, scoped)
        bound = {id(e): e.with_notes(notes, codes, problems) for e in note_engines}
        engines = [bound.get(id(e), e) for e in engines]
    if len(note_engines) == len(engines):  # notes only: no features to extract
        features: FeatureSet | None = FeatureSet(as_of=call.as_of, now=call.now, options=dict(call.options))
    else:
        features = _features(scoped, as_of=call.as_of, patient_id=call.patient_id, now=call.now,
                             options=call.options, wanted=read_features(engines))
    call.features = features
    if features is None:
        return _unreadable(engines)
    if "draftOrders" in call.context:
        add_draft_orders(features, call)
    return run_engines(engines, features)


def add_draft_orders(features: FeatureSet, call: "HookCall") -> None:
    """The hook's drafted orders as ``FeatureSet.draft_orders``, apart from the medication list: on order-select the
    drafts in ``context.selections`` are the ones checked, on order-sign all of them. A draft about another patient
    is left out and reported on every finding."""
    from fhir_adapter.features.draft_orders import read_draft_orders

    selections = call.context.get("selections") if call.service.hook == "order-select" else None
    drafts, problems = read_draft_orders(call.context.get("draftOrders"), patient_id=call.patient_id,
                                         selections=selections if isinstance(selections, list) else None)
    features.draft_orders = drafts
    features.problems.extend(problems)


def read_notes(call: "HookCall", scoped: ScopedRecord) -> tuple[list, set[tuple[str, str]], list[InputProblem]]:
    """The scoped record's notes and active problem-list codes; note text held by URL (Binary) is read from the
    request's FHIR server within what is left of the hook's deadline."""
    from fhir_adapter.note_attachments import inline_note_attachments
    from fhir_adapter.notes import active_condition_codes, extract_notes

    resources: list[dict] = list(scoped.resources)
    problems: list[InputProblem] = []
    client = call.fhir_client()
    if client is not None:
        resources, problems = inline_note_attachments(resources, client, deadline=call.read_deadline().at)
    return extract_notes(resources), active_condition_codes(resources), problems


def with_problems(findings: Sequence[Finding], problems: Sequence[InputProblem]) -> list[Finding]:
    """``findings`` with ``problems`` added to their input problems (once each)."""
    if not problems:
        return list(findings)
    return [replace(f, input_problems=_merge(f.input_problems, problems)) if f.status is not Status.ERROR else f
            for f in findings]


def _merge(first: Sequence[InputProblem], more: Sequence[InputProblem]) -> Any:
    merged = list(first) + [p for p in more if p not in first]
    return tuple(merged) if isinstance(first, tuple) else merged


def evaluate_resources(engines: Iterable[Engine], resources: Iterable[dict], *, as_of: date,
                       patient_id: str | None = None, now=None,
                       options: Mapping[str, Any] | None = None) -> list[Finding]:
    """Feature engines on ``resources`` outside a hook call (scoped and checked as in a hook call; the dropped
    resources are reported on the findings)."""
    engines = list(engines)
    scoped = scope_to_patient(resources, patient_id, as_of)
    if scoped.deceased:
        return []
    features = _features(scoped, as_of=as_of, patient_id=patient_id, now=now, options=options,
                         wanted=read_features(engines))
    if features is None:
        return _unreadable(engines)
    return with_problems(run_engines(engines, features), scoped.dropped)


def read_features(engines: Iterable[Engine]) -> set[str]:
    """Every feature the engines require or read optionally: only these are extracted for the call."""
    return {name for engine in engines for name in (*engine.requires, *engine.optional)}


def _features(scoped: ScopedRecord, *, as_of: date, patient_id: str | None, now,
              options: Mapping[str, Any] | None, wanted: Iterable[str] | None = None) -> FeatureSet | None:
    """The features of the scoped record (only ``wanted`` and what they depend on); None when it cannot be read."""
    try:
        return extract_features(list(scoped.resources), as_of=as_of, patient_id=patient_id, now=now,
                                options=options, features=wanted)
    except Exception as exc:  # noqa: BLE001 - one unreadable record must not become a 500
        log.error("feature extraction failed: %s", type(exc).__name__)
        return None


def _unreadable(engines: Iterable[Engine]) -> list[Finding]:
    return [engine.finding(Status.ERROR, message="The record could not be read for this assessment.")
            for engine in engines]
