"""diabetes-gap: diabetes or prediabetes by laboratory criteria, not on the problem list.

Source: American Diabetes Association Professional Practice Committee. 2. Diagnosis and Classification of Diabetes:
Standards of Care in Diabetes-2024. Diabetes Care 2024;47(Suppl 1):S20-S42 (unchanged in Standards of Care 2025,
Diabetes Care 2025;48(Suppl 1):S27-S49). Table 2.1 (criteria for the diagnosis of diabetes) and Table 2.5 (criteria
defining prediabetes).

* Diabetes: HbA1c >= 6.5 %, fasting plasma glucose (FPG) >= 126 mg/dL, or 2-h plasma glucose >= 200 mg/dL during a
  75 g OGTT. "In the absence of unequivocal hyperglycemia, diagnosis requires two abnormal test results from the same
  sample or in two separate test samples": two abnormal results of *different* tests count (also from one blood
  draw), the *same* test counts twice only on two different days (a duplicate report of one sample is one result).
* The unequivocal route - random plasma glucose >= 200 mg/dL *with classic symptoms of hyperglycaemia or a
  hyperglycaemic crisis* - cannot be seen in coded results. A random glucose >= 200 mg/dL therefore never makes the
  diagnosis here; it asks for an HbA1c.
* Prediabetes: HbA1c 5.7-6.4 %, FPG 100-125 mg/dL or 2-h OGTT glucose 140-199 mg/dL, judged on the newest result of
  each test (the current glycaemic state).
* Pregnancy: gestational diabetes has its own criteria (ADA section 15); the detector does not apply.
"""
from __future__ import annotations

from typing import Sequence

from engine.detectors.common import (
    DiagnosisDetector,
    Reading,
    add_condition_action,
    already_documented,
    concept,
    criterion,
    option,
    order_action,
    pregnant,
    readings,
    shorts,
)
from engine.finding import Citation, Finding, Term
from engine.inputs import FeatureSet
from engine.registry import detector

# ADA Standards of Care 2024, Table 2.1: diagnostic thresholds (inclusive).
DIABETES_THRESHOLDS = {
    "hba1c_pct": 6.5,  # %
    "glucose_fasting_mgdl": 126.0,  # mg/dL, no caloric intake for >= 8 h
    "glucose_ogtt_2h_mgdl": 200.0,  # mg/dL, 75 g anhydrous glucose load
}
# ADA Table 2.1: random plasma glucose >= 200 mg/dL counts only with classic symptoms or hyperglycaemic crisis.
RANDOM_GLUCOSE_THRESHOLD = 200.0
# ADA Standards of Care 2024, Table 2.5: prediabetes ranges, [low, high) in the unit of the feature.
PREDIABETES_RANGES = {
    "hba1c_pct": (5.7, 6.5),  # 5.7-6.4 %
    "glucose_fasting_mgdl": (100.0, 126.0),  # 100-125 mg/dL (impaired fasting glucose)
    "glucose_ogtt_2h_mgdl": (140.0, 200.0),  # 140-199 mg/dL (impaired glucose tolerance)
}
CRITERION_TEXT = {
    "hba1c_pct": "HbA1c >= 6.5 %",
    "glucose_fasting_mgdl": "Fasting plasma glucose >= 126 mg/dL",
    "glucose_ogtt_2h_mgdl": "2-h plasma glucose >= 200 mg/dL (75 g OGTT)",
}
PREDIABETES_TEXT = {
    "hba1c_pct": "HbA1c 5.7-6.4 %",
    "glucose_fasting_mgdl": "Fasting plasma glucose 100-125 mg/dL",
    "glucose_ogtt_2h_mgdl": "2-h plasma glucose 140-199 mg/dL (75 g OGTT)",
}
# The confirmatory test proposed when one criterion result stands alone: the same test again (ADA: "the same test be
# repeated or a different test be performed without delay using a new blood sample"); after an OGTT or a random
# glucose the HbA1c, which needs no fasting or glucose load.
REPEAT_ORDER = {"hba1c_pct": "hba1c", "glucose_fasting_mgdl": "fasting_glucose",
                "glucose_ogtt_2h_mgdl": "hba1c", "glucose_random_mgdl": "hba1c"}
# Project choice (no guideline fixes it): results older than two years are not used to diagnose.
DEFAULT_LOOKBACK_DAYS = 730

THRESHOLD_LINES = (
    "Diabetes: HbA1c >= 6.5 %, FPG >= 126 mg/dL or 2-h OGTT >= 200 mg/dL, two abnormal results required",
    "Prediabetes: HbA1c 5.7-6.4 %, FPG 100-125 mg/dL or 2-h OGTT 140-199 mg/dL",
)
HBA1C_CAVEAT = ("HbA1c can mislead when red-cell turnover is altered (anaemia, haemoglobinopathies, recent blood loss "
                "or transfusion, advanced CKD, pregnancy); ADA advises plasma glucose criteria then.")
