"""CKD-EPI 2021 race-free creatinine equation (Inker LA et al., NEJM 2021;385:1737-1749).

eGFRcr = 142 x min(Scr/k, 1)^a x max(Scr/k, 1)^-1.200 x 0.9938^age x 1.012 [female]
with k = 0.7 (female) / 0.9 (male) and a = -0.241 (female) / -0.302 (male).

The constants live in ``engine/data/ckd_epi_2021.json`` with their provenance; the KDIGO 2012
G categories come from the same file. ``ckd_epi_2021_creatinine`` is the function the FHIR adapter
imports to derive eGFR, so its signature is a contract: keyword-only, returns a float.

One eGFR per patient: the card shows the record's eGFR feature, the value every other engine uses (PREVENT, KFRE,
KDIGO staging, the CKD detector). When the laboratory reported it, the card says so and shows CKD-EPI 2021 from the
same-day creatinine as a comparison. When the two differ materially (``reported_egfr_discordant``; the threshold and
why are in the data file) the adapter uses the CKD-EPI 2021 recomputation instead - race-free, the equation the
NKF-ASN Task Force (Delgado 2021) recommends, reproducible from the measured creatinine - and this card's first
line after the result names both values and why (``discordance_text``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.base import SingleFindingEngine
from engine.calculators.common import (
    SEXES,
    band_texts,
    ckd_testing_features,
    ckd_testing_indication,
    day_of,
    is_finite_number,
    load_data,
)
from engine.feature_catalog import display_value
from engine.finding import Citation, Details, Evidence, Finding, Kind, MissingInput, Severity, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "ckd_epi_2021.json"
# KDIGO 2012 A2 (moderately increased albuminuria) starts here: a marker of kidney damage, so CKD at any GFR.
_ALBUMINURIA_FROM_MGG = next(band["min_mgg"] for band in load_data("kdigo_2012_ckd.json")["albuminuria"]["bands"]
                             if band["name"] == "A2")


def coefficients() -> dict[str, Any]:
    """Constants of Inker 2021 and the KDIGO 2012 bands (read-only package data, loaded once)."""
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class CkdEpiResult:
    egfr_mlmin173m2: float
    kappa_mgdl: float
    alpha: float
    # Multiplicative factors; each term's contribution is ln(factor), so the contributions sum to
    # ln(eGFR) - the "linear predictor" of a multiplicative equation.
    terms: tuple[Term, ...]


def _checked_inputs(creatinine_mgdl: float, age_years: float, sex: str) -> dict[str, Any]:
    """The constants for ``sex``, after the checks of :func:`ckd_epi_2021_creatinine_detail` (ValueError)."""
    data = coefficients()
    if sex not in SEXES:
        raise ValueError("sex must be 'female' or 'male'")
    if not is_finite_number(creatinine_mgdl) or creatinine_mgdl <= 0:
        raise ValueError("creatinine must be a positive number (mg/dL)")
    if not is_finite_number(age_years) or age_years < data["minimum_age_years"]:
        raise ValueError("the CKD-EPI 2021 equation is for adults (age >= 18 years)")
    return data


def _factor_values(data: dict[str, Any], creatinine_mgdl: float, age_years: float, sex: str) -> tuple[float, ...]:
    """The five multiplicative factors, in the equation's order (their product is the eGFR)."""
    by_sex = data["by_sex"][sex]
    ratio = creatinine_mgdl / by_sex["kappa_mgdl"]
    return (data["constant"], min(ratio, 1.0) ** by_sex["alpha"], max(ratio, 1.0) ** data["exponent_above_kappa"],
            data["age_base_per_year"] ** age_years, by_sex["sex_factor"])


