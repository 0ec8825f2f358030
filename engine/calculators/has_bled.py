"""HAS-BLED one-year major bleeding risk in atrial fibrillation (Pisters 2010, Chest 138:1093).

One point each: uncontrolled hypertension (SBP > 160), abnormal renal function, abnormal liver function,
stroke, bleeding history or predisposition, labile INR, age > 65, antiplatelet/NSAID, alcohol >= 8 drinks
per week (0-9). Items the record cannot show are counted as absent and named in the assumptions; when
they could move the score across the high-risk threshold the category is 'indeterminate'.
Definitions, rates and bands: ``engine/data/has_bled.json``.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.base import SingleFindingEngine
from engine.calculators.common import (
    ANSWER_TEXT,
    ItemScore,
    age_of,
    atrial_fibrillation_gate,
    category_with_unknowns,
    is_finite_number,
    load_data,
    positive_number,
    read_features,
    yes_no,
)
from engine.finding import Citation, Finding, Kind, Measure, Severity, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "has_bled.json"
ITEMS = ("H", "A_renal", "A_liver", "S", "B", "L", "E", "D_drugs", "D_alcohol")


def coefficients() -> dict:
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class HasBledResult:
    score: int  # items known to be present
    terms: tuple[Term, ...]  # one per item; value "yes" / "no" / "unknown", contribution = point
    unknown_items: tuple[str, ...]  # item keys that could not be assessed (counted as absent)

    @property
    def maximum_score(self) -> int:
        return self.score + len(self.unknown_items)


def _any_of(*answers: bool | None) -> bool | None:
    """True if any criterion is met, False if all are known and unmet, None otherwise."""
    if any(a is True for a in answers):
        return True
    if all(a is False for a in answers):
        return False
    return None


def _above(value: float | None, limit: float) -> bool | None:
    return None if value is None else value > limit


def has_bled_score(*, age_years: float, sbp_mmhg: float | None = None, creatinine_mgdl: float | None = None,
                   dialysis_or_transplant: bool | None = None, liver_disease: bool | None = None,
                   bilirubin_total_mgdl: float | None = None, ast_ul: float | None = None,
                   alt_ul: float | None = None, stroke: bool | None = None, bleeding_history: bool | None = None,
                   labile_inr: bool | None = None, antiplatelet_or_nsaid: bool | None = None,
                   alcohol_excess: bool | None = None) -> HasBledResult:
    """HAS-BLED with every item explained. ``None`` means 'cannot tell': the item counts 0 and is reported."""
    if not is_finite_number(age_years) or age_years < 0:
        raise ValueError("age_years must be a non-negative number")
    data = coefficients()
    items, uln = data["items"], data["upper_limits_of_normal"]
    creatinine_limit_mgdl = items["A_renal"]["creatinine_from_umoll"] / items["A_renal"]["creatinine_umoll_per_mgdl"]
    bilirubin_high = _above(bilirubin_total_mgdl, items["A_liver"]["bilirubin_times_uln"] * uln["bilirubin_total_mgdl"])
    transaminase_high = _any_of(_above(ast_ul, items["A_liver"]["aminotransferase_times_uln"] * uln["ast_ul"]),
                                _above(alt_ul, items["A_liver"]["aminotransferase_times_uln"] * uln["alt_ul"]))
    if bilirubin_high is False or transaminase_high is False:
        liver_labs = False
    elif bilirubin_high is True and transaminase_high is True:
        liver_labs = True
    else:
        liver_labs = None
    answers = {
        "H": _above(sbp_mmhg, items["H"]["sbp_above_mmhg"]),
        "A_renal": _any_of(dialysis_or_transplant,
                           None if creatinine_mgdl is None else creatinine_mgdl >= creatinine_limit_mgdl),
        "A_liver": _any_of(liver_disease, liver_labs),
        "S": stroke,
        "B": bleeding_history,
        "L": labile_inr,
        "E": age_years > items["E"]["age_above_years"],
        "D_drugs": antiplatelet_or_nsaid,
        "D_alcohol": alcohol_excess,
    }
    terms = tuple(Term(items[key]["label"], ANSWER_TEXT[answer],
                       1.0 if answer is True else 0.0) for key, answer in answers.items())
    return HasBledResult(score=sum(1 for a in answers.values() if a is True), terms=terms,
                         unknown_items=tuple(key for key, answer in answers.items() if answer is None))


def risk_category(score: int, maximum_score: int | None = None) -> str:
    """'high' from 3 points, 'low-moderate' below; 'indeterminate' when unknown items could reach 3."""
    return category_with_unknowns(score, maximum_score, coefficients()["categories"]["high_from"],
                                  high="high", low="low-moderate")


def bleeds_per_100_patient_years(score: int) -> float | None:
    """Pisters 2010 validation-cohort rate; None above 5 points (too few patients for an estimate)."""
    return coefficients()["bleeds_per_100_patient_years"]["by_score"].get(str(score))


_SEVERITY = {"high": Severity.WARNING, "indeterminate": Severity.INFO, "low-moderate": Severity.INFO}


@calculator
class HasBled(SingleFindingEngine):
    id = "has-bled"
    version = "1.0.0"
    title = "Major bleeding risk in atrial fibrillation (HAS-BLED)"
    kind = Kind.RISK
    citation = Citation(
        short="Pisters 2010 (HAS-BLED)",
        full=("Pisters R, Lane DA, Nieuwlaat R, de Vos CB, Crijns HJGM, Lip GYH. A novel user-friendly score "
              "(HAS-BLED) to assess 1-year risk of major bleeding in patients with atrial fibrillation: the Euro "
              "Heart Survey. Chest. 2010;138(5):1093-1100."),
        url="https://doi.org/10.1378/chest.10-0134",
        doi="10.1378/chest.10-0134",
        topic="Atrial fibrillation: bleeding risk on anticoagulation",
    )
    requires = ("atrial_fibrillation", "age_years")
    optional = ("sbp_mmhg", "creatinine_mgdl", "dialysis_or_transplant", "liver_disease", "bilirubin_total_mgdl",
                "ast_ul", "alt_ul", "stroke_tia_thromboembolism", "bleeding_history", "antiplatelet_or_nsaid",
                "alcohol_excess", "anticoagulant")
    finding_suffix = "score"

    def _assess(self, features: FeatureSet) -> Finding:
        af, why = atrial_fibrillation_gate(features)
        if why:
            return self.not_applicable(features, [af] if af is not None else [],
                                       message=f"{why}: HAS-BLED is used to weigh bleeding risk when "
                                               "anticoagulation for AF is considered.")
        age, age_missing = age_of(features)
        if age is None:
            return self.insufficient(features, [af], [age_missing])
        if age.value < coefficients()["applicability"]["minimum_age_years"]:
            return self.not_applicable(features, [af, age],
                                       message=f"Age {age.value:g} years: HAS-BLED is validated in adults only.")

        numbers, missing = read_features(
            features, ("sbp_mmhg", "creatinine_mgdl", "bilirubin_total_mgdl", "ast_ul", "alt_ul"), positive_number)
        booleans, boolean_missing = read_features(
            features, ("dialysis_or_transplant", "liver_disease", "stroke_tia_thromboembolism", "bleeding_history",
                       "antiplatelet_or_nsaid", "alcohol_excess"), yes_no)
        missing += boolean_missing
        anticoagulant = features.get("anticoagulant")
        # Labile INR only concerns vitamin K antagonists: known absent when no anticoagulant is taken.
        labile_inr = False if anticoagulant is not None and anticoagulant.value is False else None

        def num(name):
            return numbers[name].value if name in numbers else None

        def flag(name):
            return booleans[name].value if name in booleans else None

        result = has_bled_score(
            age_years=age.value, sbp_mmhg=num("sbp_mmhg"), creatinine_mgdl=num("creatinine_mgdl"),
            dialysis_or_transplant=flag("dialysis_or_transplant"), liver_disease=flag("liver_disease"),
            bilirubin_total_mgdl=num("bilirubin_total_mgdl"), ast_ul=num("ast_ul"), alt_ul=num("alt_ul"),
            stroke=flag("stroke_tia_thromboembolism"), bleeding_history=flag("bleeding_history"),
            labile_inr=labile_inr, antiplatelet_or_nsaid=flag("antiplatelet_or_nsaid"),
            alcohol_excess=flag("alcohol_excess"))
        category = risk_category(result.score, result.maximum_score)
        labels = coefficients()["items"]
        assumptions = [f"Assumed absent (the record cannot show it): {labels[key]['label']}."
                       for key in result.unknown_items]
        if "L" in result.unknown_items:
            assumptions[result.unknown_items.index("L")] = (
                f"Assumed absent (the record cannot show it): {labels['L']['label']} - time in therapeutic range "
                "is not derived from INR results; it applies to vitamin K antagonists only.")
        if result.unknown_items:
            assumptions.append(f"The score is therefore a minimum: up to {result.maximum_score} if all of these "
                               "were present.")
        assumptions.append("'Stroke' is read from the record's prior stroke, TIA or thromboembolism entry, which may "
                           "include TIA and systemic embolism (Pisters 2010 counts stroke).")
        rate = bleeds_per_100_patient_years(result.score)
        measures = () if rate is None else (
            Measure("Major bleeds (Pisters 2010)", rate, "per 100 patient-years",
                    sentence=(f"About {rate:.1f} major bleeds per 100 patient-years at a score of {result.score} "
                              "(Pisters 2010).")),)
        if rate is None:
            assumptions.append("No published bleeding rate above 5 points (too few patients in Pisters 2010).")
        inputs = [af, age, *numbers.values(), *booleans.values()]
        if anticoagulant is not None:
            inputs.append(anticoagulant)
        return self.computed(
            features,
            value=result.score,
            unit="points",
            category=category,
            thresholds=tuple(coefficients()["categories"]["text"]),
            severity=_SEVERITY[category],
            inputs=tuple(inputs),
            missing=tuple(missing),
            assumptions=tuple(assumptions),
            explanation=result.terms,
            measures=measures,
            method="Sum of HAS-BLED items (Pisters 2010); items that cannot be assessed count 0 and are named.",
            details=ItemScore(tuple(result.unknown_items), result.maximum_score),
        )
