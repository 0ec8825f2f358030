"""Renal dosing and contraindication of a drafted drug (engine/data/order_renal_dosing.json).

Each drug the data names has a measure - eGFR, creatinine clearance (Cockcroft-Gault) or, for apixaban, the label's
dose-reduction criteria - and bands of that measure, each with an action: ``avoid`` (cancel the draft, perhaps for an
alternative) or ``dose`` (when the drafted dose is above the band's limits, change the draft to the band's dose). The
bands may depend on the indication (atrial fibrillation or not) and on whether the drug is new or already taken. What
the data says is applied as written; this module only reads it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.calculators.common import creatinine_action
from engine.clinical_record import DraftOrder
from engine.finding import Citation, Evidence, Finding, MissingInput
from engine.inputs import FeatureSet
from engine.order_checks.common import (
    OrderCheck,
    cancel,
    citation_of,
    dose_suggestions,
    drafted_dose,
    indication_of,
    load_data,
    number,
)
from engine.order_checks.kidney import KidneyFunction, kidney_function
from engine.registry import order_check

DATA_FILE = "order_renal_dosing.json"


def knowledge() -> dict[str, Any]:
    return load_data(DATA_FILE)


@order_check
class RenalDosing(OrderCheck):
    id = "renal-dosing"
    version = "1.0.0"
    title = "Renal dosing of the drafted drug"
    citation = Citation(short="Drug labels and guidelines (renal dosing)",
                        full="The prescribing information and guidelines named per drug in engine/data/"
                             "order_renal_dosing.json; creatinine clearance by Cockcroft DW, Gault MH. Nephron "
                             "1976;16:31-41.", topic="Renal dosing")
    optional = ("egfr_mlmin173m2", "creatinine_mgdl", "weight_kg", "age_years", "sex", "atrial_fibrillation")
    # A drug already taken is continued, not started (metformin at eGFR 30-44).
    reads_records = ("MedicationRequest", "MedicationStatement")

    def check(self, draft: DraftOrder, features: FeatureSet) -> list[Finding]:
        drugs = knowledge()["drugs"]
        out: list[Finding] = []
        for ingredient in draft.ingredients:
            if ingredient in drugs:
                out.extend(self._drug(draft, ingredient, drugs[ingredient], features,
                                      combination=len(draft.ingredients) > 1))
        return out

    # -- one drug ----------------------------------------------------------------------------------------------------
    def _drug(self, draft: DraftOrder, ingredient: str, spec: Mapping[str, Any], features: FeatureSet, *,
              combination: bool = False) -> list[Finding]:
        citation = citation_of(spec["citation"])
        title = f"{ingredient.capitalize()} and kidney function"
        indication, indication_note = indication_of(draft, features)
        start = "continuing" if any(m.active and ingredient in m.ingredients and m.source != draft.reference
                                    for m in features.medications) else "new"
        if spec["measure"] == "criteria":
            return self._criteria(draft, ingredient, spec, features, citation, title, indication, indication_note)
        kidney, missing = kidney_function(features, spec["measure"])
        if kidney is None:
            needs = "eGFR" if spec["measure"] == "egfr" else "creatinine clearance (Cockcroft–Gault)"
            return [self.order_insufficient(
                draft, rule=f"{ingredient}/kidney-function", title=title, missing=missing, citation=citation,
                features=features,
                message=f"{citation.short} doses {ingredient} by {needs}, and the record has no usable kidney "
                        f"function: check it before the order is signed.",
                suggestions=(creatinine_action(f"Kidney function before {ingredient} ({citation.short})"),))]
        band = next((b for b in spec["bands"] if _applies(b, kidney.value, indication, start)), None)
        if band is None:
            return []
        assumptions = [a for a in (kidney.substitute_note,
                                   indication_note if "indication" in band else None,
                                   f"{ingredient} is part of a combination product" if combination else None) if a]
        if band["action"] == "avoid":
            return [self._avoid(draft, ingredient, spec, band, kidney, features, citation, title, assumptions)]
        return self._dose(draft, ingredient, spec, band, kidney, features, citation, title, assumptions)

    def _avoid(self, draft, ingredient, spec, band, kidney: KidneyFunction, features, citation, title,
               assumptions) -> Finding:
        reason = f"{citation.short}: {band['rule']}; {kidney.text}"
        return self.order_finding(
            draft, rule=f"{ingredient}/{band['id']}", trigger=kidney.text, title=title, verdict=band["verdict"],
            category=kidney.short, severity=band["severity"], citation=citation, features=features,
            message=f"{citation.short}: {band['rule']}; {kidney.text}. Drafted: {drafted_dose(draft)}.",
            suggestions=cancel(draft, reason=reason, alternatives=band.get("alternatives", ())),
            inputs=_kidney_inputs(kidney), thresholds=_thresholds(spec), assumptions=assumptions,
            method=f"{band['rule']} ({kidney.text})")

    def _dose(self, draft, ingredient, spec, band, kidney: KidneyFunction, features, citation, title,
              assumptions) -> list[Finding]:
        regimen = band
        if "regimens" in band:
            amount = draft.dose.amount_mg if draft.dose else None
            regimen = next((r for r in band["regimens"] if amount is not None and _within(amount, r["amount_mg"])),
                           None)
            if regimen is None:
                regimen = {**band["regimens"][0], "unreadable": True}
        over, readable = _above_limits(draft, regimen.get("limits", {}))
        if readable and not over:
            return []  # already dosed for this kidney function
        verdict = regimen.get("verdict", band["verdict"])
        rule = f"{citation.short}: {band['rule']}; {kidney.text}"
        if not readable:
            assumptions = [*assumptions, "the drafted dose could not be read in mg; the label dose is shown"]
        new = _suggested_dose(draft, regimen.get("suggest", {}))
        suggestions = []
        if new is not None:
            amount, per_day = new
            suggestions += dose_suggestions(draft, ingredient=ingredient, amount_mg=amount, per_day=per_day,
                                            reason=rule, route=spec.get("route"), product=_product(spec, draft, amount))
        return [self.order_finding(
            draft, rule=f"{ingredient}/{band['id']}", trigger=kidney.text, title=title, verdict=verdict,
            category=kidney.short, severity=band["severity"], citation=citation, features=features,
            message=f"{citation.short}: {band['rule']}; {kidney.text}. Drafted: {drafted_dose(draft)}.",
            suggestions=suggestions, inputs=_kidney_inputs(kidney), thresholds=_thresholds(spec),
            assumptions=assumptions, method=f"{band['rule']} ({kidney.text})")]

    # -- apixaban: the label's dose-reduction criteria ---------------------------------------------------------------
    def _criteria(self, draft, ingredient, spec, features, citation, title, indication, indication_note):
        out = []
        for rule in spec["criteria_rules"]:
            if rule.get("indication") not in (None, indication):
                continue
            over, readable = _above_limits(draft, rule.get("limits", {}))
            if readable and not over:
                continue
            met: list[Evidence] = []
            unknown: list[MissingInput] = []
            for criterion in rule["criteria"]:
                evidence = features.get(criterion["feature"])
                if evidence is None or not isinstance(evidence.value, (int, float)) or isinstance(evidence.value, bool):
                    unknown.append(features.missing_reason(criterion["feature"]))
                elif _within(float(evidence.value), criterion):
                    met.append(evidence)
            if len(met) < rule["at_least"]:
                if len(met) + len(unknown) >= rule["at_least"]:
                    out.append(self.order_insufficient(
                        draft, rule=f"{ingredient}/{rule['id']}", title=title, missing=unknown, citation=citation,
                        features=features, inputs=met,
                        message=f"{citation.short}: {rule['rule']}; the record does not show enough of them to "
                                f"check the drafted dose ({drafted_dose(draft)})."))
                continue
            trigger = ", ".join(_criterion_text(e) for e in met)
            reason = f"{citation.short}: {rule['rule']}; met: {trigger}"
            new = _suggested_dose(draft, rule["suggest"])
            suggestions = []
            if new is not None:
                suggestions += dose_suggestions(draft, ingredient=ingredient, amount_mg=new[0], per_day=new[1],
                                                reason=reason, product=_product(spec, draft, new[0]))
            assumptions = [indication_note] if indication_note else []
            if not readable:
                assumptions.append("the drafted dose could not be read in mg; the label dose is shown")
            out.append(self.order_finding(
                draft, rule=f"{ingredient}/{rule['id']}", trigger=trigger, title=title, verdict=rule["verdict"],
                category=f"{len(met)} of {len(rule['criteria'])} criteria", severity=rule["severity"],
                citation=citation, features=features,
                message=f"{reason}. Drafted: {drafted_dose(draft)}.", suggestions=suggestions, inputs=met,
                thresholds=tuple(c["text"] for c in rule["criteria"]), assumptions=assumptions, method=rule["rule"]))
        return out


# -- reading the data --------------------------------------------------------------------------------------------------
def _within(value: float, bounds: Mapping[str, Any]) -> bool:
    """min <= value, value <= max, value < below, value > above: every bound given must hold."""
    return ((bounds.get("min") is None or value >= bounds["min"])
            and (bounds.get("max") is None or value <= bounds["max"])
            and (bounds.get("below") is None or value < bounds["below"])
            and (bounds.get("above") is None or value > bounds["above"]))


def _applies(band: Mapping[str, Any], value: int, indication: str, start: str) -> bool:
    return (_within(value, band) and band.get("indication") in (None, indication)
            and band.get("start") in (None, start))


def _above_limits(draft: DraftOrder, limits: Mapping[str, float]) -> tuple[bool, bool]:
    """(the drafted dose exceeds a limit, the dose could be read well enough to tell)."""
    dose = draft.dose
    if not limits:
        return True, True
    amount = dose.amount_mg if dose else None
    per_day = dose.per_day if dose else None
    daily = dose.daily_mg if dose else None
    checks = []
    if "amount_mg" in limits:
        checks.append(None if amount is None else amount > limits["amount_mg"] + 1e-9)
    if "per_day" in limits:
        checks.append(None if per_day is None else per_day > limits["per_day"] + 1e-9)
    if "daily_mg" in limits:
        checks.append(None if daily is None else daily > limits["daily_mg"] + 1e-9)
    if any(c is True for c in checks):
        return True, True
    return False, all(c is not None for c in checks)


def _suggested_dose(draft: DraftOrder, spec: Mapping[str, Any]) -> tuple[float, int] | None:
    """(amount in mg per administration, administrations per day) the band proposes, or None when it depends on a
    drafted dose that could not be read."""
    dose = draft.dose
    if "amount_mg" in spec:
        return float(spec["amount_mg"]), int(spec["per_day"])
    if spec.get("keep_amount"):
        return (dose.amount_mg, int(spec["per_day"])) if dose and dose.amount_mg else None
    if "daily_mg" in spec:  # the drafted administrations per day, at most the band's
        drafted = int(dose.per_day) if dose and dose.per_day and float(dose.per_day).is_integer() else 1
        per_day = min(drafted, int(spec.get("per_day", drafted)))
        return float(spec["daily_mg"]) / per_day, per_day
    if "equivalent" in spec:
        if dose is None or dose.daily_mg is None:
            return None
        table = sorted((float(k), float(v)) for k, v in spec["equivalent"].items())
        amount = next((v for k, v in table if k >= dose.daily_mg - 1e-9), table[-1][1])
        return amount, int(spec["per_day"])
    return None


def _product(spec: Mapping[str, Any], draft: DraftOrder, amount_mg: float) -> Mapping[str, str] | None:
    """The product of the new strength, unless the drafted product is a modified-release form the data does not
    list (a dose change then keeps the drafted product)."""
    if "extended release" in draft.name.lower():
        return None
    return spec.get("products", {}).get(number(amount_mg))


def _kidney_inputs(kidney: KidneyFunction) -> tuple[Evidence, ...]:
    return (kidney.evidence, *kidney.evidence.derived_from) if kidney.measure == "crcl" else (kidney.evidence,)


def _thresholds(spec: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(band["rule"] for band in spec.get("bands", ()))


def _criterion_text(evidence: Evidence) -> str:
    unit = {"age_years": "years", "weight_kg": "kg", "creatinine_mgdl": "mg/dL"}.get(evidence.name, evidence.unit or "")
    label = {"age_years": "age", "weight_kg": "weight", "creatinine_mgdl": "creatinine"}.get(evidence.name,
                                                                                              evidence.label)
    value = f"{evidence.value:.2f}" if evidence.name == "creatinine_mgdl" else f"{evidence.value:g}"
    return f"{label} {value} {unit}".strip()