def ckd_epi_2021_creatinine_detail(*, creatinine_mgdl: float, age_years: float, sex: str) -> CkdEpiResult:
    """eGFR with its factors. Raises ValueError on non-positive creatinine, age < 18 or unknown sex."""
    data = _checked_inputs(creatinine_mgdl, age_years, sex)
    by_sex = data["by_sex"][sex]
    kappa, alpha = by_sex["kappa_mgdl"], by_sex["alpha"]
    labels = ("Constant", f"min(Scr/{kappa}, 1)^{alpha}", f"max(Scr/{kappa}, 1)^{data['exponent_above_kappa']}",
              f"{data['age_base_per_year']}^age", "Sex factor (1.012 if female)")
    values = _factor_values(data, creatinine_mgdl, age_years, sex)
    egfr = math.prod(values)
    terms = tuple(Term(label, value, math.log(value)) for label, value in zip(labels, values))
    return CkdEpiResult(egfr_mlmin173m2=egfr, kappa_mgdl=kappa, alpha=alpha, terms=terms)


def ckd_epi_2021_creatinine(*, creatinine_mgdl: float, age_years: float, sex: str) -> float:
    """eGFR in mL/min/1.73m2 (CKD-EPI 2021, race-free). Raises ValueError on invalid input.

    The same product as :func:`ckd_epi_2021_creatinine_detail` without the labelled terms: the adapter derives an
    eGFR for every creatinine of the history, and the labels and logarithms cost most of the time."""
    data = _checked_inputs(creatinine_mgdl, age_years, sex)
    return math.prod(_factor_values(data, creatinine_mgdl, age_years, sex))


def kdigo_g_category(egfr_mlmin173m2: float) -> str:
    """KDIGO 2012 GFR category, compared unrounded (59.9 is G3a): the one staging rule shared by the eGFR
    calculators, the KDIGO heat map, the KFRE and the CKD detector, so no two cards disagree at a band edge."""
    for band in coefficients()["categories"]["bands"]:
        if band["min"] is None or egfr_mlmin173m2 >= band["min"]:
            return band["name"]
    raise AssertionError("the last KDIGO band is open-ended")  # pragma: no cover


def reported_egfr_discordant(reported: float, recomputed: float) -> bool:
    """Whether a lab-reported eGFR differs materially from CKD-EPI 2021 recomputed from the same-day creatinine:
    by more than ``max_relative_difference`` (10 %) of the recomputed value."""
    limit = coefficients()["reported_egfr_comparison"]["max_relative_difference"]
    return abs(reported - recomputed) > limit * recomputed


def _egfr_text(value: float) -> str:
    """An eGFR as laboratories report it and every card shows it: a whole number (feature display precision)."""
    return display_value("egfr_mlmin173m2", value)


def discordance_text(reported: float, recomputed: float, creatinine_mgdl: float) -> str:
    """What a card says when the lab-reported eGFR and the same-day CKD-EPI 2021 value differ materially: one
    sentence, short enough for one card line (never clipped), naming both values and why the recomputation is used."""
    limit = coefficients()["reported_egfr_comparison"]["max_relative_difference"]
    return (f"Lab-reported eGFR {_egfr_text(reported)} vs CKD-EPI 2021 {_egfr_text(recomputed)} "
            f"({kdigo_g_category(recomputed)}) from the same-day creatinine "
            f"{display_value('creatinine_mgdl', creatinine_mgdl)} mg/dL differ by over {limit * 100:g} %; "
            "CKD-EPI 2021 is used: the lab value may be from an older race-based or different equation, "
            "or a data error.")


# Severity per G category: G1-G2 are information; G3a-G4 call for attention; G5 is kidney failure.
_SEVERITY_ORDER = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)
G_CATEGORY_SEVERITY = {"G1": Severity.INFO, "G2": Severity.INFO, "G3a": Severity.WARNING, "G3b": Severity.WARNING,
             "G4": Severity.WARNING, "G5": Severity.CRITICAL}


