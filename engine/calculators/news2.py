"""National Early Warning Score 2 (Royal College of Physicians, 2017).

Seven parameters (respiration rate, SpO2, air or oxygen, systolic BP, pulse, consciousness, temperature)
each score 0-3; SpO2 Scale 2 replaces Scale 1 when a hypercapnic-failure target (88-92 %) is documented.
Bands: 0-4 low, any single 3 low-medium, 5-6 medium, >= 7 high (critical card). All seven must be recent
(``engine.calculators.vitals``) or the score is not given. Chart and bands: ``engine/data/news2.json``.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.base import SingleFindingEngine
from engine.calculators.common import is_finite_number, load_data, round_half_up
from engine.calculators.vitals import recency_window, recent, recent_avpu, recent_gcs, recent_number
from engine.finding import Citation, Details, Finding, Kind, MissingInput, Severity, Term
from engine.inputs import FeatureSet
from engine.registry import calculator

DATA_FILE = "news2.json"
AVPU = ("A", "C", "V", "P", "U")
NUMERIC_VITALS = ("respiratory_rate_min", "spo2_pct", "sbp_mmhg", "heart_rate_min", "temperature_c")


def coefficients() -> dict:
    return load_data(DATA_FILE)


@dataclass(frozen=True)
class News2Result:
    score: int
    spo2_scale: int
    red_score: bool  # some single parameter scored 3
    terms: tuple[Term, ...]  # one per parameter; contribution = its points


def _band_points(value: float, bands: list[dict]) -> int:
    for band in bands:
        if band["up_to"] is None or value <= band["up_to"]:
            return band["points"]
    raise AssertionError("the last band is open-ended")  # pragma: no cover


def _charted(value: float, parameter: dict) -> float:
    """The observation at chart precision (40.6 /min is charted as 41)."""
    return round_half_up(value, parameter["decimals"])


def spo2_points(spo2_pct: float, *, on_supplemental_o2: bool, scale: int) -> int:
    parameters = coefficients()["parameters"]
    if scale == 1:
        return _band_points(_charted(spo2_pct, parameters["spo2_scale_1"]), parameters["spo2_scale_1"]["bands"])
    scale_2 = parameters["spo2_scale_2"]
    charted = _charted(spo2_pct, scale_2)
    if charted <= scale_2["bands"][-1]["up_to"]:
        return _band_points(charted, scale_2["bands"])
    if not on_supplemental_o2:
        return scale_2["above_92_on_air_points"]
    return _band_points(charted, scale_2["above_92_on_oxygen_bands"])


def news2_score(*, respiratory_rate_min: float, spo2_pct: float, on_supplemental_o2: bool, sbp_mmhg: float,
                heart_rate_min: float, consciousness_avpu: str, temperature_c: float,
                hypercapnic_target: bool = False) -> News2Result:
    """NEWS2 with one explanation term per parameter. Raises ValueError on impossible input."""
    numbers = {"respiratory_rate_min": respiratory_rate_min, "spo2_pct": spo2_pct, "sbp_mmhg": sbp_mmhg,
               "heart_rate_min": heart_rate_min, "temperature_c": temperature_c}
    for name, value in numbers.items():
        if not is_finite_number(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")
    if spo2_pct > 100:
        raise ValueError("spo2_pct cannot exceed 100")
    if consciousness_avpu not in AVPU:
        raise ValueError("consciousness_avpu must be one of A, C, V, P, U")
    parameters = coefficients()["parameters"]
    scale = 2 if hypercapnic_target else 1
    oxygen = parameters["air_or_oxygen"]
    consciousness = parameters["consciousness"]

    def banded(name: str) -> int:
        return _band_points(_charted(numbers[name], parameters[name]), parameters[name]["bands"])

    scored = [
        (parameters["respiratory_rate_min"]["label"], respiratory_rate_min, banded("respiratory_rate_min")),
        (parameters[f"spo2_scale_{scale}"]["label"], spo2_pct,
         spo2_points(spo2_pct, on_supplemental_o2=on_supplemental_o2, scale=scale)),
        (oxygen["label"], "oxygen" if on_supplemental_o2 else "air",
         oxygen["oxygen_points"] if on_supplemental_o2 else oxygen["air_points"]),
        (parameters["sbp_mmhg"]["label"], sbp_mmhg, banded("sbp_mmhg")),
        (parameters["heart_rate_min"]["label"], heart_rate_min, banded("heart_rate_min")),
        (consciousness["label"], consciousness_avpu,
         consciousness["alert_points"] if consciousness_avpu == "A" else consciousness["cvpu_points"]),
        (parameters["temperature_c"]["label"], temperature_c, banded("temperature_c")),
    ]
    red = coefficients()["categories"]["red_score_points"]
    return News2Result(score=sum(points for _, _, points in scored), spo2_scale=scale,
                       red_score=any(points >= red for _, _, points in scored),
                       terms=tuple(Term(label, value, float(points)) for label, value, points in scored))


def risk_category(score: int, red_score: bool) -> str:
    """RCP 2017 clinical risk: 'high' (>= 7), 'medium' (5-6), 'low-medium' (single 3), 'low'."""
    bands = coefficients()["categories"]
    if score >= bands["high_from"]:
        return "high"
    if score >= bands["medium_from"]:
        return "medium"
    return "low-medium" if red_score else "low"


_SEVERITY = {"low": Severity.INFO, "low-medium": Severity.WARNING, "medium": Severity.WARNING,
             "high": Severity.CRITICAL}
_RESPONSE = {"low": "ward-based response (minimum 12-hourly observations; 4-6-hourly for scores 1-4)",
             "low-medium": "urgent ward-based response by a clinician competent in acute illness",
             "medium": "urgent response: key threshold for urgent clinical review",
             "high": "emergency response by a team with critical-care competencies"}


@dataclass(frozen=True)
class News2Details(Details):
    spo2_scale: int  # 1, or 2 with a documented hypercapnic target
    red_score: bool  # some single parameter scored 3 (urgent review whatever the total)
    reference_time: str  # the newest observation the 24-hour window is counted back from


@calculator
class News2(SingleFindingEngine):
    id = "news2"
    version = "1.0.0"
    title = "Acute illness severity (NEWS2)"
    kind = Kind.RISK
    citation = Citation(
        short="RCP 2017 (NEWS2)",
        full=("Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising the assessment of "
              "acute-illness severity in the NHS. Updated report of a working party. London: RCP, 2017."),
        url="https://www.rcplondon.ac.uk/projects/outputs/national-early-warning-score-news-2",
        topic="Acute illness: deterioration",
    )
    requires = NUMERIC_VITALS + ("on_supplemental_o2", "consciousness_avpu")
    optional = ("gcs_total", "hypercapnic_target", "age_years", "pregnant")
    finding_suffix = "score"

    def _assess(self, features: FeatureSet) -> Finding:
        excluded = self._excluded(features)
        if excluded is not None:
            return excluded
        window, assumptions = recency_window(features)
        vitals, missing = {}, []
        for name in NUMERIC_VITALS:
            evidence, why = recent_number(features, name, **window)
            vitals[name] = evidence
            missing += [why] if why else []
        oxygen, oxygen_missing = self._oxygen(features, **window)
        consciousness, consciousness_inputs, consciousness_missing, consciousness_note = self._consciousness(
            features, **window)
        missing += [m for m in (oxygen_missing, consciousness_missing) if m is not None]
        hypercapnic = features.get("hypercapnic_target")
        usable = [ev for ev in vitals.values() if ev is not None] + consciousness_inputs
        usable += [ev for ev in (oxygen, hypercapnic) if ev is not None]

        if missing:
            labels = ", ".join(m.label for m in missing)
            return self.insufficient(
                features, usable, missing, assumptions=tuple(assumptions),
                message=f"NEWS2 needs all seven parameters from recent observations; missing or out of date: {labels}.")

        on_scale_2 = hypercapnic is not None and hypercapnic.value is True
        if hypercapnic is None:
            assumptions.append("No documented hypercapnic-failure SpO2 target found: SpO2 Scale 1 used.")
        if consciousness_note:
            assumptions.append(consciousness_note)
        result = news2_score(
            respiratory_rate_min=vitals["respiratory_rate_min"].value, spo2_pct=vitals["spo2_pct"].value,
            on_supplemental_o2=oxygen.value, sbp_mmhg=vitals["sbp_mmhg"].value,
            heart_rate_min=vitals["heart_rate_min"].value, consciousness_avpu=consciousness,
            temperature_c=vitals["temperature_c"].value, hypercapnic_target=on_scale_2)
        category = risk_category(result.score, result.red_score)
        return self.computed(
            features,
            value=result.score,
            unit="points",
            category=category,
            thresholds=tuple(coefficients()["categories"]["text"]),
            severity=_SEVERITY[category],
            inputs=tuple(usable),
            assumptions=tuple(assumptions),
            explanation=result.terms,
            message=f"NEWS2 {result.score} ({category}): {_RESPONSE[category]}.",
            method=(f"Sum of the seven NEWS2 parameter scores (RCP 2017), SpO2 Scale {result.spo2_scale}; "
                    "observations rounded to chart precision."),
            details=News2Details(spo2_scale=result.spo2_scale, red_score=result.red_score,
                                 reference_time=window["reference"].isoformat()),
        )

    def _excluded(self, features: FeatureSet) -> Finding | None:
        age = features.get("age_years")
        minimum_age = coefficients()["applicability"]["minimum_age_years"]
        if age is not None and is_finite_number(age.value) and age.value < minimum_age:
            return self.not_applicable(features, [age],
                                       message=f"Age {age.value:g} years: NEWS2 is not validated under "
                                               f"{minimum_age}; use a paediatric early warning score.")
        pregnant = features.get("pregnant")
        if pregnant is not None and pregnant.value is True:
            return self.not_applicable(features, [pregnant],
                                       message="Pregnancy is recorded: NEWS2 is not validated in pregnancy; use an "
                                               "obstetric early warning score.")
        return None

    @staticmethod
    def _oxygen(features: FeatureSet, *, reference, max_age_h):
        """Supplemental oxygen: a yes/no; when it carries a time, that time must be recent too."""
        evidence = features.get("on_supplemental_o2")
        if evidence is None:
            return None, features.missing_reason("on_supplemental_o2")
        if not isinstance(evidence.value, bool):
            return None, MissingInput("on_supplemental_o2", evidence.label, "recorded value is neither yes nor no")
        if evidence.effective is None:
            return evidence, None
        return recent(features, "on_supplemental_o2", reference=reference, max_age_h=max_age_h)

    @staticmethod
    def _consciousness(features: FeatureSet, *, reference, max_age_h):
        """ACVPU letter, or from the GCS when no recent ACVPU (GCS 15 = Alert, below 15 = not Alert)."""
        avpu, avpu_missing = recent_avpu(features, reference=reference, max_age_h=max_age_h)
        if avpu is not None:
            return avpu.value, [avpu], None, None
        gcs, _ = recent_gcs(features, reference=reference, max_age_h=max_age_h)
        if gcs is not None:
            letter = "A" if gcs.value >= 15 else "C"
            note = (f"Consciousness from GCS {gcs.value:g} (no recent ACVPU): "
                    + ("scored as Alert." if letter == "A" else "GCS below 15 scored as not Alert (3 points); NEWS2 "
                       "scores new confusion, so confirm it is new."))
            return letter, [gcs], None, note
        return None, [], avpu_missing, None
