"""Medication features: the medication list, and True from an active MedicationRequest / MedicationStatement of a
class ("on a statin", "on blood-pressure treatment"), named with ingredient, daily dose and, for statins, intensity."""
from __future__ import annotations

from datetime import date

from engine.clinical_record import MedicationEntry
from engine.finding import Evidence
from engine.inputs import feature_label
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key, day_of
from fhir_adapter.features.evidence import matching_coding
from fhir_adapter.parse import MedicationRecord
from fhir_adapter.terminology import drugs

_NOT_TAKEN_INTENTS = frozenset({"proposal", "plan"})

MEDICATION_RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "bp_treated": (("antihypertensive",), "antihypertensive medication"),
    "statin": (("statin",), "statin"),
    "antiplatelet_or_nsaid": (("antiplatelet", "nsaid"), "antiplatelet or NSAID"),
    "anticoagulant": (("anticoagulant",), "oral anticoagulant"),
}


def _inactive_reason(ctx: ExtractionContext, med: MedicationRecord) -> str | None:
    return inactive_reason(med, ctx.as_of)


def inactive_reason(med: MedicationRecord, as_of: date) -> str | None:
    """Why a medication entry is not currently taken ("" for entered-in-error), or None when it is."""
    if med.status == "entered-in-error":
        return ""
    if med.status != "active" or med.do_not_perform or (
            med.resource_type == "MedicationRequest" and med.intent in _NOT_TAKEN_INTENTS):
        return f"status '{med.status or 'missing'}'"
    end = day_of(med.period_end)
    if end is not None and end < as_of:
        return f"ended {end.isoformat()}"
    return None


def dose_description(med: MedicationRecord) -> tuple[str | None, float | None, str | None, str | None]:
    """(dose as written, daily dose in mg of a single-ingredient drug, statin intensity, assumption made)."""
    dosage = med.dosage
    written = None
    if dosage is not None:
        parts = []
        if dosage.dose is not None and dosage.dose.value is not None:
            parts.append(f"{dosage.dose.value:g} {dosage.dose.unit or dosage.dose.code or ''}".strip()
                         if isinstance(dosage.dose.value, (int, float)) else str(dosage.dose.value))
        if dosage.per_day is not None:
            parts.append(f"{dosage.per_day:g} per day")
        if dosage.as_needed:
            parts.append("as needed")
        written = ", ".join(parts) or dosage.text
    if len(med.ingredients) != 1 and not any("statin" in i.classes for i in med.ingredients):
        return written, None, None, None
    statins = [i for i in med.ingredients if "statin" in i.classes]
    ingredient = statins[0] if statins else med.ingredients[0]
    daily, assumption = med.daily_dose_mg(ingredient)
    intensity = drugs.statin_intensity(ingredient.name, daily) if statins else None
    return written, (daily if len(med.ingredients) == 1 or statins else None), intensity, assumption


def medication_list(ctx: ExtractionContext) -> None:
    """FeatureSet.medications: every recognised medication entry, active or not, newest first."""
    entries = (medication_entry(med, ctx.as_of) for med in
               sorted(ctx.parsed.medications, key=lambda m: chronological_key(m.date), reverse=True))
    ctx.fs.medications = tuple(e for e in entries if e is not None)


def medication_entry(med: MedicationRecord, as_of: date) -> MedicationEntry | None:
    """The medication-list entry of a MedicationRequest / MedicationStatement (None when entered in error)."""
    reason = inactive_reason(med, as_of)
    if reason == "":
        return None
    start = day_of(med.date)
    future = start is not None and start > as_of
    written, daily, intensity, assumption = dose_description(med)
    return MedicationEntry(
        source=med.ref, resource_type=med.resource_type, name=med.name,
        ingredients=tuple(i.name for i in med.ingredients), classes=med.classes,
        active=reason is None and not future, status=med.status, start=med.date, end=med.period_end,
        dose=written, daily_dose_mg=daily, statin_intensity=intensity, note=assumption,
        recognised_by=med.medication_source, reasons=_reasons(med), reason_codes=_reason_codes(med))