TYPE_CAVEAT = ("Results cannot tell type 1 from type 2 diabetes; the suggested ICD-10-CM code E11.9 is the coding "
               "default when the type is not documented - change it if the type is known.")


@detector
class DiabetesGap(DiagnosisDetector):
    id = "diabetes-gap"
    version = "1.0.0"
    title = "Possible undiagnosed diabetes or prediabetes"
    citation = Citation(
        short="ADA Standards of Care 2024",
        full=("American Diabetes Association Professional Practice Committee. 2. Diagnosis and Classification of "
              "Diabetes: Standards of Care in Diabetes-2024. Diabetes Care. 2024;47(Suppl 1):S20-S42 (Tables 2.1 "
              "and 2.5; unchanged in Standards of Care 2025, Diabetes Care 2025;48(Suppl 1):S27-S49)."),
        url="https://doi.org/10.2337/dc24-S002",
        doi="10.2337/dc24-S002",
        topic="Diabetes diagnosis",
    )
    requires = ("hba1c_pct", "glucose_fasting_mgdl", "glucose_ogtt_2h_mgdl")
    optional = ("glucose_random_mgdl", "diabetes", "prediabetes", "pregnant")

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        dm = concept("diabetes-mellitus")
        if already_documented(features, dm, "diabetes"):
            return []
        window = option(features, "diabetes_lookback_days", DEFAULT_LOOKBACK_DAYS)
        series: dict[str, list[Reading]] = {}
        problems = []
        for name in (*DIABETES_THRESHOLDS, "glucose_random_mgdl"):
            series[name], dropped = readings(features, name, window_days=window)
            problems += dropped
        abnormal = {name: [r for r in series[name] if r.value >= limit] for name, limit in DIABETES_THRESHOLDS.items()}
        random_high = [r for r in series["glucose_random_mgdl"] if r.value >= RANDOM_GLUCOSE_THRESHOLD]
        all_abnormal = [r for rs in abnormal.values() for r in rs]

        if pregnant(features) is True:
            if all_abnormal or random_high:
                return [self.outside_scope(
                    features, suffix="diabetes", inputs=[r.evidence for r in all_abnormal + random_high],
                    problems=problems,
                    message=("Glucose results in the diabetes range during a recorded pregnancy: the ADA criteria for "
                             "diabetes outside pregnancy do not apply; assess for diabetes in pregnancy "
                             "(ADA Standards of Care section 15)."))]
            return []

        confirmation = _confirmation(abnormal)
        if confirmation:
            return [self._diabetes(features, abnormal, series, random_high, confirmation, problems)]
        single = self._single_result(features, abnormal, series, random_high, problems)
        if single is not None:
            return [single]
        prediabetes = self._prediabetes(features, series, problems)
        return [prediabetes] if prediabetes is not None else []

    # -- diabetes, criteria met ------------------------------------------------------------------------------------
    def _diabetes(self, features, abnormal, series, random_high, confirmation: str, problems) -> Finding:
        dm = concept("diabetes-mellitus")
        met = sorted((r for rs in abnormal.values() for r in rs), key=lambda r: r.day, reverse=True)
        terms = [criterion(CRITERION_TEXT[name], rs) for name, rs in abnormal.items() if rs]
        terms.append(Term("Confirmation (ADA: two abnormal results)", confirmation))
        terms += _context_terms(abnormal, series, random_high)
        evidence = [r.evidence for r in met]
        assumptions = [TYPE_CAVEAT] + ([HBA1C_CAVEAT] if abnormal["hba1c_pct"] else [])
        return self.gap(
            features, suffix="diabetes", condition=dm,
            title="Possible undiagnosed diabetes",
            value=shorts(met), category="ADA criteria met",
            inputs=evidence, explanation=terms, problems=problems,
            message=(f"{len(met)} results meet the ADA diagnostic criteria for diabetes ({confirmation}) and "
                     "diabetes is not on the active problem list."),
            actions=[add_condition_action(dm, evidence, why=f"{shorts(met)} ({confirmation}).")],
            assumptions=assumptions, thresholds=THRESHOLD_LINES,
            method="ADA Table 2.1: any two abnormal results of HbA1c, FPG or 2-h OGTT glucose confirm the diagnosis.",
        )

    # -- one abnormal result (or a high random glucose) -------------------------------------------------------------
    def _single_result(self, features, abnormal, series, random_high, problems) -> Finding | None:
        dm = concept("diabetes-mellitus")
        met = [r for rs in abnormal.values() for r in rs]
        if met:
            result = max(met, key=lambda r: r.day)
            later_same = [r for r in series[result.name] if r.day > result.day]
            if later_same:  # the same test was repeated afterwards and did not confirm: no diabetes signal left
                return None
        elif random_high:
            result = random_high[0]
        else:
            return None
        terms = []
        if met:
            terms.append(criterion(CRITERION_TEXT[result.name], met))
        if random_high:
            terms.append(criterion(
                "Random plasma glucose >= 200 mg/dL (diagnostic only with classic symptoms or a hyperglycaemic "
                "crisis, which coded results cannot show)", random_high))
        terms += _context_terms(abnormal, series, [])
        order_key = REPEAT_ORDER[result.name]
        what = "HbA1c" if order_key == "hba1c" else "fasting plasma glucose"
        evidence = [r.evidence for r in met] + [r.evidence for r in random_high]
        if met:
            message = (f"{result.describe()} is in the diabetes range, but ADA requires a second abnormal result "
                       "(the same test repeated or a different test) unless hyperglycaemia is unequivocal. "
                       "Diabetes is not on the active problem list.")
        else:
            message = (f"{result.describe()}: a random glucose >= 200 mg/dL is diagnostic only with classic symptoms "
                       "of hyperglycaemia or a hyperglycaemic crisis. Check symptoms and test HbA1c or FPG.")
        return self.gap(
            features, suffix="diabetes", condition=dm,
            title="Possible undiagnosed diabetes",
            value=result.short(), category="needs confirmation",
            inputs=evidence, explanation=terms, problems=problems, message=message,
            actions=[order_action(order_key, label=f"Order {what} to confirm or exclude diabetes",
                                  reason=f"Confirm or exclude diabetes after {result.short()} on "
                                         f"{result.day.isoformat()} (ADA Standards of Care 2024, Table 2.1).",
                                  condition=dm, evidence=evidence)],
            assumptions=[HBA1C_CAVEAT] if result.name == "hba1c_pct" else [],
            thresholds=THRESHOLD_LINES,
            method="ADA Table 2.1: one abnormal result needs a second abnormal result to confirm the diagnosis.",
        )

    # -- prediabetes ------------------------------------------------------------------------------------------------
    def _prediabetes(self, features, series, problems) -> Finding | None:
        pre = concept("prediabetes")
        if already_documented(features, pre, "prediabetes"):
            return None
        met: list[Reading] = []
        terms = []
        for name, (low, high) in PREDIABETES_RANGES.items():
            newest = series[name][:1]
            if newest and low <= newest[0].value < high:
                met.append(newest[0])
                terms.append(criterion(PREDIABETES_TEXT[name] + " (newest result)", newest))
        if not met:
            return None
        evidence = [r.evidence for r in met]
        return self.gap(
            features, suffix="prediabetes", condition=pre,
            title="Possible undiagnosed prediabetes",
            value=shorts(met), category="ADA prediabetes range",
            inputs=evidence, explanation=terms, problems=problems,
            message=("The newest result is in the ADA prediabetes range and neither prediabetes nor diabetes is on "
                     "the active problem list. ADA advises at least yearly testing and referral to an intensive "
                     "lifestyle programme."),
            actions=[add_condition_action(pre, evidence, why=f"{shorts(met)} in the ADA prediabetes range.")],
            assumptions=[HBA1C_CAVEAT] if any(r.name == "hba1c_pct" for r in met) else [],
            thresholds=THRESHOLD_LINES,
            method="ADA Table 2.5: the newest HbA1c, FPG or 2-h OGTT result in the prediabetes range.",
        )


