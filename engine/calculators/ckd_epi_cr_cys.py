"""CKD-EPI 2021 race-free creatinine-cystatin C equation (Inker LA et al., NEJM 2021;385:1737-1749).

eGFRcr-cys = 135 x min(Scr/k, 1)^a x max(Scr/k, 1)^-0.544 x min(Scys/0.8, 1)^-0.323
             x max(Scys/0.8, 1)^-0.778 x 0.9961^age x 0.963 [female]
with k = 0.7 (female) / 0.9 (male) and a = -0.219 (female) / -0.144 (male).

Constants and the KDIGO 2012 cystatin C confirmation rule live in ``engine/data/ckd_epi_2021_cr_cys.json``;
the G categories are those of the creatinine equation (``engine/data/ckd_epi_2021.json``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from engine.base import SingleFindingEngine
from engine.calculators.ckd_epi import G_CATEGORY_SEVERITY, ckd_epi_2021_creatinine, kdigo_g_category
from engine.calculators.ckd_epi import coefficients as creatinine_coefficients
from engine.calculators.common import (
    SEXES,
    age_of,
    band_texts,
    cystatin_c_action,
    different_days_note,
    is_finite_number,
    load_data,
    positive_number,
    round_half_up,
    sex_of,
)
from engine.finding import Citation, Finding, Kind, Measure, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "ckd_epi_2021_cr_cys.json"


def coefficients() -> dict:
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class CrCysResult:
    egfr_mlmin173m2: float
    # Multiplicative factors; each contribution is ln(factor), so the contributions sum to ln(eGFR).
    terms: tuple[Term, ...]


def ckd_epi_2021_cr_cys_detail(*, creatinine_mgdl: float, cystatin_c_mgl: float, age_years: float,
                               sex: str) -> CrCysResult:
    """eGFRcr-cys with its factors. Raises ValueError on non-positive markers, age < 18 or unknown sex."""
    data = coefficients()
    if sex not in SEXES:
        raise ValueError("sex must be 'female' or 'male'")
    for name, value in (("creatinine_mgdl", creatinine_mgdl), ("cystatin_c_mgl", cystatin_c_mgl)):
        if not is_finite_number(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number")
    if not is_finite_number(age_years) or age_years < data["minimum_age_years"]:
        raise ValueError("the CKD-EPI 2021 equations are for adults (age >= 18 years)")

    by_sex = data["by_sex"][sex]
    kappa, alpha = by_sex["kappa_mgdl"], by_sex["alpha"]
    cr_ratio = creatinine_mgdl / kappa
    cys_ratio = cystatin_c_mgl / data["cystatin_kappa_mgl"]
    factors = (
        ("Constant", data["constant"]),
        (f"min(Scr/{kappa}, 1)^{alpha}", min(cr_ratio, 1.0) ** alpha),
        (f"max(Scr/{kappa}, 1)^{data['creatinine_exponent_above_kappa']}",
         max(cr_ratio, 1.0) ** data["creatinine_exponent_above_kappa"]),
        (f"min(Scys/0.8, 1)^{data['cystatin_exponent_below_kappa']}",
         min(cys_ratio, 1.0) ** data["cystatin_exponent_below_kappa"]),
        (f"max(Scys/0.8, 1)^{data['cystatin_exponent_above_kappa']}",
         max(cys_ratio, 1.0) ** data["cystatin_exponent_above_kappa"]),
        (f"{data['age_base_per_year']}^age", data["age_base_per_year"] ** age_years),
        ("Sex factor (0.963 if female)", by_sex["sex_factor"]),
    )
    egfr = math.prod(value for _, value in factors)
    return CrCysResult(egfr, tuple(Term(label, value, math.log(value)) for label, value in factors))


def ckd_epi_2021_cr_cys(*, creatinine_mgdl: float, cystatin_c_mgl: float, age_years: float, sex: str) -> float:
    """eGFR in mL/min/1.73m2 from creatinine and cystatin C (CKD-EPI 2021). Raises ValueError on invalid input."""
    return ckd_epi_2021_cr_cys_detail(creatinine_mgdl=creatinine_mgdl, cystatin_c_mgl=cystatin_c_mgl,
                                      age_years=age_years, sex=sex).egfr_mlmin173m2


def cystatin_c_confirmation_indicated(egfr_cr_mlmin173m2: float, uacr_mgg: float | None) -> bool:
    """KDIGO 2012 rec. 1.4.3.5: eGFRcr in G3a (45 to < 60, unrounded like every staging rule here) without
    albuminuria (UACR < 30 mg/g, or not measured)."""
    rule = coefficients()["cystatin_c_confirmation"]
    no_marker = uacr_mgg is None or uacr_mgg < rule["uacr_marker_mgg"]
    return rule["egfr_cr_min"] <= egfr_cr_mlmin173m2 < rule["egfr_cr_max"] + 1 and no_marker


@calculator
class CkdEpi2021CreatinineCystatin(SingleFindingEngine):
    id = "ckd-epi-2021-cr-cys"
    version = "1.0.0"
    title = "eGFR (CKD-EPI 2021 creatinine-cystatin C)"
    kind = Kind.DIAGNOSIS
    citation = Citation(
        short="Inker 2021 (CKD-EPI 2021 creatinine-cystatin C)",
        full=("Inker LA, Eneanya ND, Coresh J, et al. New Creatinine- and Cystatin C-Based Equations to Estimate "
              "GFR without Race. N Engl J Med. 2021;385(19):1737-1749. GFR categories and cystatin C confirmation: "
              "KDIGO 2012 Clinical Practice Guideline for the Evaluation and Management of CKD. Kidney Int Suppl. "
              "2013;3:1-150."),
        url="https://doi.org/10.1056/NEJMoa2102953",
        doi="10.1056/NEJMoa2102953",
        topic="Chronic kidney disease: GFR estimation and staging",
    )
    requires = ("creatinine_mgdl", "cystatin_c_mgl", "age_years", "sex")
    optional = ("uacr_mgg", "egfr_mlmin173m2")
    finding_suffix = "egfr"

    def _assess(self, features: FeatureSet) -> Finding:
        creatinine, creatinine_missing = positive_number(features, "creatinine_mgdl")
        cystatin, cystatin_missing = positive_number(features, "cystatin_c_mgl")
        sex, sex_missing = sex_of(features)
        age, age_missing = age_of(features)
        usable = [ev for ev in (creatinine, cystatin, age, sex) if ev is not None]

        minimum_age = coefficients()["minimum_age_years"]
        if age is not None and age.value < minimum_age:
            return self.not_applicable(
                features, usable,
                message=(f"Age {age.value:g} years: the CKD-EPI 2021 equations are validated for adults "
                         f"({minimum_age} years and over); use a paediatric equation (e.g. CKiD U25) instead."))

        if features.get("cystatin_c_mgl") is None and not self._confirmation_action(features, creatinine, age, sex,
                                                                                   cystatin):
            # A confirmatory test (KDIGO 2012 rec. 1.4.3.5): asked for only where KDIGO suggests it, eGFRcr 45-59
            # without albuminuria; otherwise the missing cystatin C is no gap in the record.
            return self.not_applicable(
                features, usable,
                message=("No cystatin C result: the creatinine-cystatin C eGFR is a confirmatory test, suggested "
                         "by KDIGO 2012 (rec. 1.4.3.5) when the creatinine eGFR is 45-59 without albuminuria."))
        missing = [m for m in (creatinine_missing, cystatin_missing, age_missing, sex_missing) if m is not None]
        if missing:
            return self.insufficient(features, usable, missing,
                                     suggestions=self._confirmation_action(features, creatinine, age, sex, cystatin))

        result = ckd_epi_2021_cr_cys_detail(creatinine_mgdl=creatinine.value, cystatin_c_mgl=cystatin.value,
                                            age_years=age.value, sex=sex.value)
        egfr_cr, egfr_cr_label = creatinine_egfr(features, creatinine, age, sex)
        category = kdigo_g_category(result.egfr_mlmin173m2)
        assumptions = [
            "Creatinine assumed IDMS-traceable and cystatin C standardised to the IFCC reference material "
            "(ERM-DA471/IFCC), as the equation requires.",
            "Assumes stable kidney function; cystatin C is also affected by thyroid disease, high-dose "
            "corticosteroids, inflammation and obesity.",
            "The G category describes this estimate only; CKD needs abnormalities present for more than "
            "3 months (KDIGO 2012).",
        ]
        timing = different_days_note([creatinine, cystatin], "Creatinine and cystatin C")
        if timing:
            assumptions.append(timing + " The equation was developed on simultaneous samples.")
        return self.computed(
            features,
            value=result.egfr_mlmin173m2,
            unit="mL/min/1.73m2",
            category=category,
            thresholds=band_texts(creatinine_coefficients()["categories"]["bands"]),
            severity=G_CATEGORY_SEVERITY[category],
            inputs=tuple(usable),
            assumptions=tuple(assumptions),
            explanation=result.terms,
            measures=(Measure(egfr_cr_label, egfr_cr, "mL/min/1.73m2", kdigo_g_category(egfr_cr)),),
            method=("eGFR = 135 x min(Scr/k, 1)^a x max(Scr/k, 1)^-0.544 x min(Scys/0.8, 1)^-0.323 x "
                    "max(Scys/0.8, 1)^-0.778 x 0.9961^age x 0.963 [female]; category from eGFR rounded to a "
                    "whole number."),
        )

    @staticmethod
    def _confirmation_action(features, creatinine, age, sex, cystatin) -> tuple:
        """Suggest cystatin C only where KDIGO 2012 does: eGFRcr 45-59 without albuminuria."""
        if cystatin is not None or creatinine is None or age is None or sex is None:
            return ()
        if age.value < coefficients()["minimum_age_years"]:
            return ()
        egfr_cr, _ = creatinine_egfr(features, creatinine, age, sex)
        uacr = features.get("uacr_mgg")
        uacr_value = uacr.value if uacr is not None and is_finite_number(uacr.value) else None
        if not cystatin_c_confirmation_indicated(egfr_cr, uacr_value):
            return ()
        return (cystatin_c_action(
            f"Creatinine-based eGFR {round_half_up(egfr_cr):g} mL/min/1.73m2 (G3a) without albuminuria: KDIGO "
            "2012 suggests cystatin C to confirm or refute CKD (eGFRcr-cys)."),)


def creatinine_egfr(features: FeatureSet, creatinine, age, sex) -> tuple[float, str]:
    """The creatinine-based eGFR to show beside eGFRcr-cys: the record's eGFR, the one every card uses (lab-reported,
    or CKD-EPI 2021 derived by the adapter), else CKD-EPI 2021 from this creatinine."""
    egfr = features.get("egfr_mlmin173m2")
    if egfr is not None and is_finite_number(egfr.value) and egfr.value > 0:
        return egfr.value, ("eGFR from creatinine alone (CKD-EPI 2021)" if egfr.derived_from
                            else "eGFR from creatinine (lab-reported)")
    return (ckd_epi_2021_creatinine(creatinine_mgdl=creatinine.value, age_years=age.value, sex=sex.value),
            "eGFR from creatinine alone (CKD-EPI 2021)")