@dataclass(frozen=True)
class DiscordantEgfrDetails(Details):
    """CKD-EPI 2021 from the measured creatinine, used instead of a same-day lab-reported eGFR that differs from it
    materially (docs/calculators.md, "One eGFR per patient")."""

    lab_reported: float
    ckd_epi_2021: float


@dataclass(frozen=True)
class ReportedEgfrDetails(Details):
    """A lab-reported eGFR is used as is; CKD-EPI 2021 from the same-day creatinine is kept for comparison."""

    egfr_source: str  # "lab-reported"
    comparison_ckd_epi_2021: float | None  # None without a same-day creatinine


@calculator
class CkdEpi2021Creatinine(SingleFindingEngine):
    id = "ckd-epi-2021-cr"
    version = "1.0.0"
    title = "eGFR (CKD-EPI 2021 creatinine, race-free)"
    kind = Kind.DIAGNOSIS
    citation = Citation(
        short="Inker 2021 (CKD-EPI 2021)",
        full=(
            "Inker LA, Eneanya ND, Coresh J, et al. New Creatinine- and Cystatin C-Based Equations to "
            "Estimate GFR without Race. N Engl J Med. 2021;385(19):1737-1749. GFR categories: KDIGO 2012 "
            "Clinical Practice Guideline for the Evaluation and Management of CKD. Kidney Int Suppl. 2013;3:1-150."
        ),
        url="https://doi.org/10.1056/NEJMoa2102953",
        doi="10.1056/NEJMoa2102953",
        topic="Chronic kidney disease: GFR estimation and staging",
    )
    requires = ("creatinine_mgdl", "age_years", "sex")
    # A normal eGFR is a card only with a criterion of CKD (albuminuria, CKD on the problem list, dialysis or a
    # transplant); a missing creatinine is "data needed" only where testing for CKD is indicated.
    optional = ("egfr_mlmin173m2", "uacr_mgg", "dialysis_or_transplant", *ckd_testing_features())
    finding_suffix = "egfr"

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        egfr = features.get("egfr_mlmin173m2")
        if not features.has("creatinine_mgdl") and egfr is not None and not egfr.derived_from:
            return []  # the laboratory already reported an eGFR: nothing to compute, and no creatinine to ask for
        return super().evaluate(features)

    def _assess(self, features: FeatureSet) -> Finding:
        present, missing = self.gather_usable(features, self.requires, self._unusable(features))
        egfr = features.get("egfr_mlmin173m2")
        usable_egfr = egfr is not None and is_finite_number(egfr.value) and egfr.value > 0
        lab_reported: Evidence | None = None
        if usable_egfr and not egfr.derived_from:
            if not self._discordant_same_day(features, egfr, missing):
                return self._lab_reported(features, egfr, present, missing)
            # The adapter uses CKD-EPI 2021 then; a feature set that did not is held to the same policy here.
            lab_reported, usable_egfr = egfr, False
        if missing:
            if features.get("creatinine_mgdl") is None and ckd_testing_indication(features) is None:
                # No creatinine to ask for: an eGFR on its own is indicated where testing for CKD is; a score that
                # needs one (PREVENT, KFRE, KDIGO staging) names it among its own missing inputs. (A recorded but
                # unusable creatinine is still reported: the record has one to correct.)
                return self.not_applicable(
                    features, present,
                    message=("No serum creatinine to estimate GFR from. Testing for CKD is indicated in diabetes, "
                             "hypertension or known CKD (KDIGO 2024, rec. 1.1.1.1), none of which is recorded; a "
                             "score that needs an eGFR asks for it itself."))
            return self.insufficient(features, present, missing)

        creatinine = features.value("creatinine_mgdl")
        age = features.value("age_years")
        sex = features.value("sex")
        if usable_egfr:
            # The record's eGFR was derived from a creatinine at the age of that measurement: recompute from exactly
            # those inputs so that this card shows the value every other card uses.
            basis = {ev.name: ev for ev in egfr.derived_from}
            if {"creatinine_mgdl", "age_years", "sex"} <= basis.keys():
                present = [basis["creatinine_mgdl"], basis["age_years"], basis["sex"]]
                creatinine, age, sex = (ev.value for ev in present)
            # A same-day lab-reported eGFR the adapter set aside because it differs materially from this value.
            lab_reported = basis.get("egfr_mlmin173m2")
        if age < coefficients()["minimum_age_years"]:
            return self.not_applicable(
                features, present,
                message=(f"Age {age:g} years: the CKD-EPI 2021 equation is validated for adults (18 years "
                         "and over); use a paediatric equation (e.g. CKiD bedside Schwartz) instead."),
            )

        result = ckd_epi_2021_creatinine_detail(creatinine_mgdl=creatinine, age_years=age, sex=sex)
        category = kdigo_g_category(result.egfr_mlmin173m2)
        severity, message, details = G_CATEGORY_SEVERITY[category], None, None
        if lab_reported is not None:
            # Both values and why, first under the result; at least a warning, as the laboratory's number is not used.
            message = discordance_text(lab_reported.value, result.egfr_mlmin173m2, creatinine)
            severity = max(severity, Severity.WARNING, key=_SEVERITY_ORDER.index)
            details = DiscordantEgfrDetails(lab_reported=float(lab_reported.value),
                                            ckd_epi_2021=result.egfr_mlmin173m2)
        return self.computed(
            features,
            value=result.egfr_mlmin173m2,
            unit="mL/min/1.73m2",
            category=category,
            thresholds=band_texts(coefficients()["categories"]["bands"]),
            severity=severity,
            message=message,
            details=details,
            inputs=tuple(present),
            assumptions=(
                "Creatinine assumed IDMS-traceable (enzymatic or standardised Jaffe), as the equation requires.",
                "Assumes stable kidney function; eGFR is unreliable in acute kidney injury, extremes of "
                "muscle mass, amputation, pregnancy or rapidly changing creatinine.",
                "The G category describes this single eGFR; CKD needs abnormalities present for more "
                "than 3 months (KDIGO 2012).",
            ),
            explanation=result.terms,
            method=(f"eGFR = 142 x min(Scr/{result.kappa_mgdl}, 1)^{result.alpha} x max(Scr/{result.kappa_mgdl}, 1)"
                    "^-1.200 x 0.9938^age x 1.012 [female]; category from eGFR rounded to a whole number."),
            explainer_only=normal_without_ckd(features, category),
        )

    def _lab_reported(self, features: FeatureSet, egfr: Evidence, present: list[Evidence],
                      missing: list[MissingInput]) -> Finding:
        """The lab-reported eGFR, which every card uses when CKD-EPI 2021 from the same-day creatinine (shown as a
        comparison) is within 10 % of it."""
        category = kdigo_g_category(egfr.value)
        severity = G_CATEGORY_SEVERITY[category]
        assumptions, message = [], None
        creatinine = features.get("creatinine_mgdl")
        recomputed = self._recomputed(features) if not missing else None
        same_day = creatinine is not None and day_of(creatinine.effective) == day_of(egfr.effective)
        # The comparison is in the detail, not a measure: the summary shows the one eGFR only.
        if recomputed is not None and same_day:  # within 10 % (a discordant value is not used: _assess)
            limit = coefficients()["reported_egfr_comparison"]["max_relative_difference"]
            message = (f"For comparison only: CKD-EPI 2021 from the same-day creatinine "
                       f"{display_value('creatinine_mgdl', creatinine.value)} "
                       f"mg/dL gives {_egfr_text(recomputed)} ({kdigo_g_category(recomputed)}), within "
                       f"{limit * 100:g} % of the lab-reported value.")
        elif creatinine is not None and not same_day:
            assumptions.append(f"The newest creatinine ({_day_text(creatinine)}) is not from the day of the "
                               f"lab-reported eGFR ({_day_text(egfr)}); no same-day comparison.")
        assumptions += [
            "Lab-reported eGFR: the laboratory's equation is not stated in the record; the comparison uses CKD-EPI "
            "2021 (race-free), the equation the NKF-ASN Task Force (2021) recommends.",
            "The G category describes this single eGFR; CKD needs abnormalities present for more than 3 months "
            "(KDIGO 2012).",
        ]
        return self.computed(
            features,
            title="eGFR (lab-reported)",
            value=egfr.value,
            unit="mL/min/1.73m2",
            category=category,
            thresholds=band_texts(coefficients()["categories"]["bands"]),
            severity=severity,
            message=message,
            inputs=tuple([egfr] + [ev for ev in present if ev.name == "creatinine_mgdl"]),
            assumptions=tuple(assumptions),
            method=("Lab-reported eGFR, the one eGFR every card of this patient uses; CKD-EPI 2021 from the "
                    "same-day creatinine is given for comparison (within 10 %; beyond it CKD-EPI 2021 is used "
                    "instead); G category from the eGFR compared unrounded."),
            details=ReportedEgfrDetails(egfr_source="lab-reported",
                                        comparison_ckd_epi_2021=recomputed if same_day else None),
            explainer_only=normal_without_ckd(features, category),
        )

    def _discordant_same_day(self, features: FeatureSet, egfr: Evidence, missing: list[MissingInput]) -> bool:
        """Whether a lab-reported eGFR differs materially from CKD-EPI 2021 from the same-day creatinine."""
        creatinine = features.get("creatinine_mgdl")
        if missing or creatinine is None or day_of(creatinine.effective) != day_of(egfr.effective):
            return False
        recomputed = self._recomputed(features)
        return recomputed is not None and reported_egfr_discordant(egfr.value, recomputed)

    @staticmethod
    def _recomputed(features: FeatureSet) -> float | None:
        try:
            return ckd_epi_2021_creatinine(creatinine_mgdl=features.value("creatinine_mgdl"),
                                           age_years=features.value("age_years"), sex=features.value("sex"))
        except ValueError:  # e.g. under 18: no comparison
            return None

    @staticmethod
    def _unusable(features: FeatureSet) -> list[MissingInput]:
        """Present values the equation cannot use, reported as missing with the reason."""
        problems = []
        creatinine: Evidence | None = features.get("creatinine_mgdl")
        if creatinine is not None and not (is_finite_number(creatinine.value) and creatinine.value > 0):
            problems.append(MissingInput("creatinine_mgdl", creatinine.label,
                                         "recorded value is not a positive number in mg/dL"))
        age = features.get("age_years")
        if age is not None and not is_finite_number(age.value):
            problems.append(MissingInput("age_years", age.label, "recorded age is not a number"))
        sex = features.get("sex")
        if sex is not None and sex.value not in SEXES:
            problems.append(MissingInput("sex", sex.label,
                                         "the equation is sex-specific and needs sex recorded as female or male"))
        return problems


def normal_without_ckd(features: FeatureSet, g_category: str) -> bool:
    """G1-G2 and no other criterion of CKD in the record - no albuminuria (UACR >= 30 mg/g), no CKD on the problem
    list, no chronic dialysis or kidney transplant (KDIGO 2012: CKD is GFR < 60 or markers of kidney damage): a normal
    result with nothing to act on, kept for the explainer page rather than shown as a card."""
    if g_category not in ("G1", "G2"):
        return False
    uacr = features.get("uacr_mgg")
    albuminuria = uacr is not None and is_finite_number(uacr.value) and uacr.value >= _ALBUMINURIA_FROM_MGG
    known = features.value("chronic_kidney_disease") is True or features.value("dialysis_or_transplant") is True
    return not (albuminuria or known)


def _day_text(evidence: Evidence) -> str:
    day = day_of(evidence.effective)
    return day.isoformat() if day else "date unknown"
