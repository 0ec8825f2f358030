"""KDIGO 2012 CKD staging: GFR (G1-G5) and albuminuria (A1-A3) categories and the prognosis heat map.

The heat map (KDIGO 2012, Kidney Int Suppl 2013;3:1-150) ranks the risk of adverse outcomes as low,
moderately increased, high or very high from the G and A categories together. Bands and the map are
data (``engine/data/kdigo_2012_ckd.json``); the G bands are shared with the creatinine equation.

eGFR: the creatinine-cystatin C estimate when both markers are usable (more accurate, KDIGO 2012
rec. 1.4.3.5), otherwise the record's eGFR feature (reported, or derived by the adapter from creatinine) - the one
eGFR every card shows; when cystatin C decides the stage, that eGFR is shown beside it.

Staging classifies CKD once CKD is present (KDIGO 2024 definition: abnormalities of kidney structure or function for
> 3 months). A reduced eGFR (G3a-G5) or albuminuria (A2-A3) is staged only when CKD is established - a CKD entry on the
problem list, or eGFR < 60 / UACR >= 30 mg/g persisting > 90 days as the CKD diagnosis detector reads them
(``engine.detectors.ckd.ckd_establishment``). Otherwise no stage or heat-map risk is presented: the finding (explainer
only) gives the eGFR and albuminuria categories of the results, says they are not CKD staging, and which results fall
short with their dates; the diagnosis-gaps card ("needs > 90 days") asks for the repeat tests.
"""
from __future__ import annotations

from dataclasses import dataclass

import re

from engine.base import SingleFindingEngine
from engine.calculators.ckd_epi import coefficients as creatinine_coefficients
from engine.calculators.ckd_epi import kdigo_g_category
from engine.calculators.ckd_epi_cr_cys import ckd_epi_2021_cr_cys
from engine.calculators.ckd_epi_cr_cys import coefficients as cr_cys_coefficients
from engine.calculators.common import (
    band_texts,
    ckd_testing_indication,
    creatinine_action,
    is_finite_number,
    load_data,
    positive_number,
    sex_of,
    uacr_action,
)
from engine.feature_catalog import display_value
from engine.finding import Citation, Details, Evidence, Finding, Kind, Measure, MissingInput, Severity
from engine.inputs import FeatureSet, feature_label, feature_unit
from engine.registry import calculator

DATA_FILE = "kdigo_2012_ckd.json"
G_CATEGORIES = ("G1", "G2", "G3a", "G3b", "G4", "G5")
A_CATEGORIES = ("A1", "A2", "A3")
REDUCED_GFR = ("G3a", "G3b", "G4", "G5")


def coefficients() -> dict:
    return load_data(DATA_FILE)


def albuminuria_category(uacr_mgg: float) -> str:
    """KDIGO A category of a urine albumin-to-creatinine ratio in mg/g (A3 from 300 mg/g, KDIGO 2024 wording)."""
    if not is_finite_number(uacr_mgg) or uacr_mgg < 0:
        raise ValueError("uacr_mgg must be a non-negative number")
    category = "A1"
    for band in coefficients()["albuminuria"]["bands"]:
        if band["min_mgg"] is None or uacr_mgg >= band["min_mgg"]:
            category = band["name"]
    return category


def heat_map_risk(g_category: str, a_category: str) -> str:
    """KDIGO heat-map risk: 'low', 'moderately increased', 'high' or 'very high'."""
    try:
        return coefficients()["heat_map"][g_category][a_category]
    except KeyError:
        raise ValueError(f"unknown KDIGO category pair {g_category!r}/{a_category!r}") from None


def heat_map_risk_without_albuminuria(g_category: str) -> str | None:
    """The risk when every A category gives the same answer (G4, G5: very high), else None."""
    risks = {heat_map_risk(g_category, a) for a in A_CATEGORIES}
    return risks.pop() if len(risks) == 1 else None


def thresholds() -> tuple[str, ...]:
    return band_texts(creatinine_coefficients()["categories"]["bands"]) + band_texts(
        coefficients()["albuminuria"]["bands"])


# Heat-map colours as card indicators; G5 (kidney failure) is critical as in the eGFR calculators.
_SEVERITY = {"low": Severity.INFO, "moderately increased": Severity.WARNING, "high": Severity.WARNING,
             "very high": Severity.WARNING}


