"""The one FHIR builder: engines' typed proposals (engine/proposals.py) → FHIR R4 resources and CDS Hooks 2.0.1
suggestions and actions.

Every resource the service proposes is written here, so every one has what FHIR R4 requires and what an EHR needs to
file it: ``subject`` (1..1 on Condition, ServiceRequest and MedicationRequest), a draft status and ``proposal`` intent
for orders (the clinician signs them), problem-list category and a provisional verification for problems.

CDS Hooks 2.0.1 actions (section "Action"): ``create`` carries the new ``resource``; ``update`` carries the resource "in
its entirety" (the drafted order with the changed fields, keeping its id) and, as every action may, its ``resourceId``;
``delete`` carries ``resourceId``, a relative reference such as ``ServiceRequest/procedure-request-1`` (the 2.0.1
example; a string, not an array). A suggestion may hold several actions the EHR applies together; a card that offers
alternatives, or two suggestions that act on the same resource (change a draft's dose, or cancel it), says
``selectionBehavior: at-most-one`` and marks the preferred one ``isRecommended``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from engine.proposals import (
    AddProblem,
    CancelDraftOrder,
    ChangeDraftOrder,
    Coding,
    Dose,
    MedicationOption,
    OrderTest,
    Proposal,
    SelectionBehavior,
    StartMedication,
    Suggestion,
)

_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
_SNOMED = "http://snomed.info/sct"
_UCUM = "http://unitsofmeasure.org"
_VERIFICATION_DISPLAY = {"provisional": "Provisional", "differential": "Differential", "unconfirmed": "Unconfirmed"}

OVERRIDE_REASON_SYSTEM = "urn:precision-cds:override-reason"


def _reason(code: str, display: str) -> dict:
    return {"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": display}


# CDS Hooks 2.0.1 Card.overrideReasons: offered on every card with suggestions (and on diagnosis warnings); the feedback
# endpoint stores the one chosen. A card offers the union of the sets its suggestions call for, each reason once.
DIAGNOSIS_OVERRIDE_REASONS: tuple[dict, ...] = (
    _reason("already-addressed", "Already addressed (diagnosed or documented elsewhere)"),
    _reason("not-applicable", "Not applicable to this patient"),
    _reason("patient-declined", "Patient declined"),
    _reason("data-error", "Result is wrong or mislabelled"),
)
ORDER_OVERRIDE_REASONS: tuple[dict, ...] = (
    _reason("already-done", "Already done or ordered elsewhere"),
    _reason("not-applicable", "Not applicable to this patient"),
    _reason("patient-declined", "Patient declined"),
    _reason("defer", "Will address at a later visit"),
)
MEDICATION_OVERRIDE_REASONS: tuple[dict, ...] = (
    _reason("already-on-therapy", "Already on equivalent therapy"),
    _reason("contraindicated", "Contraindicated or not tolerated by this patient"),
    _reason("patient-declined", "Patient declined"),
    _reason("not-applicable", "Not applicable to this patient"),
)
DRAFT_ORDER_OVERRIDE_REASONS: tuple[dict, ...] = (
    _reason("benefit-outweighs-risk", "Benefit outweighs the risk; keep the order as drafted"),
    _reason("already-adjusted", "Dose already adjusted for this patient"),
    _reason("monitoring-planned", "Will monitor closely"),
    _reason("data-error", "Result is wrong or mislabelled"),
)


class DraftOrderNotFound(LookupError):
    """A change to a drafted order that is not in the hook's draftOrders: the whole resource cannot be sent."""


@dataclass(frozen=True)
class BuildContext:
    """What the builder needs from the hook call: the patient and, at order time, the clinician's drafted orders by
    relative reference ("MedicationRequest/draft-1" → resource)."""

    patient_id: str | None = None
    draft_orders: Mapping[str, dict] | None = None


