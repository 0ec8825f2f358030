"""qSOFA (Seymour 2016, JAMA 315:762; Sepsis-3): one point each for respiratory rate >= 22/min, altered
mentation (GCS < 15) and systolic BP <= 100 mmHg; >= 2 marks suspected infection at high risk.

Only recent observations count (see ``engine.calculators.vitals``). A missing criterion makes the score
insufficient unless the criteria that are known already reach 2, which cannot be undone by the rest.
Criteria: ``engine/data/qsofa.json``.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.base import SingleFindingEngine
from engine.calculators.common import PartialScore, is_finite_number, load_data
from engine.calculators.vitals import recency_window, recent_avpu, recent_gcs, recent_number
from engine.finding import Citation, Details, Finding, Kind, Severity, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "qsofa.json"
_LABELS = {"respiratory_rate": "Respiratory rate >= 22/min", "mentation": "Altered mentation",
           "sbp": "Systolic BP <= 100 mmHg"}


def coefficients() -> dict:
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class QsofaResult:
    score: int  # criteria known to be met
    terms: tuple[Term, ...]
    unknown: tuple[str, ...]  # criteria that could not be assessed: "respiratory_rate", "mentation", "sbp"


def altered_mentation(*, gcs_total: float | None = None, consciousness_avpu: str | None = None) -> bool | None:
    """True if GCS < 15 or ACVPU is anything but Alert; False if what is known is normal; None if nothing is."""
    gcs_below = coefficients()["criteria"]["gcs_below"]
    if (gcs_total is not None and gcs_total < gcs_below) or (consciousness_avpu not in (None, "A")):
        return True
    if gcs_total is None and consciousness_avpu is None:
        return None
    return False


def qsofa_score(*, respiratory_rate_min: float | None, sbp_mmhg: float | None,
                altered_mentation: bool | None) -> QsofaResult:
    """qSOFA from what is known; ``None`` marks a criterion that could not be assessed (counts 0, reported)."""
    criteria = coefficients()["criteria"]
    for name, value in (("respiratory_rate_min", respiratory_rate_min), ("sbp_mmhg", sbp_mmhg)):
        if value is not None and (not is_finite_number(value) or value < 0):
            raise ValueError(f"{name} must be a non-negative number")
    met = {
        "respiratory_rate": None if respiratory_rate_min is None
        else respiratory_rate_min >= criteria["respiratory_rate_from_min"],
        "mentation": altered_mentation,
        "sbp": None if sbp_mmhg is None else sbp_mmhg <= criteria["sbp_up_to_mmhg"],
    }
    shown = {"respiratory_rate": respiratory_rate_min, "mentation": altered_mentation, "sbp": sbp_mmhg}
    terms = tuple(Term(_LABELS[key], "unknown" if shown[key] is None else shown[key], 1.0 if flag else 0.0)
                  for key, flag in met.items())
    return QsofaResult(sum(1 for flag in met.values() if flag), terms,
                       tuple(key for key, flag in met.items() if flag is None))


def risk_category(score: int) -> str:
    return "high" if score >= coefficients()["categories"]["high_from"] else "not high"


@dataclass(frozen=True)
class QsofaDetails(Details):
    unknown_criteria: tuple[str, ...]  # criteria not assessed (the known ones already reach the category)
    reference_time: str  # the newest observation the window is counted back from


@calculator
class Qsofa(SingleFindingEngine):
    id = "qsofa"
    version = "1.0.0"
    title = "Sepsis risk screen (qSOFA)"
    kind = Kind.RISK
    citation = Citation(
        short="Seymour 2016 (qSOFA, Sepsis-3)",
        full=("Seymour CW, Liu VX, Iwashyna TJ, et al. Assessment of Clinical Criteria for Sepsis: For the Third "
              "International Consensus Definitions for Sepsis and Septic Shock (Sepsis-3). JAMA. "
              "2016;315(8):762-774."),
        url="https://doi.org/10.1001/jama.2016.0288",
        doi="10.1001/jama.2016.0288",
        topic="Sepsis: early recognition",
    )
    requires = ("respiratory_rate_min", "sbp_mmhg", "consciousness_avpu")
    optional = ("gcs_total", "age_years")
    finding_suffix = "score"

    def _assess(self, features: FeatureSet) -> Finding:
        age = features.get("age_years")
        minimum_age = coefficients()["applicability"]["minimum_age_years"]
        if age is not None and is_finite_number(age.value) and age.value < minimum_age:
            return self.not_applicable(features, [age],
                                       message=f"Age {age.value:g} years: qSOFA was derived in adults.")

        window, assumptions = recency_window(features)
        rr, rr_missing = recent_number(features, "respiratory_rate_min", **window)
        sbp, sbp_missing = recent_number(features, "sbp_mmhg", **window)
        avpu, avpu_missing = recent_avpu(features, **window)
        gcs, gcs_missing = recent_gcs(features, **window)
        mentation = altered_mentation(gcs_total=gcs.value if gcs is not None else None,
                                      consciousness_avpu=avpu.value if avpu is not None else None)
        result = qsofa_score(respiratory_rate_min=rr.value if rr is not None else None,
                             sbp_mmhg=sbp.value if sbp is not None else None, altered_mentation=mentation)
        usable = [ev for ev in (rr, sbp, avpu, gcs) if ev is not None]
        missing = [m for m in (rr_missing, sbp_missing) if m is not None]
        if mentation is None:
            missing += [avpu_missing, gcs_missing]

        high_from = coefficients()["categories"]["high_from"]
        if result.unknown and result.score < high_from:
            return self.insufficient(features, usable, missing, assumptions=tuple(assumptions),
                                     details=PartialScore(result.score))
        if result.unknown:
            names = ", ".join(_LABELS[key] for key in result.unknown)
            assumptions.append(f"Not assessed: {names}; the criteria that are known already reach {result.score}, "
                               "so the score is at least that.")
        if avpu is not None and gcs is None:
            assumptions.append("Mentation from the ACVPU scale: anything other than Alert counts as altered.")
        assumptions.append("qSOFA is a prompt to consider sepsis in suspected infection, not a diagnosis; "
                           "a score below 2 does not exclude sepsis.")
        category = risk_category(result.score)
        return self.computed(
            features,
            value=result.score,
            unit="points",
            category=category,
            thresholds=tuple(coefficients()["criteria"]["text"]) + tuple(coefficients()["categories"]["text"]),
            severity=Severity.WARNING if category == "high" else Severity.INFO,
            inputs=tuple(usable),
            missing=tuple(missing),
            assumptions=tuple(assumptions),
            explanation=result.terms,
            method="One point each: respiratory rate >= 22/min, altered mentation, systolic BP <= 100 mmHg.",
            details=QsofaDetails(unknown_criteria=tuple(result.unknown),
                                 reference_time=window["reference"].isoformat()),
        )
