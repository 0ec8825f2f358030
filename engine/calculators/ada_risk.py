"""ADA type 2 diabetes risk test (Bang H et al., Ann Intern Med 2009;151:775-783) for people without diabetes.

Points: age 40-49 / 50-59 / >= 60 -> 1 / 2 / 3; male 1; gestational diabetes 1; parent or sibling with
diabetes 1; hypertension 1; not physically active 1; BMI 25-29.9 / 30-39.9 / >= 40 -> 1 / 2 / 3 (0-11).
A score >= 5 means increased risk of undiagnosed diabetes or prediabetes. Items a record often lacks
(family history, physical activity, gestational diabetes) count 0 and are named; when they could lift the
score to 5 the category is 'indeterminate'. Points and bands: ``engine/data/ada_diabetes_risk.json``.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.base import SingleFindingEngine
from engine.calculators.common import (
    ANSWER_TEXT,
    ItemScore,
    SEXES,
    age_of,
    category_with_unknowns,
    hba1c_action,
    is_finite_number,
    load_data,
    positive_number,
    sex_of,
    yes_no,
)
from engine.feature_catalog import display_value
from engine.finding import Citation, Finding, Kind, MissingInput, Severity, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "ada_diabetes_risk.json"
_ITEM_LABELS = {
    "gestational_diabetes_history": "History of gestational diabetes",
    "family_history_diabetes": "Parent or sibling with diabetes",
    "hypertension": "Hypertension (diagnosed or treated)",
    "physically_inactive": "Not physically active",
}


def coefficients() -> dict:
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class AdaRiskResult:
    score: int
    terms: tuple[Term, ...]
    unknown_items: tuple[str, ...]  # counted 0 because the record does not say

    @property
    def maximum_score(self) -> int:
        return self.score + sum(coefficients()["points"][item] for item in self.unknown_items)


def _banded(value: float, bands: list[dict], key: str) -> int:
    points = 0
    for band in bands:
        if value >= band[key]:
            points = band["points"]
    return points


def age_points(age_years: float) -> int:
    return _banded(age_years, coefficients()["points"]["age"], "from_years")


def bmi_points(bmi_kgm2: float) -> int:
    return _banded(bmi_kgm2, coefficients()["points"]["bmi"], "from_kgm2")


def ada_diabetes_risk_score(*, age_years: float, sex: str, bmi_kgm2: float, hypertension: bool | None = None,
                            family_history_diabetes: bool | None = None,
                            gestational_diabetes_history: bool | None = None,
                            physically_active: bool | None = None) -> AdaRiskResult:
    """The ADA risk score; ``None`` marks an item the record does not show (0 points, reported as unknown).
    Gestational diabetes is only asked of women. Raises ValueError on impossible input."""
    if sex not in SEXES:
        raise ValueError("sex must be 'female' or 'male'")
    for name, value in (("age_years", age_years), ("bmi_kgm2", bmi_kgm2)):
        if not is_finite_number(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number")
    points = coefficients()["points"]
    items = {
        "family_history_diabetes": family_history_diabetes,
        "hypertension": hypertension,
        "physically_inactive": None if physically_active is None else not physically_active,
    }
    if sex == "female":
        items = {"gestational_diabetes_history": gestational_diabetes_history, **items}
    terms = [Term("Age (1 from 40, 2 from 50, 3 from 60)", age_years, float(age_points(age_years))),
             Term("Male sex", sex, float(points["male"] if sex == "male" else 0))]
    terms += [Term(_ITEM_LABELS[name], ANSWER_TEXT[flag],
                   float(points[name] if flag else 0)) for name, flag in items.items()]
    terms.append(Term("BMI (1 from 25, 2 from 30, 3 from 40 kg/m2)", bmi_kgm2, float(bmi_points(bmi_kgm2))))
    return AdaRiskResult(int(sum(t.contribution for t in terms)), tuple(terms),
                         tuple(name for name, flag in items.items() if flag is None))


def risk_category(score: int, maximum_score: int | None = None) -> str:
    """'increased' from 5 points; 'indeterminate' when unknown items could reach 5; else 'not increased'."""
    return category_with_unknowns(score, maximum_score, coefficients()["categories"]["high_from"],
                                  high="increased", low="not increased")


# ADA Standards of Care 2024, section 2 (Table 2.1): HbA1c >= 6.5 % is in the diabetes range.
DIABETES_HBA1C_PCT = 6.5

_SEVERITY = {"increased": Severity.WARNING, "indeterminate": Severity.INFO, "not increased": Severity.INFO}


@calculator
class AdaDiabetesRisk(SingleFindingEngine):
    id = "ada-diabetes-risk"
    version = "1.0.0"
    title = "Type 2 diabetes risk (ADA risk test)"
    kind = Kind.RISK
    citation = Citation(
        short="Bang 2009 (ADA diabetes risk test)",
        full=("Bang H, Edwards AM, Bomback AS, et al. Development and validation of a patient self-assessment "
              "score for diabetes risk. Ann Intern Med. 2009;151(11):775-783."),
        url="https://doi.org/10.7326/0003-4819-151-11-200912010-00005",
        doi="10.7326/0003-4819-151-11-200912010-00005",
        topic="Diabetes: screening",
    )
    requires = ("age_years", "sex", "bmi_kgm2")
    optional = ("diabetes", "pregnant", "hypertension", "bp_treated", "family_history_diabetes",
                "gestational_diabetes_history", "physically_active", "hba1c_pct")
    finding_suffix = "score"

    def _assess(self, features: FeatureSet) -> Finding:
        diabetes = features.get("diabetes")
        if diabetes is not None and diabetes.value is True:
            return self.not_applicable(features, [diabetes],
                                       message="Diabetes is already diagnosed: the risk test screens people without "
                                               "diabetes.")
        pregnant = features.get("pregnant")
        if pregnant is not None and pregnant.value is True:
            return self.not_applicable(features, [pregnant],
                                       message="Pregnancy is recorded: screen with the pregnancy-specific glucose "
                                               "tests instead of the ADA risk test.")
        hba1c = features.get("hba1c_pct")
        if hba1c is not None and is_finite_number(hba1c.value) and hba1c.value >= DIABETES_HBA1C_PCT:
            # A screening questionnaire beside a result in the diabetes range would say "risk not increased" next to
            # "possible undiagnosed diabetes": the result, not the questionnaire, decides what comes next.
            return self.not_applicable(
                features, [hba1c],
                message=(f"HbA1c {display_value('hba1c_pct', hba1c.value)} % is in the diabetes range (>= 6.5 %, ADA "
                         "Standards of Care 2024, section 2): the risk test screens people without diabetes; "
                         "confirm the diagnosis instead."))
        age, age_missing = age_of(features)
        sex, sex_missing = sex_of(features)
        bmi, bmi_missing = positive_number(features, "bmi_kgm2")
        usable = [ev for ev in (age, sex, bmi) if ev is not None]
        minimum_age = coefficients()["applicability"]["minimum_age_years"]
        if age is not None and age.value < minimum_age:
            return self.not_applicable(features, usable,
                                       message=f"Age {age.value:g} years: the ADA risk test is validated from "
                                               f"{minimum_age} years.")
        missing = [m for m in (age_missing, sex_missing, bmi_missing) if m is not None]
        if missing:
            return self.insufficient(features, usable, missing)

        answers, answer_inputs, item_missing = self._items(features, sex.value)
        result = ada_diabetes_risk_score(age_years=age.value, sex=sex.value, bmi_kgm2=bmi.value, **answers)
        category = risk_category(result.score, result.maximum_score)
        assumptions = [f"Not in the record, counted as absent: {_ITEM_LABELS[item].lower()}."
                       for item in result.unknown_items]
        if result.unknown_items:
            assumptions.append(f"The score is therefore a minimum: up to {result.maximum_score} if these apply; "
                               "ask the patient.")
        if answers["hypertension"] and features.value("hypertension") is not True:
            assumptions.append("Hypertension item from antihypertensive treatment (no hypertension diagnosis on the "
                               "problem list).")
        if diabetes is None:
            assumptions.append("Diabetes status not found in the record; the test assumes no diagnosed diabetes.")
        assumptions.append("BMI cut-offs for the general population; Asian American people reach each band at a "
                           "lower BMI (23 / 27.5 / 37.5 kg/m2), which the record's race categories cannot show.")
        severity = _SEVERITY[category]
        if hba1c is not None and is_finite_number(hba1c.value):
            # The test's advice for an increased score - measure HbA1c or glucose - is already followed.
            severity = Severity.INFO
            assumptions.append(f"HbA1c {display_value('hba1c_pct', hba1c.value)} % is already in the record "
                               f"({hba1c.effective:%Y-%m-%d}), below the diabetes range." if hba1c.effective else
                               f"HbA1c {display_value('hba1c_pct', hba1c.value)} % is already in the record, below "
                               "the diabetes range.")
        actions = ()
        if category == "increased" and features.get("hba1c_pct") is None:
            actions = (hba1c_action(f"ADA diabetes risk test score {result.score} (>= 5): screen for diabetes and "
                                    "prediabetes with HbA1c (ADA Standards of Care)."),)
        inputs = usable + answer_inputs + [ev for ev in (diabetes,) if ev is not None]
        return self.computed(
            features,
            value=result.score,
            unit="points",
            category=category,
            thresholds=tuple(coefficients()["categories"]["text"]),
            severity=severity,
            inputs=tuple(inputs),
            missing=tuple(item_missing),
            assumptions=tuple(assumptions),
            explanation=result.terms,
            suggestions=actions,
            method="Sum of ADA risk test points (Bang 2009, with the ADA gestational diabetes item); >= 5 = increased.",
            details=ItemScore(tuple(result.unknown_items), result.maximum_score),
        )

    @staticmethod
    def _items(features: FeatureSet, sex: str) -> tuple[dict, list, list[MissingInput]]:
        """Yes/no answers from the record (None when it does not say), the evidence used and what is missing."""
        evidence, missing = {}, []
        names = ["family_history_diabetes", "physically_active", "hypertension", "bp_treated"]
        if sex == "female":
            names.insert(0, "gestational_diabetes_history")
        for name in names:
            ev, why = yes_no(features, name)
            evidence[name] = ev
            if why is not None and name not in ("hypertension", "bp_treated"):
                missing.append(why)
        hypertension, treated = evidence["hypertension"], evidence["bp_treated"]
        if (hypertension is not None and hypertension.value) or (treated is not None and treated.value):
            hypertension_answer = True
        elif hypertension is not None:
            hypertension_answer = False  # the problem list says no hypertension
        else:
            hypertension_answer = None
            missing.append(features.missing_reason("hypertension"))
        answers = {"hypertension": hypertension_answer,
                   "family_history_diabetes": evidence["family_history_diabetes"].value
                   if evidence["family_history_diabetes"] is not None else None,
                   "physically_active": evidence["physically_active"].value
                   if evidence["physically_active"] is not None else None}
        if sex == "female":
            gdm = evidence["gestational_diabetes_history"]
            answers["gestational_diabetes_history"] = gdm.value if gdm is not None else None
        return answers, [ev for ev in evidence.values() if ev is not None], missing
