"""Statin therapy by the 2018 AHA/ACC cholesterol guideline, with the USPSTF 2022 grade for primary prevention.

Sources and every threshold: ``engine/data/statin_therapy_2018.json`` (docs/treatment.md).

* Statin benefit groups, in order: clinical ASCVD (high intensity to 75, Class I; over 75 moderate or high,
  Class IIa); LDL-C >= 190 mg/dL at 20-75 (high intensity, Class I); diabetes at 40-75 (moderate intensity, Class I);
  primary prevention at 40-75 with LDL-C 70-189 by the 10-year risk of the Pooled Cohort Equations finding - high
  (>= 20 %: high intensity, Class I), intermediate (7.5-< 20 %: moderate, Class I; risk enhancers favour it),
  borderline (5-< 7.5 %: moderate only with a risk-enhancing factor, Class IIb), low (< 5 %: no statin); over 75
  with LDL-C 70-189 (moderate, Class IIb). The risk and its band are read from the PCE finding, never recomputed.
* USPSTF 2022 at 40-75 with >= 1 risk factor (dyslipidaemia, diabetes, hypertension, smoking): grade B from 10 %,
  grade C from 7.5 %; named beside the AHA/ACC class.
* Exclusions: statin allergy or intolerance, pregnancy, breastfeeding, chronic dialysis, decompensated cirrhosis.
* Already on a statin: adequate intensity (2018 Table 3, by total daily dose) - continue; lower - intensify (the
  suggestion offers the target intensity); dose unknown - check it.

A recommendation follows from the PCE (and is shown with PREVENT) on one card: ``follows_from`` names both findings.
Clinical ASCVD needs no risk estimate, so that card stands alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from engine.calculators.common import load_data
from engine.finding import Details, Evidence, Finding, Severity
from engine.inputs import FeatureSet
from engine.proposals import suggest
from engine.registry import rule
from engine.rules.common import (
    SingleFindingRule,
    active_medications,
    age_of,
    checked_exclusions,
    citation_of,
    computed_finding,
    first_exclusion,
    medication_evidence,
    number,
    present,
    recommendation_of,
    score_evidence,
    start_medication,
    within,
)
from fhir_adapter.terminology import concepts_of_coding

DATA_FILE = "statin_therapy_2018.json"


@cache
def data() -> dict[str, Any]:
    return load_data(DATA_FILE)


@cache
def _thresholds() -> tuple[str, ...]:
    """Every recommendation of the rule in one line each (package data: made once)."""
    return tuple(f"{r['basis']}: {r['text'].lower()} ({r['strength']})" for r in data()["recommendations"].values())


@dataclass(frozen=True)
class StatinDetails(Details):
    benefit_group: str  # the recommendation key: "ascvd", "ldl-190", "diabetes", "intermediate", ...
    target_intensity: str  # "moderate" | "high"
    current_intensity: str | None  # of the most intense active statin; None when none or its dose is unknown
    uspstf_grade: str | None  # "B" | "C" | None (primary prevention 40-75 with a risk factor)
    risk_enhancers: tuple[str, ...]


@dataclass(frozen=True)
class _Group:
    key: str  # a key of data()["recommendations"]
    basis: str  # why, in words, for the card: "10-year risk 12.0 % (intermediate)"
    inputs: tuple[Evidence, ...]


@rule
class StatinTherapy(SingleFindingRule):
    id = "statin-aha-acc-2018"
    version = "1.0.0"
    title = "Statin therapy"
    citation = citation_of(data()["guideline"])
    reads_findings = ("pce-2013", "prevent-2024-base")
    optional = ("age_years", "ldl_mgdl", "hdl_mgdl", "diabetes", "ascvd", "statin", "hypertension", "bp_treated",
                "smoker_current", "chronic_kidney_disease", "egfr_mlmin173m2", "statin_intolerance", "pregnant",
                "breastfeeding", "on_dialysis", "decompensated_liver_disease")
    finding_id = f"{id}:statin"

    def _assess(self, features: FeatureSet, findings) -> Finding:
        d = data()
        pce = computed_finding(findings, "pce-2013")
        prevent = computed_finding(findings, "prevent-2024-base")
        age = age_of(features)
        if age is None or age < d["adult_from_years"]:
            return self.not_indicated(features, finding_id=self.finding_id, inputs=[features.get("age_years")],
                                      message=("Age unknown: the statin benefit groups are defined by age." if age is None
                                               else f"Age {age:g}: the statin rules are for adults."))
        group, no_statin = self._benefit_group(features, pce, age)
        exclusions = checked_exclusions(features, d["exclusions"])
        if group is None:
            return self.not_indicated(features, finding_id=self.finding_id, message=no_statin,
                                      inputs=[features.get("age_years"), features.get("ldl_mgdl"),
                                              *(self._risk_inputs(pce)), *exclusions])
        rec = d["recommendations"][group.key]
        excluded = first_exclusion(features, d["exclusions"])
        if excluded is not None:
            return self.not_indicated(features, finding_id=self.finding_id, inputs=[*group.inputs, excluded.evidence],
                                      message=f"Statin benefit group ({rec['basis']}). {excluded.text}")
        enhancers = risk_enhancers(features)
        grade, grade_note = uspstf_grade(features, pce, age) if group.key not in ("ascvd", "ascvd-older") \
            else (None, None)
        strength = rec["strength"] + (f"; USPSTF grade {grade}" if grade else "")
        # A group decided without the risk estimate says why, on the risk card it shares: "... 3.9 % (low) → start a
        # moderate-intensity statin for diabetes at 40-75".
        because = f" {rec['because']}" if rec.get("because") else ""
        follows = () if group.key in ("ascvd", "ascvd-older") else tuple(f.id for f in (pce, prevent) if f)
        statins = active_medications(features, classes=("statin",))
        current = _most_intense(statins)
        target = rec["intensity"]
        details = StatinDetails(group.key, target, current.statin_intensity if current else None, grade,
                                tuple(e for e, _ in enhancers))
        inputs = [*group.inputs, *[ev for _, ev in enhancers]]
        notes = self._notes(group, rec, enhancers, grade_note, pce)
        common = dict(finding_id=self.finding_id, follows_from=follows, details=details,
                      thresholds=_thresholds(),
                      method=("2018 AHA/ACC statin benefit groups in order (clinical ASCVD, LDL-C >= 190, diabetes "
                              "40-75, primary prevention by the PCE 10-year risk band, older adults); intensity by "
                              f"Table 3 from the total daily dose; USPSTF 2022 grade beside it. Applied: {rec['section']}."))
        if current is not None:
            inputs.append(medication_evidence(current, "Current statin",
                                              f"{current.statin_intensity} intensity" if current.statin_intensity
                                              else "dose not recorded"))
            return self._on_statin(features, current, target, rec, strength, group, inputs + exclusions, notes,
                                   common, because)
        consider = bool(rec.get("consider"))
        return self.treatment(
            features, title=self.title, value=f"{group.basis} → {target}-intensity statin", category=strength,
            recommendation=recommendation_of(rec, d["guideline"], text=rec["text"] + because, strength=strength),
            severity=Severity.INFO if consider else Severity.WARNING,
            inputs=inputs + exclusions, message=" ".join(notes),
            suggestions=[suggest(rec["text"], start_medication(
                d["regimens"][target], reason=f"{rec['text']}: {group.basis} (2018 AHA/ACC, {strength}).",
                evidence=inputs))],
            **common)

    # -- who is in which statin benefit group ----------------------------------------------------------------------
    def _benefit_group(self, features: FeatureSet, pce: Finding | None, age: float) -> tuple[_Group | None, str]:
        d = data()
        groups = d["benefit_groups"]
        age_ev = features.get("age_years")
        ldl_ev = features.get("ldl_mgdl")
        ldl = number(features, "ldl_mgdl")
        ascvd = present(features, "ascvd")
        if ascvd is not None:
            older = age > groups["ascvd"]["high_intensity_to_years"]
            key = groups["ascvd"]["older" if older else "recommendation"]
            return _Group(key, f"clinical ASCVD, age {age:g}", (ascvd, age_ev)), ""
        severe = groups["ldl_190"]
        if ldl is not None and ldl >= severe["ldl_mgdl_from"] and within(age, severe["ages"]):
            return _Group(severe["recommendation"], f"LDL-C {ldl:.0f} mg/dL (>= {severe['ldl_mgdl_from']})",
                          (ldl_ev, age_ev)), ""
        diabetes = present(features, "diabetes")
        if diabetes is not None and within(age, groups["diabetes"]["ages"]):
            return _Group(groups["diabetes"]["recommendation"], f"diabetes, age {age:g}",
                          (diabetes, age_ev, *self._risk_inputs(pce))), ""
        primary = groups["primary"]
        if within(age, primary["ages"]):
            if ldl is not None and ldl < primary["ldl_mgdl_from"]:
                return None, d["no_statin"]["ldl-below-70"]
            if pce is None:
                return None, ("No 10-year ASCVD risk (Pooled Cohort Equations) to act on: primary-prevention statin "
                              "therapy is decided by it; the risk card says what it needs.")
            key = primary["by_pce_category"][pce.category]
            basis = f"10-year risk {pce.value:.1f} % ({pce.category})"
            if key == "low-risk":
                return None, d["no_statin"]["low-risk"]
            if d["recommendations"][key].get("needs_risk_enhancer") and not risk_enhancers(features):
                return None, d["no_statin"]["borderline"]
            return _Group(key, basis, (*self._risk_inputs(pce), age_ev, ldl_ev)), ""
        older = groups["older_primary"]
        if age > older["older_than_years"] and ldl is not None and ldl >= older["ldl_mgdl_from"] \
                and ldl < groups["ldl_190"]["ldl_mgdl_from"]:
            return _Group(older["recommendation"], f"age {age:g}, LDL-C {ldl:.0f} mg/dL",
                          (age_ev, ldl_ev, *self._risk_inputs(pce))), ""
        return None, d["no_statin"]["age"]

    @staticmethod
    def _risk_inputs(pce: Finding | None) -> tuple[Evidence, ...]:
        return (score_evidence(pce, "pce_10y_ascvd_risk", "10-year ASCVD risk (PCE)"),) if pce else ()

    @staticmethod
    def _notes(group: _Group, rec: dict, enhancers, grade_note: str | None, pce: Finding | None) -> list[str]:
        """The card's sentences: why (basis and risk enhancers), the USPSTF grade, what the guideline adds."""
        why = f"{group.basis[:1].upper()}{group.basis[1:]}"
        if enhancers:
            why += f"; risk enhancers: {', '.join(label for label, _ in enhancers)}"
        notes = [why + "."]
        if grade_note:
            notes.append(grade_note)
        if group.key == "diabetes" and pce is not None and pce.value >= 20:
            notes.append("With a 10-year risk >= 20 % or multiple risk factors a high-intensity statin is reasonable "
                         "(Class IIa, LOE B-R).")
        return notes

    def _on_statin(self, features, current, target, rec, strength, group, inputs, notes, common,
                   because: str) -> Finding:
        d = data()
        order = d["intensity_order"]
        intensity = current.statin_intensity
        drug = current.name
        if intensity is not None and order.index(intensity) >= order.index(target):
            text = "Continue the statin: its intensity is adequate"
            return self.treatment(
                features, title=self.title, value=f"{group.basis} → on a {intensity}-intensity statin", category=strength,
                recommendation=recommendation_of(rec, d["guideline"], text=text, strength=strength),
                severity=Severity.INFO, inputs=inputs,
                message=" ".join([f"On {drug} ({intensity} intensity), as recommended ({target} intensity).", *notes]),
                **common)
        if intensity is None:
            text = f"Check the statin dose: {target} intensity{because}"
            return self.treatment(
                features, title=self.title, value=f"{group.basis} → check the statin dose", category=strength,
                recommendation=recommendation_of(rec, d["guideline"], text=text, strength=strength),
                severity=Severity.INFO, inputs=inputs,
                message=" ".join([f"On {drug}, dose not recorded: the guideline recommends {target} intensity.",
                                  *notes]),
                **common)
        text = f"Intensify to a {target}-intensity statin{because}"
        consider = bool(rec.get("consider"))
        return self.treatment(
            features, title=self.title, value=f"{group.basis} → intensify to {target} intensity", category=strength,
            recommendation=recommendation_of(rec, d["guideline"], text=text, strength=strength),
            severity=Severity.INFO if consider else Severity.WARNING, inputs=inputs,
            message=" ".join([f"On {drug} ({intensity} intensity); {target} intensity is recommended.", *notes]),
            suggestions=[suggest(text, start_medication(
                d["regimens"][target], evidence=inputs,
                reason=f"{text} (replaces {drug}): {group.basis} (2018 AHA/ACC, {strength}).",
                description=f"Replaces {drug} ({intensity} intensity): stop it when this is started."))],
            **common)