# -- proposals → resources -------------------------------------------------------------------------------------------
def condition_resource(proposal: AddProblem, context: BuildContext) -> dict:
    verification = proposal.verification.value
    resource: dict = {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": _CLINICAL, "code": "active", "display": "Active"}]},
        "verificationStatus": {"coding": [{"system": _VERIFICATION, "code": verification,
                                           "display": _VERIFICATION_DISPLAY[verification]}]},
        "category": [{"coding": [{"system": _CATEGORY, "code": "problem-list-item", "display": "Problem List Item"}]}],
        "code": {"coding": _codings(proposal.condition.codings), "text": proposal.text or proposal.condition.name},
        "note": [{"text": proposal.note}],
    }
    if proposal.evidence:
        resource["evidence"] = [{"detail": [{"reference": r} for r in dict.fromkeys(proposal.evidence)]}]
    return _with_subject(resource, context)


def service_request_resource(proposal: OrderTest, context: BuildContext) -> dict:
    resource: dict = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal"}
    if proposal.laboratory:
        resource["category"] = [{"coding": [{"system": _SNOMED, "code": "108252007",
                                             "display": "Laboratory procedure"}]}]
    resource["code"] = {"coding": _codings((proposal.code,)), "text": proposal.text}
    resource["reasonCode"] = [_reason_concept(proposal.reason, proposal.reason_codings)]
    if proposal.reason_references:
        resource["reasonReference"] = [{"reference": r} for r in dict.fromkeys(proposal.reason_references)]
    return _with_subject(resource, context)


def medication_request_resource(proposal: StartMedication, option: MedicationOption, context: BuildContext) -> dict:
    resource: dict = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": _concept(option.medication),
        "reasonCode": [_reason_concept(proposal.reason, proposal.reason_codings)],
        "dosageInstruction": [_dosage(option.dose)],
    }
    if proposal.reason_references:
        resource["reasonReference"] = [{"reference": r} for r in dict.fromkeys(proposal.reason_references)]
    return _with_subject(resource, context)


def changed_draft_resource(proposal: ChangeDraftOrder, context: BuildContext) -> dict:
    """The drafted order in its entirety with the proposed fields replaced (CDS Hooks update), its id kept."""
    draft = (context.draft_orders or {}).get(proposal.draft)
    if not isinstance(draft, dict):
        raise DraftOrderNotFound(proposal.draft)
    kind, draft_id = proposal.draft.split("/", 1)
    if draft.get("resourceType") != kind or draft.get("id") != draft_id:
        raise DraftOrderNotFound(proposal.draft)
    resource = copy.deepcopy(draft)
    if proposal.code is not None:
        if kind == "MedicationRequest":
            _drop_contained(resource, resource.pop("medicationReference", None))
            resource["medicationCodeableConcept"] = _concept(proposal.code)
        else:
            resource["code"] = _concept(proposal.code)
    if proposal.dose is not None:
        instructions = resource.get("dosageInstruction")
        if isinstance(instructions, list) and instructions and isinstance(instructions[0], dict):
            resource["dosageInstruction"] = [_changed_dosage(instructions[0], proposal.dose), *instructions[1:]]
        else:
            resource["dosageInstruction"] = [_dosage(proposal.dose)]
    resource["note"] = [*resource.get("note", []), {"text": f"Changed on precision-cds advice: {proposal.reason}"}]
    return resource


def action_for(proposal: Proposal, context: BuildContext, option: MedicationOption | None = None) -> dict:
    """One CDS Hooks action for one proposal (for a StartMedication: for the option given, else its only one)."""
    if isinstance(proposal, AddProblem):
        return {"type": "create", "description": proposal.description,
                "resource": condition_resource(proposal, context)}
    if isinstance(proposal, OrderTest):
        return {"type": "create", "description": proposal.description or proposal.reason,
                "resource": service_request_resource(proposal, context)}
    if isinstance(proposal, StartMedication):
        chosen = option or proposal.options[0]
        return {"type": "create", "description": proposal.description or f"{chosen.label}: {proposal.reason}",
                "resource": medication_request_resource(proposal, chosen, context)}
    if isinstance(proposal, ChangeDraftOrder):
        return {"type": "update", "description": proposal.description, "resourceId": proposal.draft,
                "resource": changed_draft_resource(proposal, context)}
    if isinstance(proposal, CancelDraftOrder):
        return {"type": "delete", "description": proposal.description, "resourceId": proposal.draft}
    raise TypeError(f"not a proposal: {type(proposal).__name__}")


