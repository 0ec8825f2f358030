"""FIB-4 index (Sterling 2006, Hepatology 43:1317) with NAFLD cut-offs (Shah 2009; McPherson 2017).

FIB-4 = age x AST / (platelets x sqrt(ALT)); < 1.30 low (< 2.0 from age 65), > 2.67 high, between them
indeterminate. Not interpreted at age 35 or younger (McPherson 2017): the engine then gives no number
(not applicable), because an uninterpretable value invites interpretation.
Cut-offs: ``engine/data/fib4.json``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from engine.base import SingleFindingEngine
from engine.calculators.common import (
    age_of,
    different_days_note,
    is_finite_number,
    load_data,
    positive_number,
    read_features,
    round_half_up,
)
from engine.finding import Citation, Finding, Kind, Severity, Term
from engine.inputs import FeatureSet, feature_label
from engine.registry import calculator

DATA_FILE = "fib4.json"
LAB_FEATURES = ("ast_ul", "alt_ul", "platelets_10e9l")


def coefficients() -> dict:
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class Fib4Result:
    fib4: float
    terms: tuple[Term, ...]  # multiplicative factors; contributions are ln(factor) and sum to ln(FIB-4)


def fib4_detail(*, age_years: float, ast_ul: float, alt_ul: float, platelets_10e9l: float) -> Fib4Result:
    """FIB-4 with its factors. Raises ValueError on non-positive input (the age limit is the caller's)."""
    for name, value in (("age_years", age_years), ("ast_ul", ast_ul), ("alt_ul", alt_ul),
                        ("platelets_10e9l", platelets_10e9l)):
        if not is_finite_number(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number")
    factors = (("Age (years)", age_years), ("AST (U/L)", ast_ul), ("1 / platelets (10^9/L)", 1.0 / platelets_10e9l),
               ("1 / sqrt(ALT (U/L))", 1.0 / math.sqrt(alt_ul)))
    value = age_years * ast_ul / (platelets_10e9l * math.sqrt(alt_ul))
    return Fib4Result(value, tuple(Term(label, factor, math.log(factor)) for label, factor in factors))


def fib4(*, age_years: float, ast_ul: float, alt_ul: float, platelets_10e9l: float) -> float:
    return fib4_detail(age_years=age_years, ast_ul=ast_ul, alt_ul=alt_ul, platelets_10e9l=platelets_10e9l).fib4


def lower_cutoff(age_years: float) -> float:
    cut = coefficients()["cutoffs"]
    return cut["low_below_from_age_65"] if age_years >= cut["older_from_years"] else cut["low_below"]


def fib4_category(fib4_value: float, age_years: float) -> str:
    """'low', 'indeterminate' or 'high' for a FIB-4 compared at 2 decimals (1.295 -> 1.30 -> indeterminate)."""
    cut = coefficients()["cutoffs"]
    reported = round_half_up(fib4_value, 2)
    if reported < lower_cutoff(age_years):
        return "low"
    if reported > cut["high_above"]:
        return "high"
    return "indeterminate"


_SEVERITY = {"low": Severity.INFO, "indeterminate": Severity.INFO, "high": Severity.WARNING}
_MEANING = {"low": "advanced fibrosis unlikely",
            "indeterminate": "advanced fibrosis neither excluded nor likely: a second-line test (e.g. vibration-"
                             "controlled transient elastography or ELF) is usually advised",
            "high": "advanced fibrosis likely: specialist assessment is usually advised"}


# Raised aminotransferases: ALT above the ACG 2017 healthy upper limits (Kwo PY et al. Am J Gastroenterol
# 2017;112:18-35: 33 U/L in men, 25 U/L in women; 33 when sex is unknown), AST above 40 U/L (a usual laboratory upper
# reference limit; project choice, as ACG gives none for AST).
ALT_UPPER_LIMIT = {"male": 33.0, "female": 25.0}
AST_UPPER_LIMIT = 40.0


def fibrosis_assessment_indication(features: FeatureSet) -> str | None:
    """Why FIB-4 is indicated for this patient, or None. AASLD 2023 MASLD practice guidance (Rinella ME et al.
    Hepatology 2023;77:1797-1835) and the EASL-EASD-EASO 2024 MASLD guideline advise a fibrosis assessment, FIB-4
    first, in people at risk: known chronic liver disease, harmful alcohol use, type 2 diabetes (also ADA Standards of
    Care 2024, rec. 4.10) and raised aminotransferases - not in the general population."""
    for name, why in (("liver_disease", "chronic liver disease on the problem list"),
                      ("alcohol_excess", "alcohol excess recorded"),
                      ("diabetes", "diabetes on the problem list")):
        if features.value(name) is True:
            return why
    alt_limit = ALT_UPPER_LIMIT.get(features.value("sex"), ALT_UPPER_LIMIT["male"])
    for name, limit in (("alt_ul", alt_limit), ("ast_ul", AST_UPPER_LIMIT)):
        value = features.value(name)
        if is_finite_number(value) and value > limit:
            return f"{feature_label(name)} {value:.0f} U/L, above {limit:g} U/L"
    return None


@calculator
class Fib4(SingleFindingEngine):
    id = "fib-4"
    version = "1.0.0"
    title = "Liver fibrosis risk (FIB-4)"
    kind = Kind.RISK
    citation = Citation(
        short="Sterling 2006 (FIB-4); Shah 2009, McPherson 2017 (cut-offs)",
        full=("Sterling RK, Lissen E, Clumeck N, et al. Development of a simple noninvasive index to predict "
              "significant fibrosis in patients with HIV/HCV coinfection. Hepatology. 2006;43(6):1317-1325. "
              "Shah AG, et al. Clin Gastroenterol Hepatol. 2009;7(10):1104-1112. McPherson S, et al. Am J "
              "Gastroenterol. 2017;112(5):740-751."),
        url="https://doi.org/10.1002/hep.21178",
        doi="10.1002/hep.21178",
        topic="Chronic liver disease: fibrosis risk",
    )
    requires = ("age_years",) + LAB_FEATURES
    optional = ("sex", "liver_disease", "alcohol_excess", "diabetes")
    finding_suffix = "score"

    def _assess(self, features: FeatureSet) -> Finding:
        age, age_missing = age_of(features)
        labs, lab_missing = read_features(features, LAB_FEATURES, positive_number)
        missing = ([age_missing] if age_missing else []) + lab_missing
        usable = ([age] if age is not None else []) + list(labs.values())

        minimum_age = coefficients()["applicability"]["minimum_age_years"]
        if age is not None and age.value < minimum_age:
            return self.not_applicable(
                features, usable,
                message=(f"Age {age.value:g} years: FIB-4 is not interpreted below {minimum_age} years (McPherson "
                         "2017); use elastography or specialist assessment if fibrosis is suspected."))
        indication = fibrosis_assessment_indication(features)
        if indication is None:
            return self.not_applicable(
                features, usable,
                message=("No indication for a liver fibrosis assessment is recorded (chronic liver disease, alcohol "
                         "excess, diabetes, or a raised ALT/AST): FIB-4 is for people at risk (AASLD 2023; "
                         "EASL-EASD-EASO 2024), not for everyone."))
        if missing:
            return self.insufficient(features, usable, missing)

        result = fib4_detail(age_years=age.value, ast_ul=labs["ast_ul"].value, alt_ul=labs["alt_ul"].value,
                             platelets_10e9l=labs["platelets_10e9l"].value)
        category = fib4_category(result.fib4, age.value)
        low = lower_cutoff(age.value)
        assumptions = [
            f"Indication: {indication}.",
            "Cut-offs are those validated for NAFLD/MASLD (Shah 2009; McPherson 2017); in viral hepatitis other "
            "cut-offs apply (Sterling 2006: <1.45 / >3.25).",
            "Acute liver injury, a recent raised AST/ALT from another cause, or thrombocytopenia from another cause "
            "make FIB-4 unreliable.",
        ]
        if low != coefficients()["cutoffs"]["low_below"]:
            assumptions.append(f"Age {age.value:g}: lower cut-off {low:g} (McPherson 2017), which keeps specificity "
                               "in older people.")
        timing = different_days_note(labs.values(), "AST, ALT and platelets")
        if timing:
            assumptions.append(timing)
        return self.computed(
            features,
            value=result.fib4,
            decimals=2,  # the Shah 2009 / McPherson 2017 cut-offs have two decimals
            category=category,
            thresholds=tuple(coefficients()["cutoffs"]["text"]),
            severity=_SEVERITY[category],
            inputs=tuple(usable),
            assumptions=tuple(assumptions),
            explanation=result.terms,
            message=f"FIB-4 {round_half_up(result.fib4, 2):.2f}: {_MEANING[category]}.",
            method=(f"FIB-4 = age x AST / (platelets x sqrt(ALT)); compared at 2 decimals with <{low:g} low and "
                    ">2.67 high."),
        )