def _confirmation(abnormal: dict[str, list[Reading]]) -> str | None:
    """How two abnormal results confirm the diagnosis, in words, or None when they do not."""
    tests = [name for name, rs in abnormal.items() if rs]
    if len(tests) >= 2:
        same_sample = _same_sample(abnormal, tests)
        return "two different tests" + (", from the same sample" if same_sample else "")
    if tests:
        days = sorted({r.day for r in abnormal[tests[0]]})
        if len(days) >= 2:
            return f"the same test on {len(days)} separate days"
    return None


def _same_sample(abnormal: dict[str, list[Reading]], tests: Sequence[str]) -> bool:
    days = [{r.day for r in abnormal[name]} for name in tests]
    return bool(set.intersection(*days)) and not any(len(d) > 1 for d in days)


def _context_terms(abnormal, series, random_high) -> list[Term]:
    """Results that did not meet a criterion but a clinician weighing the diagnosis should see (discordant ones)."""
    terms = []
    below = [r for name, rs in series.items() if name in DIABETES_THRESHOLDS
             for r in rs if r not in abnormal[name]]
    if below:
        terms.append(Term("Other results below the diabetes threshold (discordant)",
                          "; ".join(r.describe() for r in below[:4])))
    if random_high:
        terms.append(Term("Random plasma glucose >= 200 mg/dL (supporting only)",
                          "; ".join(r.describe() for r in random_high)))
    return terms