# -- suggestions -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuiltSuggestions:
    suggestions: list[dict]
    selection_behavior: str | None  # None when there are no suggestions (the card then has no selectionBehavior)
    override_reasons: list[dict]


def build_suggestions(suggestions: Sequence[Suggestion], context: BuildContext, *,
                      uuid_of: Callable[[str], str], at_most_one: bool = False) -> BuiltSuggestions:
    """CDS Hooks suggestions for a card. A suggestion offering alternatives (a StartMedication with several options)
    becomes one suggestion per option, the card ``at-most-one``; a change to a drafted order that is not in the hook's
    draftOrders is left out (its resource cannot be sent whole), as is anything that would repeat a label. Two
    suggestions that update or delete the same resource make the card ``at-most-one`` too."""
    out: list[dict] = []
    labels: set[str] = set()
    choice = at_most_one or any(s.is_choice for s in suggestions)
    for suggestion in suggestions:
        for label, recommended, actions in _expanded(suggestion, context):
            if label in labels:
                continue
            labels.add(label)
            entry: dict = {"label": _clip(label), "uuid": uuid_of(label), "actions": actions}
            if recommended:
                entry["isRecommended"] = True
            out.append(entry)
    choice = choice or _share_a_resource(out)
    if choice:
        # at-most-one: the preferred alternative is the one recommendation (CDS Hooks asks for one at most).
        recommended = [s for s in out if s.get("isRecommended")]
        for second in recommended[1:]:
            del second["isRecommended"]
    behavior = None if not out else (SelectionBehavior.AT_MOST_ONE if choice else SelectionBehavior.ANY).value
    return BuiltSuggestions(out, behavior, override_reasons_for(suggestions) if out else [])


def _share_a_resource(suggestions: list[dict]) -> bool:
    """Whether two suggestions change or remove the same resource (dose change and cancel of one draft): accepting
    both would apply conflicting actions to it, so the card is at-most-one."""
    seen: set[str] = set()
    for suggestion in suggestions:
        touched = {a["resourceId"] for a in suggestion["actions"] if a["type"] in ("update", "delete")
                   and isinstance(a.get("resourceId"), str)}
        if touched & seen:
            return True
        seen |= touched
    return False


def _expanded(suggestion: Suggestion, context: BuildContext):
    choice = next((p for p in suggestion.proposals if isinstance(p, StartMedication) and len(p.options) > 1), None)
    variants: list[tuple[str, bool, MedicationOption | None]]
    if choice is None:
        variants = [(suggestion.label, suggestion.recommended, None)]
    else:
        variants = [(o.label, i == choice.recommended, o) for i, o in enumerate(choice.options)]
    for label, recommended, option in variants:
        try:
            actions = [action_for(p, context, option if p is choice else None) for p in suggestion.proposals]
        except DraftOrderNotFound:
            continue
        yield label, recommended, actions


def override_reasons_for(suggestions: Iterable[Suggestion], *, diagnosis: bool = False) -> list[dict]:
    """The union of the override reason sets the proposals call for, each code once, in a stable order."""
    proposals = [p for s in suggestions for p in s.proposals]
    sets: list[tuple[dict, ...]] = []
    if diagnosis or any(isinstance(p, AddProblem) for p in proposals):
        sets.append(DIAGNOSIS_OVERRIDE_REASONS)
    if any(isinstance(p, OrderTest) for p in proposals):
        sets.append(ORDER_OVERRIDE_REASONS)
    if any(isinstance(p, StartMedication) for p in proposals):
        sets.append(MEDICATION_OVERRIDE_REASONS)
    if any(isinstance(p, (ChangeDraftOrder, CancelDraftOrder)) for p in proposals):
        sets.append(DRAFT_ORDER_OVERRIDE_REASONS)
    reasons: dict[str, dict] = {}
    for reason_set in sets:
        for reason in reason_set:
            reasons.setdefault(reason["code"], dict(reason))
    return list(reasons.values())