def _reasons(med: MedicationRecord) -> tuple[str, ...]:
    """reasonReference references and reasonCode texts / displays, as recorded."""
    out: list[str] = []
    for ref in med.raw.get("reasonReference") or ():
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            out.append(ref["reference"])
    for concept in med.raw.get("reasonCode") or ():
        if not isinstance(concept, dict):
            continue
        texts = [concept.get("text"), *(c.get("display") for c in concept.get("coding") or () if isinstance(c, dict))]
        out += [t for t in texts if isinstance(t, str) and t.strip()]
    return tuple(dict.fromkeys(out))


def _reason_codes(med: MedicationRecord) -> tuple[tuple[str | None, str], ...]:
    out = []
    for concept in med.raw.get("reasonCode") or ():
        for c in (concept.get("coding") or ()) if isinstance(concept, dict) else ():
            if isinstance(c, dict) and isinstance(c.get("code"), str):
                out.append((c.get("system") if isinstance(c.get("system"), str) else None, c["code"]))
    return tuple(out)


def medication_feature(ctx: ExtractionContext, name: str) -> None:
    concepts, words = MEDICATION_RULES[name]
    best: MedicationRecord | None = None
    inactive = 0
    for med in ctx.parsed.medications:
        if not any(c in med.matched_concepts() for c in concepts):
            continue
        reason = _inactive_reason(ctx, med)
        if reason == "":
            continue
        if reason is not None:
            inactive += 1
            continue
        start = day_of(med.date)
        if start is not None and start > ctx.as_of:
            ctx.problem(med.ref, name, f"dated in the future ({start.isoformat()}); not counted")
            continue
        invalid = ctx.parsed.check(med, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        if best is None or chronological_key(med.date) > chronological_key(best.date):
            best = med
    if best is not None:
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, unit=None,
                            effective=best.date, source=best.ref, note=_taking_note(best, concepts)))
        return
    note = f"no active {words} on the medication list"
    if inactive:
        note += f" ({inactive} stopped, completed or not-yet-active entr{'y' if inactive == 1 else 'ies'} not counted)"
    unknown = sum(1 for m in ctx.parsed.medications if m.unresolved_reference and not m.matched_concepts())
    if unknown:
        note += (f" ({unknown} entr{'y refers' if unknown == 1 else 'ies refer'} to a Medication not in the data: "
                 f"see input problems)")
    ctx.fs.put(Evidence(name=name, label=feature_label(name), value=False, unit=None, source=None, note=note))


def _taking_note(med: MedicationRecord, concepts: tuple[str, ...]) -> str:
    """"atorvastatin 40 mg/day (high intensity); MedicationStatement" and how the drug was recognised."""
    coding = matching_coding(med.codes, concepts)
    if coding is not None:
        what = coding.label()
    elif med.medication_source == "code" and med.ingredients:
        what = f"{med.name} ({', '.join(i.name for i in med.ingredients)})"
    else:
        matched = next((med.text_matches[c] for c in concepts if c in med.text_matches), None)
        what = f"matched by name '{matched or med.name}' in the medication text"
    parts = [what]
    written, daily, intensity, assumption = dose_description(med)
    if daily is not None and "statin" in concepts:
        if assumption and intensity:  # the dose was not recorded: the intensity holds only for the assumed dose
            parts.append(f"{daily:g} mg/day if taken as assumed: {intensity} intensity (2018 AHA/ACC Table 3)")
        else:
            parts.append(f"{daily:g} mg/day" + (f", {intensity} intensity (2018 AHA/ACC Table 3)" if intensity else ""))
    elif written:
        parts.append(written)
    if assumption and "statin" in concepts:
        parts.append(assumption)
    if med.resource_type == "MedicationStatement":
        parts.append("reported as taken (MedicationStatement)")
    return "; ".join(parts)