@dataclass(frozen=True)
class KdigoDetails(Details):
    g_category: str | None  # G1..G5; None without a usable eGFR
    a_category: str | None  # A1..A3; None without a usable UACR
    egfr_method: str | None  # which eGFR was used (lab-reported, CKD-EPI 2021 creatinine, creatinine-cystatin C)


@calculator
class KdigoCkdStage(SingleFindingEngine):
    id = "kdigo-2012-ckd-stage"
    version = "1.0.0"
    title = "CKD stage and risk (KDIGO 2012 GFR and albuminuria categories)"
    kind = Kind.RISK
    citation = Citation(
        short="KDIGO 2012 (CKD classification and prognosis)",
        full=("Kidney Disease: Improving Global Outcomes (KDIGO) CKD Work Group. KDIGO 2012 Clinical Practice "
              "Guideline for the Evaluation and Management of Chronic Kidney Disease. Kidney Int Suppl. "
              "2013;3(1):1-150. Confirmed in the KDIGO 2024 CKD guideline, Kidney Int. 2024;105(4S):S117-S314, "
              "with the definition of CKD: abnormalities of kidney structure or function present for > 3 months."),
        url="https://kdigo.org/guidelines/ckd-evaluation-and-management/",
        topic="Chronic kidney disease: GFR estimation and staging",
    )
    requires = ("egfr_mlmin173m2", "uacr_mgg")
    optional = ("creatinine_mgdl", "cystatin_c_mgl", "age_years", "sex", "diabetes", "hypertension",
                "chronic_kidney_disease", "dialysis_or_transplant")
    finding_suffix = "risk"

    def _assess(self, features: FeatureSet) -> Finding:
        egfr, egfr_inputs, egfr_missing, egfr_method = self._egfr(features)
        uacr, uacr_missing = self._uacr(features)
        inputs = egfr_inputs + ([uacr] if uacr is not None else [])
        g_category = kdigo_g_category(egfr.value) if egfr is not None else None
        a_category = albuminuria_category(uacr.value) if uacr is not None else None
        details = KdigoDetails(g_category=g_category, a_category=a_category, egfr_method=egfr_method)
        measures = self._measures(egfr, g_category, uacr, a_category) + self._record_egfr_measure(features, egfr)
        actions = self._actions(features, g_category, a_category, uacr is None, egfr is None)
        ckd = None
        if g_category in REDUCED_GFR or a_category in ("A2", "A3"):
            from engine.detectors.ckd import ckd_establishment  # the detector imports this module's categories

            ckd = ckd_establishment(features)
            if ckd.replacement is not None:
                return self._replacement(features, ckd.replacement, inputs, measures, details)
            if not ckd.established:
                return self._not_staged(features, ckd, inputs, measures, details)

        if g_category is not None and a_category is not None:
            risk = heat_map_risk(g_category, a_category)
            return self._computed(features, f"{g_category} {a_category}", risk, g_category, inputs, measures,
                                  (), (), details, actions, ckd)
        if g_category is not None and heat_map_risk_without_albuminuria(g_category) is not None:
            risk = heat_map_risk_without_albuminuria(g_category)
            assumption = (f"Albuminuria not known: the KDIGO heat map is '{risk}' for {g_category} whatever the "
                          "A category; UACR still refines prognosis and the Kidney Failure Risk Equation needs it.")
            return self._computed(features, g_category, risk, g_category, inputs, measures, (uacr_missing,),
                                  (assumption,), details, actions, ckd)

        missing = [m for m in (egfr_missing, uacr_missing) if m is not None]
        known = []
        if g_category is not None:
            known.append(f"eGFR {display_value('egfr_mlmin173m2', egfr.value)} mL/min/1.73m2 is {g_category}")
        if a_category is not None:
            known.append(f"UACR {display_value('uacr_mgg', uacr.value)} mg/g is {a_category}")
        labels = ", ".join(m.label for m in missing)
        if not actions:
            # KDIGO 2024 (rec. 1.1.1.1) and the ADA Standards test for CKD in people at risk - diabetes, hypertension
            # - or with a reduced eGFR; otherwise a missing UACR or eGFR is no gap to fill.
            return self.not_applicable(
                features, inputs,
                message=(f"Not staged: no {labels}. Testing for CKD is indicated in diabetes, hypertension, known "
                         "CKD or an eGFR below 60 (KDIGO 2024, rec. 1.1.1.1), none of which is recorded."),
                measures=measures, details=details)
        message = f"Cannot place on the KDIGO heat map: missing {labels}."
        if known:
            message += " Known: " + "; ".join(known) + "."
        return self.insufficient(features, inputs, missing, message=message, measures=measures, suggestions=actions,
                                 details=details)

    def _replacement(self, features, replacement, inputs, measures, details) -> Finding:
        """Dialysis or a kidney transplant (whose status codes also document CKD): the categories, named as such, and
        no stage or heat-map risk, as the KFRE and the diabetes-in-CKD rule leave kidney replacement therapy out."""
        return self.not_applicable(
            features, [*inputs, *(ev for ev in (replacement.evidence,) if ev is not None and ev not in inputs)],
            message=(f"{_categories(details)} (not CKD staging). {replacement.words} is recorded: no KDIGO stage or "
                     "heat-map risk is given for kidney replacement therapy (on dialysis the eGFR does not measure "
                     "kidney function), as the KFRE (validated without dialysis or transplant recipients, Tangri "
                     "2016) and the diabetes-in-CKD rule (KDIGO 2022) leave it out."),
            measures=measures, details=details)

    def _not_staged(self, features, ckd, inputs, measures, details) -> Finding:
        """A reduced eGFR or albuminuria without established CKD: its categories, named as such, and why it is not CKD
        staging; no heat-map risk (the heat map is the prognosis of CKD)."""
        from engine.detectors.ckd import ACR_MARKER, EGFR_MARKER, KDIGO_DURATION, PERSISTENCE_DAYS, shortfall

        named = _categories(details)
        said = shortfall(ckd.markers) or f"the results are not shown to persist > {PERSISTENCE_DAYS} days"
        seen = {id(ev) for ev in inputs}
        return self.not_applicable(
            features, [*inputs, *(ev for ev in ckd.evidence() if id(ev) not in seen)],
            message=(f"{named} (not CKD staging: CKD needs {KDIGO_DURATION}' persistence). CKD not "
                     f"established: {said}. KDIGO stages CKD once it is present (KDIGO 2024 definition: {EGFR_MARKER} "
                     f"or {ACR_MARKER} for {KDIGO_DURATION}); repeat the eGFR and UACR after 3 months."),
            measures=measures, details=details)

    def _computed(self, features, value, risk, g_category, inputs, measures, missing, assumptions, details, actions,
                  ckd):
        from engine.detectors.ckd import CkdGap  # the detector imports this module's categories
        from engine.detectors.common import concept

        # Only a gap at this same stage: one staged from other results (e.g. a creatinine eGFR where this card uses
        # creatinine-cystatin C) keeps this card.
        same_stage = re.compile(rf"(^|\W){re.escape(value)}(\W|$)")
        gap = [f for f in CkdGap().evaluate(features)
               if f.computed and same_stage.search(f"{f.value} {f.category}")]
        if gap:
            # One card per condition across services: the diagnosis-gaps card for this CKD carries the G/A stage and
            # the heat-map risk, and offers the problem-list entry; a second staging card would repeat it.
            return self.not_applicable(
                features, inputs,
                message=(f"{value} ({risk} risk): shown on the chronic kidney disease diagnosis card "
                         f"({gap[0].title.lower()}), which offers the problem-list entry."),
                measures=measures, details=details)
        if risk == "low":
            # G1-G2 with A1 meets no CKD criterion by itself (KDIGO 2012: CKD needs GFR < 60 or markers of kidney
            # damage such as albuminuria >= 30 mg/g): the staging stays on the explainer page, not on a card.
            return self.not_applicable(
                features, inputs,
                message=(f"{value} (low risk): no criterion of CKD (GFR < 60 or albuminuria >= 30 mg/g); G1-G2 with "
                         "A1 is CKD only if other markers of kidney damage exist (KDIGO 2012)."),
                measures=measures, details=details)
        severity = Severity.CRITICAL if g_category == "G5" else _SEVERITY[risk]
        notes = list(assumptions)
        if ckd is not None:
            notes.append(f"CKD established: {ckd.basis()}.")
        return self.computed(
            features,
            # About CKD: one card with the KFRE of the same service (cards.render merges findings about one condition).
            condition=concept("chronic-kidney-disease").ref(),
            value=value,
            category=risk,
            thresholds=thresholds(),
            severity=severity,
            inputs=tuple(inputs),
            missing=tuple(missing),
            assumptions=tuple(notes),
            measures=measures,
            suggestions=actions,
            method=(f"{details.egfr_method}; G category from eGFR rounded to a whole number, A category from "
                    "UACR in mg/g; risk from the KDIGO 2012 heat map."),
            details=details,
        )

    @staticmethod
    def _egfr(features: FeatureSet) -> tuple[Evidence | None, list[Evidence], MissingInput | None, str]:
        """The eGFR to stage with, the evidence behind it, or why there is none."""
        creatinine, _ = positive_number(features, "creatinine_mgdl")
        cystatin, _ = positive_number(features, "cystatin_c_mgl")
        sex, _ = sex_of(features)
        age = features.get("age_years")
        if (creatinine is not None and cystatin is not None and sex is not None and age is not None
                and is_finite_number(age.value) and age.value >= cr_cys_coefficients()["minimum_age_years"]):
            value = ckd_epi_2021_cr_cys(creatinine_mgdl=creatinine.value, cystatin_c_mgl=cystatin.value,
                                        age_years=age.value, sex=sex.value)
            derived = Evidence(name="egfr_mlmin173m2", label="eGFR (CKD-EPI 2021 creatinine-cystatin C)",
                               value=value, unit=feature_unit("egfr_mlmin173m2"), effective=cystatin.effective,
                               derived_from=(creatinine, cystatin, age, sex), note="CKD-EPI 2021 creatinine-cystatin C")
            return derived, [derived], None, "eGFR from creatinine and cystatin C (CKD-EPI 2021)"
        egfr, missing = positive_number(features, "egfr_mlmin173m2")
        if egfr is None:
            return None, [], missing, "eGFR not available"
        return egfr, [egfr], None, "eGFR as recorded or derived from creatinine"

    @staticmethod
    def _record_egfr_measure(features: FeatureSet, staged_with: Evidence | None) -> tuple[Measure, ...]:
        """When staging used eGFRcr-cys, the record's creatinine-based eGFR beside it: the eGFR every other card
        shows (one eGFR per patient; eGFRcr-cys is a second, named estimate)."""
        egfr, _ = positive_number(features, "egfr_mlmin173m2")
        if egfr is None or staged_with is None or staged_with is egfr:
            return ()
        label = "eGFR from creatinine (CKD-EPI 2021)" if egfr.derived_from else "eGFR from creatinine (lab-reported)"
        return (Measure(label, egfr.value, "mL/min/1.73m2", kdigo_g_category(egfr.value)),)

    @staticmethod
    def _uacr(features: FeatureSet) -> tuple[Evidence | None, MissingInput | None]:
        uacr = features.get("uacr_mgg")
        if uacr is None:
            return None, features.missing_reason("uacr_mgg")
        if not (is_finite_number(uacr.value) and uacr.value >= 0):
            return None, MissingInput("uacr_mgg", uacr.label, "recorded value is not a non-negative number in mg/g")
        return uacr, None

    @staticmethod
    def _measures(egfr, g_category, uacr, a_category) -> tuple[Measure, ...]:
        measures = []
        if egfr is not None:
            measures.append(Measure(egfr.label, egfr.value, "mL/min/1.73m2", g_category))
        if uacr is not None:
            measures.append(Measure(feature_label("uacr_mgg"), uacr.value, "mg/g", a_category))
        return tuple(measures)

    @staticmethod
    def _actions(features: FeatureSet, g_category, a_category, uacr_missing: bool, egfr_missing: bool) -> tuple:
        at_risk = ckd_testing_indication(features) is not None
        actions = []
        if uacr_missing and (at_risk or g_category in REDUCED_GFR):
            actions.append(uacr_action("Albuminuria (A category) is needed to stage CKD and grade its risk "
                                       "(KDIGO 2012); UACR is recommended at least yearly in diabetes, "
                                       "hypertension and CKD."))
        if egfr_missing and (at_risk or a_category in ("A2", "A3")):
            actions.append(creatinine_action("An eGFR is needed to stage CKD (KDIGO 2012 GFR category)."))
        return tuple(actions)


def _categories(details: KdigoDetails) -> str:
    """'eGFR category G3a and albuminuria category A2': the categories of results that are not CKD staging."""
    return " and ".join(f"{what} category {category}" for what, category in (
        ("eGFR", details.g_category), ("Albuminuria" if details.g_category is None else "albuminuria",
                                       details.a_category)) if category)