# -- pieces ------------------------------------------------------------------------------------------------------------
def _with_subject(resource: dict, context: BuildContext) -> dict:
    if context.patient_id:
        resource["subject"] = {"reference": f"Patient/{context.patient_id}"}
    return resource


def _codings(codings: Iterable[Coding]) -> list[dict]:
    out = []
    for c in codings:
        coding = {"system": c.system, "code": c.code}
        if c.display:
            coding["display"] = c.display
        out.append(coding)
    return out


def _concept(coding: Coding) -> dict:
    concept: dict = {"coding": _codings((coding,))}
    if coding.display:
        concept["text"] = coding.display
    return concept


def _reason_concept(text: str, codings: Sequence[Coding]) -> dict:
    concept: dict = {"text": text}
    if codings:
        concept["coding"] = _codings(codings)
    return concept


def _dosage(dose: Dose) -> dict:
    dosage: dict = {"text": dose.text}
    if dose.times_per_day is not None:
        dosage["timing"] = {"repeat": {"frequency": dose.times_per_day, "period": 1, "periodUnit": "d"}}
    if dose.quantity is not None:
        dosage["doseAndRate"] = [{"doseQuantity": {"value": dose.quantity, "unit": dose.unit, "system": _UCUM,
                                                   "code": dose.unit}}]
    return dosage


# Timing.repeat elements that say how often (replaced by a new frequency); the others (bounds, count, duration) stay.
_FREQUENCY_ELEMENTS = ("frequency", "frequencyMax", "period", "periodMax", "periodUnit", "dayOfWeek", "timeOfDay",
                       "when", "offset")


def _changed_dosage(drafted: dict, dose: Dose) -> dict:
    """The drafted dosage with only its dose and frequency replaced: route, asNeeded, patientInstruction, timing
    bounds and the rest are the prescriber's and stay. A dose without a quantity removes the drafted doseAndRate (it
    would contradict the text); a new frequency replaces the timing's frequency elements and its code (TID)."""
    dosage = {**drafted, "text": dose.text}
    dosage.pop("doseAndRate", None)
    if dose.quantity is not None:
        dosage["doseAndRate"] = _dosage(dose)["doseAndRate"]
    if dose.times_per_day is not None and not _same_frequency(drafted.get("timing"), dose.times_per_day):
        timing = dict(drafted["timing"]) if isinstance(drafted.get("timing"), dict) else {}
        timing.pop("code", None)
        repeat = timing.get("repeat") if isinstance(timing.get("repeat"), dict) else {}
        repeat = {k: v for k, v in repeat.items() if k not in _FREQUENCY_ELEMENTS}
        timing["repeat"] = {**repeat, **_dosage(dose)["timing"]["repeat"]}
        dosage["timing"] = timing
    return dosage


def _same_frequency(timing: object, times_per_day: int) -> bool:
    """The drafted timing already says this many times a day (its times of day and code then stay as drafted)."""
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    return (isinstance(repeat, dict) and repeat.get("frequency") == times_per_day and repeat.get("period") == 1
            and repeat.get("periodUnit") == "d" and "frequencyMax" not in repeat and "periodMax" not in repeat)


def _drop_contained(resource: dict, reference: object) -> None:
    """Remove the contained Medication a replaced medicationReference ("#med1") pointed to: once the product is a
    code, nothing references it and a contained resource must be referenced (FHIR R4 dom-3)."""
    target = reference.get("reference") if isinstance(reference, dict) else None
    contained = resource.get("contained")
    if not (isinstance(target, str) and target.startswith("#") and isinstance(contained, list)):
        return
    kept = [c for c in contained if not (isinstance(c, dict) and c.get("id") == target[1:])]
    if kept:
        resource["contained"] = kept
    else:
        resource.pop("contained")


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
