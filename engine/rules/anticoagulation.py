"""Oral anticoagulation in atrial fibrillation by the 2023 ACC/AHA/ACCP/HRS AF guideline.

Sources and every threshold: ``engine/data/af_anticoagulation_2023.json`` (docs/treatment.md).

* The CHA2DS2-VASc finding's band decides (read, never recomputed): high (>= 2 in men, >= 3 in women) -
  anticoagulation recommended (Class 1, LOE A); moderate (1 in men, 2 in women) - reasonable (Class 2a, LOE A);
  low - none (aspirin monotherapy of no benefit).
* A DOAC is recommended over warfarin (Class 1, LOE A) - apixaban, rivaroxaban, edoxaban or dabigatran, offered as
  alternatives (at most one) at their standard AF dose, each only where the creatinine clearance (Cockcroft-Gault,
  actual body weight: the measure the labels dose by, not eGFR) is in its label's range (apixaban by its own label
  criteria: 2.5 mg when 2 of age >= 80, weight <= 60 kg, creatinine >= 1.5 mg/dL); warfarin instead with a
  prosthetic heart valve (contraindicated if mechanical; a valve of uncoded type is to be confirmed, a DOAC being
  reasonable if it is bioprosthetic) or a rheumatic mitral stenosis (engine/valve_disease.py); a mitral stenosis of
  uncoded type keeps the DOAC and adds a note to confirm its type and severity (a non-rheumatic one changes nothing).
* Aspirin alone is flagged as no substitute (Class 3: Harm); HAS-BLED is shown as the modifiable bleeding risk
  factors to address, not a reason to withhold (6.1: Class 1 to address them; bleeding scores alone Class 3: No
  Benefit).
* Already on an oral anticoagulant: no suggestion; the card says continue (and that a DOAC is preferred over warfarin
  where it applies).

The finding follows from the CHA2DS2-VASc and HAS-BLED findings: the three share one card.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from engine.calculators.cockcroft_gault import creatinine_clearance, crcl_text, unrounded
from engine.calculators.common import load_data
from engine.calculators.has_bled import coefficients as has_bled_data
from engine.finding import Details, Evidence, Finding, Severity
from engine.inputs import FeatureSet
from engine.proposals import suggest
from engine.registry import rule
from engine.valve_disease import mitral_stenosis_type_uncoded, rheumatic_mitral_stenosis, valve_is_mechanical
from engine.rules.common import (
    SingleFindingRule,
    active_medications,
    citation_of,
    computed_finding,
    medication_evidence,
    number,
    present,
    recommendation_of,
    regimens,
    score_evidence,
    start_medication,
)

DATA_FILE = "af_anticoagulation_2023.json"
ORAL_ANTICOAGULANT_CLASSES = ("doac", "vitamin_k_antagonist")
MITRAL_STENOSIS_UNCODED_NOTE = ("Mitral stenosis of uncoded type: if rheumatic and moderate or severe, warfarin is "
                                "recommended over a DOAC (2023 ACC/AHA/ACCP/HRS AF) — confirm the type and severity.")


@cache
def data() -> dict[str, Any]:
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class AnticoagulationDetails(Details):
    action: str  # "recommend" | "consider" | "continue"
    options: tuple[str, ...]  # regimen keys offered, the preferred first
    left_out: tuple[str, ...]  # DOAC regimens not offered, and why
    doac_excluded_by: str | None  # "mechanical_heart_valve" | "mitral_stenosis" | None
    modifiable_bleeding_factors: tuple[str, ...]


@rule
class AfAnticoagulation(SingleFindingRule):
    id = "af-anticoagulation-2023"
    version = "1.0.0"
    title = "Anticoagulation in atrial fibrillation"
    citation = citation_of(data()["guideline"])
    reads_findings = ("cha2ds2-vasc", "has-bled")
    optional = ("atrial_fibrillation", "anticoagulant", "mechanical_heart_valve", "mitral_stenosis", "age_years",
                "sex", "weight_kg", "creatinine_mgdl", "pregnant")
    finding_id = f"{id}:oac"

    def _assess(self, features: FeatureSet, findings) -> Finding:
        d = data()
        score = computed_finding(findings, "cha2ds2-vasc")
        if score is None:
            return self.not_indicated(features, finding_id=self.finding_id, inputs=[features.get("atrial_fibrillation")],
                                      message=("No CHA2DS2-VASc score (atrial fibrillation not recorded, or the score "
                                               "lacks data): nothing to decide anticoagulation on."))
        bleeding = computed_finding(findings, "has-bled")
        score_ev = score_evidence(score, "cha2ds2_vasc_points", "CHA2DS2-VASc")
        follows = tuple(f.id for f in (score, bleeding) if f is not None)
        sex = features.value("sex")
        band = f"CHA2DS2-VASc {score.value:g}" + (f" ({sex})" if sex in ("female", "male") else "")
        pregnant = present(features, "pregnant")
        if pregnant is not None:
            return self.not_indicated(features, finding_id=self.finding_id, inputs=[score_ev, pregnant],
                                      message=(f"{band}: pregnancy is recorded; warfarin and DOACs are not used in "
                                               "pregnancy - anticoagulation needs specialist care (heparins)."))
        oral = active_medications(features, classes=ORAL_ANTICOAGULANT_CLASSES)
        aspirin = active_medications(features, ingredients=d["aspirin_ingredients"])
        valve = next((ev for name in d["doac_exclusions"] if (ev := present(features, name)) is not None
                      and _excludes_doacs(ev)), None)
        factors, bleeding_note = _bleeding(bleeding)
        inputs = [score_ev] + ([score_evidence(bleeding, "has_bled_points", "HAS-BLED")] if bleeding else [])
        inputs += [valve] if valve is not None else [ev for n in d["doac_exclusions"] if (ev := features.get(n))]
        action = "continue" if oral else d["by_cha2ds2_vasc_category"].get(score.category, "none")
        if action == "none":
            return self.not_indicated(features, finding_id=self.finding_id, inputs=inputs, message=d["none"])
        recs = d["recommendations"]
        common = dict(finding_id=self.finding_id, follows_from=follows,
                      method=("2023 ACC/AHA/ACCP/HRS section 6.3.1 by the CHA2DS2-VASc band; DOAC over warfarin "
                              "unless a mechanical valve or mitral stenosis; HAS-BLED items to modify (6.1). Applied: "
                              f"{d['recommendations'].get(action, {}).get('section', '')}; "
                              f"{d['recommendations']['warfarin']['section']}."))
        if oral:
            drug = oral[0]
            inputs.append(medication_evidence(drug, "Oral anticoagulant"))
            notes = [f"On {drug.name}: anticoagulated, as the guideline recommends at {band}."]
            if drug.has_class("vitamin_k_antagonist") and valve is None:
                notes.append(f"{recs['doac']['text']} ({recs['doac']['strength']}) where INR control or "
                             "monitoring is a burden.")
            notes += _confirm_notes(features, valve)
            notes.append(bleeding_note)
            return self.treatment(
                features, title=self.title, value=f"{band} → on {drug.name}", category=recs["continue"]["strength"],
                recommendation=recommendation_of(recs["continue"], d["guideline"]), severity=Severity.INFO,
                inputs=inputs, message=" ".join(notes),
                details=AnticoagulationDetails("continue", (), (), _key(valve), factors), **common)

        rec = recs[action]
        notes = []
        if aspirin:
            inputs.append(medication_evidence(aspirin[0], "Aspirin"))
            notes.append(f"On {aspirin[0].name} without an anticoagulant: {recs['aspirin-alone']['text'].lower()} "
                         f"({recs['aspirin-alone']['strength']}).")
        if valve is not None:
            keys, left_out = [d["vka_regimen"]], ()
            text = f"{rec['text']}: warfarin, not a DOAC"
            notes.append(_exclusion_note(valve))
        else:
            keys, left_out, dose_notes, crcl, read = doac_options(features)
            inputs += [crcl] if crcl is not None else []
            # What apixaban's dose was judged by is evidence even when no CrCl (or HAS-BLED) carries it.
            shown = {*inputs, *(d for ev in inputs for d in ev.derived_from)}
            inputs += [ev for ev in read if ev not in shown]
            text = f"{rec['text']} (a DOAC)"
            notes.append(f"{recs['doac']['text']} ({recs['doac']['strength']}); apixaban is listed first.")
            notes += _confirm_notes(features, valve)
            notes += dose_notes
        notes.append(bleeding_note)
        strength = rec["strength"]
        return self.treatment(
            features, title=self.title, value=f"{band} → {text[:1].lower()}{text[1:]}", category=strength,
            recommendation=recommendation_of(rec, d["guideline"], text=text),
            severity=Severity.WARNING if action == "recommend" else Severity.INFO, inputs=inputs,
            message=" ".join(notes),
            suggestions=[suggest(_suggestion_label(text, keys, valve), start_medication(
                keys, evidence=inputs,
                reason=f"{text}: atrial fibrillation, {band} (2023 ACC/AHA/ACCP/HRS, {strength})."))],
            details=AnticoagulationDetails(action, tuple(keys), tuple(left_out), _key(valve), factors), **common)


def _excludes_doacs(condition: Evidence) -> bool:
    """A valve excludes a DOAC whatever its coded type (warfarin is proposed; an uncoded type is to be confirmed);
    a mitral stenosis only when rheumatic (the 2023 guideline's exception and INVICTUS)."""
    return condition.name != "mitral_stenosis" or rheumatic_mitral_stenosis(condition)


def _exclusion_note(condition: Evidence) -> str:
    if condition.name == "mitral_stenosis":
        return ("Rheumatic mitral stenosis is recorded: warfarin, as DOACs are not for a moderate-to-severe "
                "rheumatic mitral stenosis (check its severity).")
    if valve_is_mechanical(condition):
        return "A mechanical heart valve is recorded: warfarin, as DOACs are contraindicated with a mechanical valve."
    return ("A prosthetic heart valve is recorded (type not coded): warfarin, as DOACs are contraindicated with a "
            "mechanical valve - confirm the valve type; if it is bioprosthetic, a DOAC is reasonable (2020 ACC/AHA "
            "VHD, after 3 months, Class 2a).")


def _confirm_notes(features: FeatureSet, valve: Evidence | None) -> list[str]:
    """A mitral stenosis whose code does not say whether it is rheumatic (SNOMED CT 79619009) leaves the DOAC offered,
    as a non-rheumatic one would, but most mitral stenosis is rheumatic: the card asks to confirm it."""
    stenosis = present(features, "mitral_stenosis")
    if valve is not None or stenosis is None or not mitral_stenosis_type_uncoded(stenosis):
        return []
    return [MITRAL_STENOSIS_UNCODED_NOTE]


def _suggestion_label(text: str, keys: list[str], valve: Evidence | None) -> str:
    """A single DOAC option is named by its own label (drug and dose: "Apixaban 2.5 mg twice daily (dose-reduced)"),
    not the generic "(a DOAC)"; several options, or warfarin for a valve, keep the recommendation's wording."""
    if valve is None and len(keys) == 1:
        return regimens()["medications"][keys[0]]["label"]
    return text


def _key(valve: Evidence | None) -> str | None:
    return valve.name if valve is not None else None


def doac_options(features: FeatureSet) -> tuple[list[str], list[str], list[str], Evidence | None, list[Evidence]]:
    """(regimen keys offered, DOACs left out and why, dose notes, the CrCl they were judged by, the evidence of
    apixaban's dose criteria): each DOAC at its standard AF dose where the Cockcroft-Gault creatinine clearance is in
    its label's range; apixaban reduced by its label criteria."""
    crcl, missing = creatinine_clearance(features)
    keys: list[str] = []
    left_out: list[str] = []
    notes: list[str] = []
    read: list[Evidence] = []
    unknown: list[str] = []  # the DOACs dosed by a CrCl that cannot be computed
    for option in data()["doac_options"]:
        key = option["regimen"]
        if "reduction_criteria" in option:
            keys.append(_apixaban(option, features, notes, read))
            continue
        low, high = option.get("crcl_above"), option.get("crcl_at_most")
        if crcl is None:
            unknown.append(key)
        elif low is not None and crcl.value <= low:  # lower bounds on the rounded value, as shown
            left_out.append(f"{key}: CrCl {crcl.value} mL/min outside its standard-dose range")
        elif high is not None and unrounded(crcl) > high:  # upper bounds unrounded: 95.4 is above 95
            raw = unrounded(crcl)
            extra = f" ({raw:.1f} before rounding, above {high})" if crcl.value <= high else ""
            left_out.append(f"{key}: CrCl {crcl.value} mL/min outside its standard-dose range{extra}")
        else:
            keys.append(key)
    if unknown:  # one entry naming what the CrCl lacks (weight, creatinine, age or sex)
        lacking = " or ".join(m.label.lower() for m in missing)
        left_out.append(f"{', '.join(unknown)}: CrCl unknown (no {lacking})")
    if left_out:
        measure = crcl_text(crcl) if crcl is not None else "CrCl (Cockcroft–Gault)"
        notes.append("Not offered at the standard dose: " + "; ".join(left_out) + f" (labels: {measure}; the dose "
                     "is checked again when the order is signed).")
    return keys, left_out, notes, crcl, read


def _apixaban(option: dict[str, Any], features: FeatureSet, notes: list[str], read: list[Evidence]) -> str:
    """The apixaban regimen by its label's dose-reduction criteria (2 of them: 2.5 mg), noting why; the criteria's
    evidence is added to ``read``."""
    met, unknown = [], []
    for c in option["reduction_criteria"]:
        value = number(features, c["feature"])
        if value is None:
            unknown.append(c["label"])
            continue
        read.append(features.get(c["feature"]))
        if ("from" in c and value >= c["from"]) or ("at_most" in c and value <= c["at_most"]):
            met.append(c["label"])
    if len(met) >= option["reduce_when_at_least"]:
        notes.append(f"Apixaban 2.5 mg twice daily: {' and '.join(met)} (label dose reduction).")
        return option["reduced_regimen"]
    if unknown and len(met) + len(unknown) >= option["reduce_when_at_least"]:
        notes.append(f"Apixaban dose: {', '.join(unknown)} not recorded; 2.5 mg twice daily if 2 of age >= 80, "
                     "weight <= 60 kg, creatinine >= 1.5 mg/dL.")
    return option["regimen"]


def _bleeding(bleeding: Finding | None) -> tuple[tuple[str, ...], str]:
    """The modifiable HAS-BLED items the patient has, and the card's sentence about them."""
    recs = data()["recommendations"]["bleeding-risk"]
    if bleeding is None:
        return (), f"Bleeding risk: HAS-BLED not available; {recs['text'].lower()} ({recs['strength']})."
    items = has_bled_data()["items"]
    labels = {items[key]["label"]: key for key in data()["has_bled_modifiable_items"]}
    factors = tuple(t.label for t in bleeding.explanation if t.label in labels and (t.contribution or 0) > 0)
    head = f"HAS-BLED {bleeding.value:g} ({bleeding.category})"
    if factors:
        named = "; ".join(f.split(": ", 1)[-1] for f in factors)
        return factors, (f"{head}: address {named}; a bleeding score is not a reason to withhold anticoagulation "
                         f"(6.1, {recs['strength']}).")
    return factors, (f"{head}: no modifiable bleeding risk factor recorded; a bleeding score is not a reason to "
                     f"withhold anticoagulation (6.1, {recs['strength']}).")
