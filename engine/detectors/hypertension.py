"""hypertension-gap: hypertension by office blood pressure, not on the problem list.

Source: Whelton PK, Carey RM, Aronow WS, et al. 2017 ACC/AHA/AAPA/ABC/ACPM/AGS/APhA/ASH/ASPC/NMA/PCNA Guideline for
the Prevention, Detection, Evaluation, and Management of High Blood Pressure in Adults. Hypertension.
2018;71:e13-e115 (J Am Coll Cardiol 2018;71:e127-e248).

* Categories (Table 6): normal < 120 and < 80; elevated 120-129 and < 80; stage 1 130-139 or 80-89; stage 2 >= 140
  or >= 90 mmHg. When SBP and DBP fall in different categories the higher one applies.
* "Use an average of >= 2 readings obtained on >= 2 occasions to estimate the individual's level of BP" (section 4.1):
  readings are averaged per day (an occasion), then the daily means of the most recent occasions are averaged (at
  most three, so the estimate reflects current BP; project choice, option ``bp_occasions``). One occasion only gives
  a "needs confirmation" finding.
* Hypertensive crisis (section 11.2): SBP > 180 and/or DBP > 120 mmHg - critical from a single reading, when taken in
  the last 30 days (project choice, option ``bp_crisis_days``: an old crisis reading is history, not an emergency).
* Out-of-office confirmation (section 4.2, recommendation IIa): untreated SBP 130-159 or DBP 80-99 - screen for white
  coat hypertension with ABPM or home BP monitoring before the diagnosis; proposed as a draft ServiceRequest then.
* Adults (>= 18 years) outside pregnancy: children use percentile tables (AAP 2017) and pregnancy has its own
  hypertensive disorders. A crisis reading is reported whatever the age or pregnancy status.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from statistics import fmean

from engine.detectors.common import (
    DiagnosisDetector,
    Reading,
    add_condition_action,
    already_documented,
    concept,
    criterion,
    fmt,
    option,
    order_action,
    pregnant,
    readings,
)
from engine.finding import Citation, Finding, Severity, Term
from engine.inputs import FeatureSet
from engine.registry import detector

# ACC/AHA 2017, Table 6 (mmHg, inclusive lower bounds).
STAGE_2 = (140.0, 90.0)
STAGE_1 = (130.0, 80.0)
ELEVATED_SBP = 120.0
# ACC/AHA 2017, section 11.2: hypertensive crisis is SBP > 180 and/or DBP > 120 (strictly above).
CRISIS = (180.0, 120.0)
# ACC/AHA 2017, section 4.2 (IIa): white-coat screening band for untreated adults: SBP < 160 and DBP < 100.
WHITE_COAT_BAND_UPPER = (160.0, 100.0)
MIN_OCCASIONS = 2  # ACC/AHA 2017 section 4.1: >= 2 occasions
ADULT_AGE = 18.0
# Project choices (documented in docs/detectors.md): look-back of one year for office readings, the most recent three
# occasions averaged, and crisis readings only from the last 30 days.
DEFAULT_LOOKBACK_DAYS = 365
DEFAULT_OCCASIONS = 3
DEFAULT_CRISIS_DAYS = 30

THRESHOLD_LINES = ("normal < 120/< 80", "elevated 120-129/< 80", "stage 1 130-139 or 80-89",
                   "stage 2 >= 140 or >= 90", "crisis > 180 and/or > 120 mmHg")


def bp_category(sbp: float | None, dbp: float | None) -> str:
    """ACC/AHA 2017 category of an (average) blood pressure; either value may be unknown."""
    s = sbp if sbp is not None else 0.0
    d = dbp if dbp is not None else 0.0
    if s >= STAGE_2[0] or d >= STAGE_2[1]:
        return "stage 2"
    if s >= STAGE_1[0] or d >= STAGE_1[1]:
        return "stage 1"
    if s >= ELEVATED_SBP:
        return "elevated"
    return "normal"


@dataclass(frozen=True)
class OfficeBp:
    """The patient's level of office BP as ACC/AHA 2017 section 4.1 estimates it: readings averaged per day (an
    occasion), then the daily means of the most recent occasions averaged. The one estimate the hypertension detector
    and the BP treatment rule (engine/rules/blood_pressure.py) both use."""

    occasions: tuple[tuple[date, float | None, float | None], ...]  # (day, mean SBP, mean DBP), newest first
    sbp: float | None
    dbp: float | None
    category: str  # bp_category of the averages
    readings: tuple[Reading, ...]  # every reading of the occasions used, newest first

    @property
    def confirmed(self) -> bool:
        """>= 2 occasions (section 4.1: an average of >= 2 readings on >= 2 occasions)."""
        return len(self.occasions) >= MIN_OCCASIONS

    @property
    def evidence(self) -> list:
        return [r.evidence for r in self.readings]

    def text(self) -> str:
        return _bp_text(self.sbp, self.dbp)


def office_bp(features: FeatureSet, sbp: list[Reading] | None = None, dbp: list[Reading] | None = None,
              problems: list | None = None) -> tuple[OfficeBp | None, list]:
    """The averaged office BP of the look-back window (option ``bp_lookback_days``, most recent ``bp_occasions``
    occasions) and the readings that could not be used; None without any usable reading."""
    if sbp is None or dbp is None:
        window = option(features, "bp_lookback_days", DEFAULT_LOOKBACK_DAYS)
        sbp, sbp_problems = readings(features, "sbp_mmhg", window_days=window)
        dbp, dbp_problems = readings(features, "dbp_mmhg", window_days=window)
        problems = sbp_problems + dbp_problems
    occasions = _occasions(sbp, dbp, option(features, "bp_occasions", DEFAULT_OCCASIONS))
    if not occasions:
        return None, list(problems or [])
    avg_sbp = _mean([o[1] for o in occasions])
    avg_dbp = _mean([o[2] for o in occasions])
    used_days = {o[0] for o in occasions}
    used = sorted((r for r in sbp + dbp if r.day in used_days), key=lambda r: r.day, reverse=True)
    return OfficeBp(tuple(occasions), avg_sbp, avg_dbp, bp_category(avg_sbp, avg_dbp), tuple(used)), \
        list(problems or [])


def _bp_text(sbp: float | None, dbp: float | None) -> str:
    return f"{'-' if sbp is None else fmt(sbp, 'sbp_mmhg')}/{'-' if dbp is None else fmt(dbp, 'dbp_mmhg')} mmHg"


@detector
class HypertensionGap(DiagnosisDetector):
    id = "hypertension-gap"
    version = "1.0.0"
    title = "Possible undiagnosed hypertension"
    citation = Citation(
        short="Whelton 2018 (ACC/AHA 2017 BP guideline)",
        full=("Whelton PK, Carey RM, Aronow WS, et al. 2017 ACC/AHA/AAPA/ABC/ACPM/AGS/APhA/ASH/ASPC/NMA/PCNA "
              "Guideline for the Prevention, Detection, Evaluation, and Management of High Blood Pressure in Adults. "
              "Hypertension. 2018;71(6):e13-e115."),
        url="https://doi.org/10.1161/HYP.0000000000000065",
        doi="10.1161/HYP.0000000000000065",
        topic="Hypertension diagnosis",
    )
    requires = ("sbp_mmhg", "dbp_mmhg", "age_years")
    optional = ("hypertension", "pregnant", "bp_treated")

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        htn = concept("hypertension")
        documented = already_documented(features, htn, "hypertension")
        window = option(features, "bp_lookback_days", DEFAULT_LOOKBACK_DAYS)
        sbp, sbp_problems = readings(features, "sbp_mmhg", window_days=window)
        dbp, dbp_problems = readings(features, "dbp_mmhg", window_days=window)
        problems = sbp_problems + dbp_problems

        # A crisis reading is an emergency whether or not hypertension is already listed; only the
        # "add to problem list" part depends on the list.
        crisis = self._crisis(features, sbp, dbp, problems, documented)
        if crisis is not None:
            return [crisis]
        if documented:
            return []

        level, _ = office_bp(features, sbp, dbp, problems)
        if level is None:
            return []
        occasions, avg_sbp, avg_dbp, stage = list(level.occasions), level.sbp, level.dbp, level.category
        if stage not in ("stage 1", "stage 2"):
            return []
        used, evidence = list(level.readings), level.evidence

        not_assessed = self.unless_adult_outside_pregnancy(
            features, suffix="hypertension", adult_age=ADULT_AGE, inputs=evidence, problems=problems,
            in_pregnancy=(f"Average BP {_bp_text(avg_sbp, avg_dbp)} during a recorded pregnancy: the ACC/AHA 2017 "
                          "adult thresholds do not apply; assess for a hypertensive disorder of pregnancy."),
            age_needed=(f"Average BP {_bp_text(avg_sbp, avg_dbp)} is in the ACC/AHA {stage} range; age is needed to "
                        "apply the adult thresholds."))
        if not_assessed is not None:
            return not_assessed
        return [self._hypertension(features, occasions, avg_sbp, avg_dbp, stage, used, evidence, problems)]

    # -- stage 1 / stage 2 -----------------------------------------------------------------------------------------
    def _hypertension(self, features, occasions, avg_sbp, avg_dbp, stage, used, evidence, problems) -> Finding:
        htn = concept("hypertension")
        n = len(occasions)
        confirmed = n >= MIN_OCCASIONS
        average = f"average {_bp_text(avg_sbp, avg_dbp)}" if n > 1 else f"BP {_bp_text(avg_sbp, avg_dbp)}"
        terms = [Term(f"Occasion {day.isoformat()} (daily mean)", _bp_text(s, d)) for day, s, d in occasions]
        terms.append(Term(f"ACC/AHA {stage}: {'>= 140 or >= 90' if stage == 'stage 2' else '130-139 or 80-89'} mmHg",
                          f"{average} over {n} occasion{'s' if n > 1 else ''}"))
        assumptions = []
        treated = features.get("bp_treated")
        if treated is not None and treated.value is True:
            assumptions.append("An antihypertensive medication is recorded: these readings are on treatment, and "
                               "hypertension may be known but missing from the problem list.")
        actions = []
        if confirmed:
            actions.append(add_condition_action(
                htn, evidence, why=f"{average} over {n} occasions (ACC/AHA 2017 {stage})."))
        in_white_coat_band = ((avg_sbp is None or avg_sbp < WHITE_COAT_BAND_UPPER[0])
                              and (avg_dbp is None or avg_dbp < WHITE_COAT_BAND_UPPER[1]))
        if not confirmed or in_white_coat_band:
            if confirmed:
                actions.append(order_action(
                    "abpm", label="Confirm with out-of-office BP (ambulatory or home monitoring)",
                    reason=(f"Office {average} (ACC/AHA 2017 {stage}); out-of-office measurement confirms the "
                            "diagnosis and excludes white-coat hypertension (ACC/AHA 2017, section 4.2)."),
                    condition=htn, evidence=evidence))
            else:
                # One occasion is a finding to recheck, not a suspected disorder: the reason is coded "Elevated blood
                # pressure" (SNOMED CT 371622005), not "Hypertensive disorder", and the text diagnoses nothing.
                actions.append(order_action(
                    "abpm", label="Recheck with out-of-office BP (ambulatory or home monitoring)",
                    reason=(f"Elevated blood pressure reading: office {average} on one occasion; out-of-office "
                            "measurement rechecks it (ACC/AHA 2017, sections 4.1-4.2)."),
                    reason_key="elevated_bp", evidence=evidence))
        if confirmed:
            message = (f"The {average} over {n} occasions meets ACC/AHA 2017 {stage} hypertension, and hypertension is "
                       "not on the active problem list.")
        else:
            message = (f"{average} on one occasion ({occasions[0][0].isoformat()}) is in the ACC/AHA {stage} range; "
                       "the guideline bases the diagnosis on the average of readings on >= 2 occasions. Repeat on "
                       "another day or measure out of office.")
        return self.gap(
            features, suffix="hypertension", condition=htn,
            # One occasion is not a diagnosis (ACC/AHA 2017 section 4.1: >= 2 readings on >= 2 occasions): an info
            # card asking for a recheck, not a warning.
            title="Possible undiagnosed hypertension" if confirmed else "Blood pressure to recheck",
            value=(f"{average} ({n} occasions)" if confirmed
                   else f"{average} on {occasions[0][0].isoformat()}, one occasion"),
            category=f"{stage}" if confirmed else f"{stage} range, needs a second occasion",
            severity=Severity.WARNING if confirmed else Severity.INFO,
            inputs=evidence, explanation=terms, problems=problems, message=message, actions=actions,
            assumptions=assumptions, thresholds=THRESHOLD_LINES,
            method=("ACC/AHA 2017: readings averaged per day, then over the most recent occasions; the higher of the "
                    "SBP and DBP categories applies."),
        )

    # -- crisis ------------------------------------------------------------------------------------------------------
    def _crisis(self, features, sbp, dbp, problems, documented: str | None) -> Finding | None:
        days = option(features, "bp_crisis_days", DEFAULT_CRISIS_DAYS)
        since = features.as_of - timedelta(days=days)
        high = [r for r in sbp if r.value > CRISIS[0] and r.day >= since]
        high += [r for r in dbp if r.value > CRISIS[1] and r.day >= since]
        if not high:
            return None
        htn = concept("hypertension")
        high.sort(key=lambda r: r.day, reverse=True)
        newest = high[0]
        partner = _partner(newest, dbp if newest.name == "sbp_mmhg" else sbp)
        s, d = (newest, partner) if newest.name == "sbp_mmhg" else (partner, newest)
        shown = _bp_text(s.value if s else None, d.value if d else None)
        evidence = [r.evidence for r in high] + ([partner.evidence] if partner else [])
        terms = [criterion("Hypertensive crisis: SBP > 180 mmHg", [r for r in high if r.name == "sbp_mmhg"]),
                 criterion("Hypertensive crisis: DBP > 120 mmHg", [r for r in high if r.name == "dbp_mmhg"])]
        terms = [t for t in terms if t.value]
        assumptions = []
        if pregnant(features) is True:
            assumptions.append("Pregnancy is recorded: severe hypertension in pregnancy (>= 160/110) needs urgent "
                               "obstetric assessment.")
        return self.gap(
            features, suffix="hypertension", condition=htn,
            title=("Hypertensive crisis reading" if documented
                   else "Possible hypertensive crisis, hypertension not on problem list"),
            value=f"BP {shown} on {newest.day.isoformat()}", category="hypertensive crisis",
            severity=Severity.CRITICAL,
            inputs=evidence, explanation=terms, problems=problems,
            # Short sentences: the card shows the first two whole (the reading itself is its result line).
            message=("Above 180 systolic and/or 120 diastolic: the ACC/AHA 2017 hypertensive crisis range. Repeat the "
                     "measurement and assess for acute target-organ damage (hypertensive emergency)."
                     + (" Hypertension is on the problem list." if documented  # the entry: explainer page
                        else " Hypertension is not on the active problem list.")),
            actions=[] if documented else [add_condition_action(
                htn, evidence, why=f"BP {shown} on {newest.day.isoformat()} (ACC/AHA 2017 hypertensive crisis range).")],
            assumptions=assumptions, thresholds=THRESHOLD_LINES,
            method="ACC/AHA 2017 section 11.2: a single reading > 180 and/or > 120 mmHg is a hypertensive crisis.",
        )


def _partner(reading: Reading, others: list[Reading]) -> Reading | None:
    """The other half of a blood-pressure pair: same Observation, else same timestamp."""
    for other in others:
        if reading.evidence.source and other.evidence.source == reading.evidence.source:
            return other
    for other in others:
        if other.evidence.effective == reading.evidence.effective:
            return other
    return None


def _occasions(sbp: list[Reading], dbp: list[Reading], limit: int) -> list[tuple[date, float | None, float | None]]:
    """(day, mean SBP, mean DBP) of the most recent ``limit`` days with a reading, newest first."""
    days = sorted({r.day for r in sbp + dbp}, reverse=True)[: max(limit, MIN_OCCASIONS)]
    out = []
    for day in days:
        s = [r.value for r in sbp if r.day == day]
        d = [r.value for r in dbp if r.day == day]
        out.append((day, fmean(s) if s else None, fmean(d) if d else None))
    return out


def _mean(values) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None
