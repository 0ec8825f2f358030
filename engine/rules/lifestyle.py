"""Behavioural prevention: tobacco cessation (USPSTF 2021, grade A) and weight management for obesity (USPSTF 2018,
grade B).

Sources and thresholds: ``engine/data/behavioural_prevention_uspstf.json`` (docs/treatment.md).

* Tobacco: a current smoker (the record's newest smoking status, 2-year look-back), adult - advise to quit, and offer
  behavioural support with FDA-approved pharmacotherapy: varenicline, a nicotine patch or bupropion SR, each with the
  counselling order (alternatives, at most one; or counselling alone). In pregnancy, behavioural support only
  (pharmacotherapy: I statement). The card names the 10-year ASCVD risk of the PCE finding that smoking is part of.
* Weight: BMI >= 30 kg/m2 (the obesity detector's BMI: the newest in 2 years, or weight and height), adult, not
  pregnant - offer or refer to an intensive, multicomponent behavioural programme (a referral order). About obesity
  (``Finding.condition``): on the card of the obesity diagnosis when that card is shown.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from engine.calculators.common import load_data
from engine.detectors.common import concept
from engine.detectors.obesity import latest_bmi, obesity_class
from engine.finding import Finding, Severity
from engine.inputs import FeatureSet
from engine.proposals import ConditionRef, suggest
from engine.registry import rule
from engine.rules.common import (
    SingleFindingRule,
    active_medications,
    age_of,
    citation_of,
    computed_finding,
    medication_evidence,
    order,
    present,
    recommendation_of,
    score_evidence,
    start_medication,
)

DATA_FILE = "behavioural_prevention_uspstf.json"
TOBACCO_USE = ConditionRef(id="tobacco-use", name="Tobacco use")


@cache
def data() -> dict[str, Any]:
    return load_data(DATA_FILE)


@rule
class TobaccoCessation(SingleFindingRule):
    id = "tobacco-cessation-uspstf-2021"
    version = "1.0.0"
    title = "Tobacco cessation"
    citation = citation_of(data()["tobacco"]["guideline"])
    reads_findings = ("pce-2013",)
    optional = ("smoker_current", "age_years", "pregnant")
    finding_id = f"{id}:cessation"

    def _assess(self, features: FeatureSet, findings) -> Finding:
        d = data()["tobacco"]
        smoker = features.get("smoker_current")
        age = age_of(features)
        if smoker is None or smoker.value is not True:
            return self.not_indicated(features, finding_id=self.finding_id, inputs=[smoker],
                                      message="Not recorded as a current smoker.")
        if age is None or age < d["adult_from_years"]:
            return self.not_indicated(features, finding_id=self.finding_id, inputs=[smoker, features.get("age_years")],
                                      message="The USPSTF 2021 recommendation is for adults.")
        on = active_medications(features, ingredients=d["cessation_ingredients"])
        if on:
            return self.not_indicated(features, finding_id=self.finding_id,
                                      inputs=[smoker, medication_evidence(on[0], "Cessation pharmacotherapy")],
                                      message=f"On {on[0].name}: cessation pharmacotherapy is under way.")
        pregnant = present(features, "pregnant")
        rec = d["pregnancy"] if pregnant else d["recommendation"]
        pce = computed_finding(findings, "pce-2013")
        inputs = [smoker] + ([pregnant] if pregnant else []) \
            + ([score_evidence(pce, "pce_10y_ascvd_risk", "10-year ASCVD risk (PCE)")] if pce else [])
        when = smoker.effective.date().isoformat() if hasattr(smoker.effective, "date") else None
        notes = [f"Current smoker{f' (recorded {when})' if when else ''}."]
        if pce is not None:
            notes.append(f"Smoking is part of the 10-year ASCVD risk of {pce.value:.1f} % (PCE).")
        counselling = order(d["counselling_order"], evidence=inputs,
                            reason="Tobacco cessation counselling (USPSTF 2021, grade A).")
        suggestions = []
        if not pregnant:
            suggestions.append(suggest(rec["text"], start_medication(
                d["regimens"], evidence=inputs,
                reason=f"Tobacco cessation pharmacotherapy for a current smoker (USPSTF 2021, {rec['strength']})."),
                counselling))
        suggestions.append(suggest("Refer for tobacco cessation counselling only" if not pregnant
                                   else "Refer for tobacco cessation counselling", counselling))
        return self.treatment(
            features, finding_id=self.finding_id, title=self.title, value="current smoker → quit support",
            category=rec["strength"], recommendation=recommendation_of(rec, d["guideline"]),
            severity=Severity.WARNING, inputs=inputs, message=" ".join(notes), suggestions=suggestions,
            condition=TOBACCO_USE,
            method=("USPSTF 2021: every adult who smokes is advised to quit and offered behavioural support and "
                    f"pharmacotherapy (behavioural support only in pregnancy). Applied: {rec['section']}."))


@rule
class WeightManagement(SingleFindingRule):
    id = "weight-loss-uspstf-2018"
    version = "1.0.0"
    title = "Weight management"
    citation = citation_of(data()["weight"]["guideline"])
    reads_findings = ("obesity-gap",)
    optional = ("bmi_kgm2", "weight_kg", "height_cm", "age_years", "pregnant", "obesity")
    finding_id = f"{id}:referral"

    def _assess(self, features: FeatureSet, findings) -> Finding:
        d = data()["weight"]
        bmi, used, how, problems = latest_bmi(features)
        age = age_of(features)
        evidence = [r.evidence for r in used]
        if bmi is None or bmi.value < d["bmi_from"]:
            return self.not_indicated(features, finding_id=self.finding_id, inputs=evidence,
                                      message=(f"BMI below {d['bmi_from']:g} kg/m2." if bmi is not None
                                               else "No BMI (or weight and height) in the last 2 years."))
        if age is None or age < d["adult_from_years"]:
            return self.not_indicated(features, finding_id=self.finding_id,
                                      inputs=[*evidence, features.get("age_years")],
                                      message="The USPSTF 2018 recommendation is for adults.")
        pregnant = present(features, "pregnant")
        if pregnant is not None:
            return self.not_indicated(features, finding_id=self.finding_id, inputs=[*evidence, pregnant],
                                      message="Pregnancy is recorded: weight-loss interventions are not for pregnancy.")
        gap = computed_finding(findings, "obesity-gap")
        klass = obesity_class(bmi.value)
        rec = d["recommendation"]
        shown = f"{bmi.value:.1f}"
        obesity = concept("obesity")
        inputs = [*evidence, features.get("obesity")]
        return self.treatment(
            features, finding_id=self.finding_id, title=self.title,
            value=f"BMI {shown} kg/m2 → behavioural weight-loss programme", category=rec["strength"],
            recommendation=recommendation_of(rec, d["guideline"]), severity=Severity.INFO, inputs=inputs,
            message=(f"BMI {shown} kg/m2 on {bmi.day.isoformat()} (obesity {klass}): an intensive, multicomponent "
                     "behavioural programme (12 or more sessions in the first year)."
                     + (f" BMI computed as {how}." if how else "")),
            suggestions=[suggest("Refer to a weight-management programme", order(
                d["referral_order"], evidence=inputs, reason_codings=obesity.ref(klass).codings[:1],
                reason=f"BMI {shown} kg/m2: intensive behavioural weight-loss intervention (USPSTF 2018, grade B)."))],
            follows_from=(gap.id,) if gap is not None else (), condition=obesity.ref(klass),
            method=("USPSTF 2018: adults with BMI >= 30 are offered or referred to intensive, multicomponent "
                    "behavioural interventions; BMI as the obesity detector reads it, compared unrounded. Applied: "
                    f"{rec['section']}."))
