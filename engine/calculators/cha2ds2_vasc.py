"""CHA2DS2-VASc stroke risk in atrial fibrillation (Lip 2010, Chest 137:263) with annual rates (Friberg 2012).

C heart failure 1, H hypertension 1, A2 age >= 75 2, D diabetes 1, S2 prior stroke/TIA/thromboembolism 2,
V vascular disease 1, A age 65-74 1, Sc female sex 1 (0-9 points). Only for people with atrial fibrillation
or flutter recorded. Points, rates and the ESC 2020 treatment bands: ``engine/data/cha2ds2_vasc.json``.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.base import SingleFindingEngine
from engine.calculators.common import (
    PartialScore,
    SEXES,
    age_of,
    atrial_fibrillation_gate,
    is_finite_number,
    load_data,
    read_features,
    sex_of,
    yes_no,
)
from engine.finding import Citation, Details, Finding, Kind, Measure, Severity, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "cha2ds2_vasc.json"
CONDITION_ITEMS = ("heart_failure", "hypertension", "diabetes", "stroke_tia_thromboembolism", "vascular_disease")
_ITEM_LABELS = {
    "heart_failure": "C: heart failure / LV dysfunction",
    "hypertension": "H: hypertension",
    "diabetes": "D: diabetes",
    "stroke_tia_thromboembolism": "S2: prior stroke, TIA or thromboembolism",
    "vascular_disease": "V: vascular disease (MI, PAD, aortic plaque)",
}


def coefficients() -> dict:
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class Cha2ds2VascResult:
    score: int
    terms: tuple[Term, ...]  # one per item; contribution = points


def age_points(age_years: float) -> int:
    """2 from 75 years, 1 from 65 to 74, else 0."""
    data = coefficients()
    bands, points = data["age_bands"], data["points"]
    if age_years >= bands["older_from_years"]:
        return points["age_75_or_over"]
    if age_years >= bands["middle_from_years"]:
        return points["age_65_to_74"]
    return 0


def cha2ds2_vasc_score(*, age_years: float, sex: str, heart_failure: bool, hypertension: bool, diabetes: bool,
                       stroke_tia_thromboembolism: bool, vascular_disease: bool) -> Cha2ds2VascResult:
    """The score with one explanation term per item. Raises ValueError on impossible input."""
    if sex not in SEXES:
        raise ValueError("sex must be 'female' or 'male'")
    if not is_finite_number(age_years) or age_years < 0:
        raise ValueError("age_years must be a non-negative number")
    points = coefficients()["points"]
    conditions = {"heart_failure": heart_failure, "hypertension": hypertension, "diabetes": diabetes,
                  "stroke_tia_thromboembolism": stroke_tia_thromboembolism, "vascular_disease": vascular_disease}
    terms = [Term(_ITEM_LABELS[name], "yes" if present else "no", float(points[name] if present else 0))
             for name, present in conditions.items()]
    terms.append(Term("A2/A: age (2 from 75, 1 from 65)", age_years, float(age_points(age_years))))
    terms.append(Term("Sc: female sex", sex, float(points["female"] if sex == "female" else 0)))
    return Cha2ds2VascResult(int(sum(t.contribution for t in terms)), tuple(terms))


def risk_category(score: int, sex: str) -> str:
    """ESC 2020 band: 'low', 'moderate' (anticoagulation to be considered) or 'high' (recommended)."""
    cut = coefficients()["categories"]["by_sex"][sex]
    if score >= cut["high_from"]:
        return "high"
    if score >= cut["moderate_from"]:
        return "moderate"
    return "low"


def annual_rates(score: int) -> tuple[float, float]:
    """Friberg 2012: (ischaemic stroke, stroke/TIA/systemic embolism) in % per year without anticoagulation."""
    rates = coefficients()["annual_rates"]
    return (rates["ischaemic_stroke_percent"][str(score)], rates["stroke_tia_systemic_embolism_percent"][str(score)])


@dataclass(frozen=True)
class Cha2ds2VascDetails(Details):
    on_anticoagulant: bool | None  # None: the medication list could not tell


@calculator
class Cha2ds2Vasc(SingleFindingEngine):
    id = "cha2ds2-vasc"
    version = "1.0.0"
    title = "Stroke risk in atrial fibrillation (CHA2DS2-VASc)"
    kind = Kind.RISK
    citation = Citation(
        short="Lip 2010 (CHA2DS2-VASc); Friberg 2012 (rates)",
        full=("Lip GYH, Nieuwlaat R, Pisters R, Lane DA, Crijns HJGM. Refining clinical risk stratification for "
              "predicting stroke and thromboembolism in atrial fibrillation using a novel risk factor-based "
              "approach: the Euro Heart Survey on Atrial Fibrillation. Chest. 2010;137(2):263-272. Rates: Friberg "
              "L, Rosenqvist M, Lip GYH. Eur Heart J. 2012;33(12):1500-1510. Bands: 2020 ESC AF guidelines, Eur "
              "Heart J. 2021;42:373-498."),
        url="https://doi.org/10.1378/chest.09-1584",
        doi="10.1378/chest.09-1584",
        topic="Atrial fibrillation: stroke prevention",
    )
    requires = ("atrial_fibrillation", "age_years", "sex") + CONDITION_ITEMS
    optional = ("anticoagulant",)
    finding_suffix = "score"

    def _assess(self, features: FeatureSet) -> Finding:
        af, why = atrial_fibrillation_gate(features)
        if why:
            return self.not_applicable(features, [af] if af is not None else [],
                                       message=f"{why}: CHA2DS2-VASc is only used in atrial fibrillation or flutter.")

        age, age_missing = age_of(features)
        minimum_age = coefficients()["applicability"]["minimum_age_years"]
        if age is not None and age.value < minimum_age:
            return self.not_applicable(features, [af, age],
                                       message=f"Age {age.value:g} years: CHA2DS2-VASc is validated in adults only.")
        sex, sex_missing = sex_of(features)
        items, item_missing = read_features(features, CONDITION_ITEMS, yes_no)
        usable = [af] + [ev for ev in (age, sex) if ev is not None] + list(items.values())

        missing = [m for m in (age_missing, sex_missing) if m is not None] + item_missing
        if missing:
            partial = sum(coefficients()["points"][n] for n, ev in items.items() if ev.value)
            if age is not None:
                partial += age_points(age.value)
            if sex is not None and sex.value == "female":
                partial += coefficients()["points"]["female"]
            labels = ", ".join(m.label for m in missing)
            return self.insufficient(
                features, usable, missing, details=PartialScore(partial),
                message=(f"Cannot compute: missing {labels}. The items that are known add up to {partial} points; "
                         "the score can only be higher."))

        result = cha2ds2_vasc_score(age_years=age.value, sex=sex.value,
                                    **{name: ev.value for name, ev in items.items()})
        category = risk_category(result.score, sex.value)
        stroke, stroke_tia_se = annual_rates(result.score)
        anticoagulant = features.get("anticoagulant")
        on_anticoagulant = anticoagulant is not None and anticoagulant.value is True
        severity = Severity.WARNING if category == "high" and not on_anticoagulant else Severity.INFO
        assumptions = ["Hypertension is taken from the problem list; antihypertensive drugs alone are not counted, "
                       "because rate-control drugs in AF are often antihypertensives.",
                       "Rates are for people not taking anticoagulants (Friberg 2012)."]
        if anticoagulant is None:
            assumptions.append("Anticoagulant use not known.")
        return self.computed(
            features,
            value=result.score,
            unit="points",
            category=category,
            thresholds=tuple(coefficients()["categories"]["text"]),
            severity=severity,
            inputs=tuple(usable + ([anticoagulant] if anticoagulant is not None else [])),
            assumptions=tuple(assumptions),
            explanation=result.terms,
            measures=(Measure("Ischaemic stroke per year (untreated)", stroke, "%"),
                      Measure("Stroke, TIA or systemic embolism per year (untreated)", stroke_tia_se, "%")),
            method="Sum of CHA2DS2-VASc points (Lip 2010); annual rates by score from Friberg 2012.",
            details=Cha2ds2VascDetails(on_anticoagulant=on_anticoagulant),
        )
