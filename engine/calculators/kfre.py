"""Kidney Failure Risk Equation, 4-variable (Tangri 2011, JAMA 305:1553; recalibrated Tangri 2016, JAMA 315:164).

risk(t) = 1 - S0(region, t) ^ exp(-0.2201 (age/10 - 7.036) + 0.2467 (male - 0.5642)
                                  - 0.5567 (eGFR/5 - 7.222) + 0.4510 (ln ACR[mg/g] - 5.137))

2- and 5-year risks of treated kidney failure for adults with CKD and eGFR < 60 (G3a-G5) not on dialysis. CKD must be
established - a CKD entry on the problem list, or eGFR < 60 / UACR >= 30 mg/g persisting > 90 days as the CKD diagnosis
detector reads them (``engine.detectors.ckd.ckd_establishment``; KDIGO 2024 definition: > 3 months) - because the
equation was developed and validated in people with CKD G3-G5 (Tangri 2011; Tangri 2016), not in a single low eGFR
that may be acute kidney injury or noise. Without it the KFRE is not computed: the finding says which results fall
short, with their dates, and the diagnosis-gaps card asks for the repeat tests. The region
(baseline survival) is the engine option ``kfre_region``: "north-american" (default) or
"non-north-american". Coefficients, baseline survivals and bands: ``engine/data/kfre_4v.json``.
ACR is taken in mg/g only; converting mg/mmol is the FHIR adapter's job.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from engine.base import SingleFindingEngine
from engine.calculators.common import (
    SEXES,
    age_of,
    band_texts,
    is_finite_number,
    load_data,
    positive_number,
    sex_of,
    uacr_action,
)
from engine.feature_catalog import display_value
from engine.finding import Citation, Details, Finding, Kind, Measure, MissingInput, Severity, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "kfre_4v.json"
REGIONS = ("north-american", "non-north-american")
HORIZONS_YEARS = (2, 5)


def coefficients() -> dict:
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class KfreResult:
    region: str
    risk_2y_percent: float
    risk_5y_percent: float
    linear_predictor: float  # sum of the centred terms; equals the sum of the term contributions
    terms: tuple[Term, ...]


def kfre_4v(*, age_years: float, sex: str, egfr_mlmin173m2: float, uacr_mgg: float,
            region: str = "north-american") -> KfreResult:
    """2- and 5-year kidney-failure risk in percent. Applicability (eGFR < 60, adults, not on dialysis) is the
    caller's business; only impossible values raise ValueError."""
    data = coefficients()
    if region not in data["baseline_survival"]:
        raise ValueError(f"region must be one of {REGIONS}")
    if sex not in SEXES:
        raise ValueError("sex must be 'female' or 'male'")
    for name, value in (("age_years", age_years), ("egfr_mlmin173m2", egfr_mlmin173m2), ("uacr_mgg", uacr_mgg)):
        if not is_finite_number(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number (ln ACR needs ACR > 0)")

    terms_data = data["terms"]
    x = {"age": age_years / 10.0, "male": 1.0 if sex == "male" else 0.0, "egfr": egfr_mlmin173m2 / 5.0,
         "ln_acr": math.log(uacr_mgg)}
    labels = {"age": "Age / 10", "male": "Male sex", "egfr": "eGFR / 5", "ln_acr": "ln(urine ACR, mg/g)"}
    terms = tuple(
        Term(f"{labels[key]} (beta {t['beta']:g}, centred at {t['mean']:g})", x[key],
             t["beta"] * (x[key] - t["mean"]))
        for key, t in terms_data.items()
    )
    linear_predictor = math.fsum(term.contribution for term in terms)
    survival = data["baseline_survival"][region]
    risks = {years: 100.0 * (1.0 - survival[str(years)] ** math.exp(linear_predictor)) for years in HORIZONS_YEARS}
    return KfreResult(region, risks[2], risks[5], linear_predictor, terms)


def risk_category(risk_2y_percent: float, risk_5y_percent: float) -> str:
    """Band of a pair of (unrounded) risks: 'very high', 'high', 'elevated' or 'low' (thresholds are strict '>')."""
    risks = {2: risk_2y_percent, 5: risk_5y_percent}
    for band in coefficients()["categories"]["bands"]:
        if band["above_percent"] is None or risks[band["horizon_years"]] > band["above_percent"]:
            return band["name"]
    raise AssertionError("the last band is open-ended")  # pragma: no cover


def category_thresholds() -> tuple[str, ...]:
    return band_texts(coefficients()["categories"]["bands"])


# KRT planning (2-year > 40 %) is the kidney-failure equivalent of G5 in the eGFR calculators.
_SEVERITY = {"low": Severity.INFO, "elevated": Severity.WARNING, "high": Severity.WARNING,
             "very high": Severity.CRITICAL}


@dataclass(frozen=True)
class KfreDetails(Details):
    region: str  # "north-american" or "non-north-american" baseline survival
    linear_predictor: float
    risk_2y_percent: float


@calculator
class KidneyFailureRiskEquation(SingleFindingEngine):
    id = "kfre-4v"
    version = "1.0.0"
    title = "Kidney failure risk (KFRE, 4-variable)"
    kind = Kind.RISK
    citation = Citation(
        short="Tangri 2011/2016 (Kidney Failure Risk Equation)",
        full=("Tangri N, Stevens LA, Griffith J, et al. A predictive model for progression of chronic kidney "
              "disease to kidney failure. JAMA. 2011;305(15):1553-1559. Tangri N, Grams ME, Levey AS, et al. "
              "Multinational Assessment of Accuracy of Equations for Predicting Risk of Kidney Failure: A "
              "Meta-analysis. JAMA. 2016;315(2):164-174. Thresholds: NICE NG203 (2021); KDIGO 2024 CKD guideline. "
              "CKD (> 3 months' persistence): KDIGO 2024 Clinical Practice Guideline for the Evaluation and "
              "Management of Chronic Kidney Disease. Kidney Int. 2024;105(4S):S117-S314."),
        url="https://doi.org/10.1001/jama.2015.18202",
        doi="10.1001/jama.2015.18202",
        topic="Chronic kidney disease: prognosis and referral",
    )
    requires = ("age_years", "sex", "egfr_mlmin173m2", "uacr_mgg")
    optional = ("dialysis_or_transplant", "chronic_kidney_disease")
    finding_suffix = "kidney-failure-5y"

    def _assess(self, features: FeatureSet) -> Finding:
        # Imported here: the detectors import the calculators.
        from engine.detectors.ckd import CKD_MARKERS, ckd_establishment, kidney_replacement, shortfall

        rules = coefficients()["applicability"]
        dialysis = features.get("dialysis_or_transplant")
        # Dialysis or a transplant as the diabetes-in-CKD rule and KDIGO staging read it (its status codes also
        # document CKD): the KFRE was developed and validated without them (Tangri 2011/2016).
        replacement = kidney_replacement(features)
        if replacement is not None:
            return self.not_applicable(
                features, [ev for ev in (replacement.evidence,) if ev is not None],
                message=f"{replacement.words} is recorded: the KFRE predicts kidney failure in people not yet "
                        "receiving kidney replacement therapy.")

        age, age_missing = age_of(features)
        sex, sex_missing = sex_of(features)
        egfr, egfr_missing = positive_number(features, "egfr_mlmin173m2")
        uacr, uacr_missing = positive_number(features, "uacr_mgg")
        if uacr_missing is not None and features.get("uacr_mgg") is not None:
            uacr_missing = MissingInput("uacr_mgg", uacr_missing.label,
                                        "recorded ACR is not a positive number in mg/g (the equation uses ln ACR)")
        usable = [ev for ev in (age, sex, egfr, uacr) if ev is not None]

        if age is not None and age.value < rules["minimum_age_years"]:
            return self.not_applicable(features, usable,
                                       message=f"Age {age.value:g} years: the KFRE is validated in adults only.")
        if egfr is not None and egfr.value >= rules["egfr_below"]:
            return self.not_applicable(
                features, usable,
                message=(f"eGFR {display_value('egfr_mlmin173m2', egfr.value)} mL/min/1.73m2: the KFRE applies to CKD G3a-G5 "
                         f"(eGFR below {rules['egfr_below']})."),
            )
        if egfr is None:
            # Indicated only in CKD G3a-G5, the population it was validated in (Tangri 2011/2016): without a usable
            # eGFR below 60 there is nothing to ask for here (the eGFR itself is asked for by the eGFR card).
            return self.not_applicable(
                features, usable,
                message=(f"No usable eGFR ({egfr_missing.reason}): the KFRE applies to CKD G3a-G5 (eGFR below "
                         f"{rules['egfr_below']}) and is not indicated without one."))

        ckd = ckd_establishment(features)
        if not ckd.established:
            # Validated in CKD G3-G5 only: a risk of kidney failure presented for one low eGFR would treat as CKD what
            # the diagnosis card calls unconfirmed ("needs > 90 days"), and UACR is asked for there.
            said = shortfall(ckd.markers) or (f"eGFR {display_value('egfr_mlmin173m2', egfr.value)} with no dated "
                                              "result that shows how long it has lasted")
            return self.not_applicable(
                features, _distinct(usable + ckd.evidence()),
                message=(f"CKD not established: {said}. The KFRE is validated in CKD G3-G5 (Tangri 2011; Tangri "
                         f"2016, JAMA 315:164), and CKD needs {CKD_MARKERS} (KDIGO 2024 definition). Repeat the "
                         "eGFR and UACR after 3 months."))

        missing = [m for m in (age_missing, sex_missing, egfr_missing, uacr_missing) if m is not None]
        if missing:
            actions = ()
            if uacr is None and egfr is not None:
                actions = (uacr_action("Urine ACR is needed for the Kidney Failure Risk Equation (eGFR below 60) "
                                       "and for the KDIGO albuminuria category."),)
            return self.insufficient(features, usable, missing, suggestions=actions)

        region, region_note = self._region(features)
        result = kfre_4v(age_years=age.value, sex=sex.value, egfr_mlmin173m2=egfr.value, uacr_mgg=uacr.value,
                         region=region)
        category = risk_category(result.risk_2y_percent, result.risk_5y_percent)
        survival = coefficients()["baseline_survival"][region]
        assumptions = [f"CKD established: {ckd.basis()}.",
                       f"Baseline survival for {region} populations (engine option kfre_region)."]
        if region_note:
            assumptions.append(region_note)
        if egfr.value < 15:
            assumptions.append("eGFR below 15 (G5): kidney failure may already be present; the KFRE predicts "
                               "the start of dialysis or transplantation.")
        assumptions.append("Assumes stable kidney function (not acute kidney injury) and no dialysis or transplant.")
        from engine.detectors.common import concept  # the detectors import the calculators' categories

        return self.computed(
            features,
            # About CKD (KFRE is for CKD G3-G5): one card with the KDIGO stage of the same service (cards.render).
            condition=concept("chronic-kidney-disease").ref(),
            value=result.risk_5y_percent,
            unit="%",
            category=category,
            thresholds=category_thresholds(),
            severity=_SEVERITY[category],
            inputs=tuple(usable + ([dialysis] if dialysis is not None else [])),
            assumptions=tuple(assumptions),
            explanation=result.terms,
            measures=(Measure("2-year kidney failure risk", result.risk_2y_percent, "%"),),
            method=(f"KFRE 4-variable: risk = 1 - S0^exp({result.linear_predictor:.4f}); S0 = {survival['5']:g} "
                    f"(5-year) and {survival['2']:g} (2-year), {region}."),
            details=KfreDetails(region=region, linear_predictor=result.linear_predictor,
                                risk_2y_percent=result.risk_2y_percent),
        )

    @staticmethod
    def _region(features: FeatureSet) -> tuple[str, str | None]:
        default = coefficients()["default_region"]
        option = features.options.get("kfre_region")
        if option is None:
            return default, None
        if option in REGIONS:
            return option, None
        return default, f"Engine option kfre_region={option!r} is not recognised; {default} used."


def _distinct(evidence: list) -> list:
    """Each Evidence once (the newest eGFR is both an input and the newest abnormal result)."""
    seen: set[int] = set()
    return [ev for ev in evidence if not (id(ev) in seen or seen.add(id(ev)))]