def _most_intense(statins) -> Any:
    """The active statin of the highest known intensity (an unknown dose ranks below every known one)."""
    order = data()["intensity_order"]
    if not statins:
        return None
    return max(statins, key=lambda m: order.index(m.statin_intensity) if m.statin_intensity in order else -1)


def risk_enhancers(features: FeatureSet) -> list[tuple[str, Evidence | None]]:
    """The 2018 Table 6 risk-enhancing factors the record shows: (label, evidence), evidence None for a problem-list
    code matched by value set (those are in FeatureSet.condition_codes, not features)."""
    found: list[tuple[str, Evidence | None]] = []
    recorded: set[str] | None = None  # the value sets of the problem list's codes, looked up once
    for entry in data()["risk_enhancers"]["read"]:
        if "feature" in entry:
            ev = features.get(entry["feature"])
            if ev is None:
                continue
            if entry["from"] is True:
                hit = ev.value is True
            else:
                hit = isinstance(ev.value, (int, float)) and not isinstance(ev.value, bool) \
                    and ev.value >= entry["from"] and ev.value < entry.get("below", float("inf"))
            if hit and not any(label.startswith("CKD") and entry["label"].startswith("CKD") for label, _ in found):
                found.append((entry["label"], ev))
        else:
            if recorded is None:
                recorded = {concept for system, code in features.condition_codes
                            for concept in concepts_of_coding(system, code)}
            if not recorded.isdisjoint(entry["value_sets"]):
                found.append((entry["label"], None))
    return found


