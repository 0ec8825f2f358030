"""Allergies (FeatureSet.allergies) and statin_intolerance: a statin allergy or intolerance, from AllergyIntolerance
(substance in the Statin Allergen value set or a statin by the drug knowledge) or a Condition (statin-associated muscle
symptoms, statin myopathy). Refuted and entered-in-error entries never count; resolved allergies do not either."""
from __future__ import annotations

from engine.clinical_record import AllergyEntry
from engine.finding import Evidence
from engine.inputs import feature_label
from fhir_adapter.features.conditions import condition_evidence, qualifying_conditions, unrecognised_note
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key
from fhir_adapter.features.evidence import absent_evidence

_DROPPED = frozenset({"refuted", "entered-in-error"})
_NOT_CURRENT = frozenset({"inactive", "resolved"})


def allergy_list(ctx: ExtractionContext) -> None:
    """FeatureSet.allergies: recognised allergy entries of the patient, neither refuted nor entered in error."""
    entries = []
    for allergy in sorted(ctx.parsed.allergies, key=lambda a: chronological_key(a.recorded), reverse=True):
        if allergy.verification_status in _DROPPED:
            continue
        entries.append(AllergyEntry(
            source=allergy.ref, substance=allergy.substance, ingredients=tuple(i.name for i in allergy.ingredients),
            classes=allergy.classes, concepts=allergy.concepts, type=allergy.type, criticality=allergy.criticality,
            reactions=allergy.reactions, clinical_status=allergy.clinical_status,
            verification_status=allergy.verification_status, recorded=allergy.recorded))
    ctx.fs.allergies = tuple(entries)


def statin_intolerance(ctx: ExtractionContext) -> None:
    name = "statin_intolerance"
    inactive = 0
    for allergy in sorted(ctx.parsed.allergies, key=lambda a: chronological_key(a.recorded), reverse=True):
        if "statin_intolerance" not in allergy.concepts and "statin" not in allergy.classes:
            continue
        if allergy.verification_status in _DROPPED:
            continue
        if allergy.clinical_status in _NOT_CURRENT:
            inactive += 1
            continue
        invalid = ctx.parsed.check(allergy, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        kind = allergy.type or "allergy or intolerance"
        note = f"{kind} to {allergy.substance}"
        if allergy.reactions:
            note += f" (reaction: {', '.join(allergy.reactions)})"
        if allergy.verification_status == "unconfirmed":
            note += "; verification status 'unconfirmed'"
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, effective=allergy.recorded,
                            source=allergy.ref, note=note))
        return
    found, inactive_conditions = qualifying_conditions(ctx, name, ("statin_intolerance",), True)
    if found:
        ctx.fs.put(condition_evidence(name, found[0], ("statin_intolerance",), True))
        return
    note = "no statin allergy or intolerance recorded" + unrecognised_note(ctx, ("statin_intolerance",))
    ctx.fs.put(absent_evidence(name, note, inactive + inactive_conditions))