def uspstf_grade(features: FeatureSet, pce: Finding | None, age: float) -> tuple[str | None, str | None]:
    """USPSTF 2022 grade (B / C) and its sentence for a primary-prevention patient, else (None, None)."""
    u = data()["uspstf"]
    if pce is None or not within(age, u["ages"]):
        return None, None
    factors = uspstf_risk_factors(features)
    if not factors:
        return None, None
    for band in u["grades"]:
        if pce.value >= band["risk_percent_from"]:
            return band["grade"], (f"USPSTF 2022 grade {band['grade']} ({band['text']}): 10-year risk "
                                   f">= {band['risk_percent_from']:g} % with {', '.join(factors)}.")
    return None, None


def uspstf_risk_factors(features: FeatureSet) -> list[str]:
    """The USPSTF 2022 CVD risk factors the record shows: dyslipidaemia, diabetes, hypertension, smoking."""
    rf = data()["uspstf"]["risk_factors"]
    out = []
    ldl, hdl = number(features, "ldl_mgdl"), number(features, "hdl_mgdl")
    if (ldl is not None and ldl > rf["ldl_mgdl_above"]) or (hdl is not None and hdl < rf["hdl_mgdl_below"]):
        out.append("dyslipidaemia")
    if present(features, "diabetes"):
        out.append("diabetes")
    if present(features, "hypertension") or present(features, "bp_treated"):
        out.append("hypertension")
    if present(features, "smoker_current"):
        out.append("smoking")
    return out
