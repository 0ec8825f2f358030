"""Blood-pressure drug therapy: when to start it, by the 2017 ACC/AHA high blood pressure guideline.

Sources and every threshold: ``engine/data/bp_treatment_2017.json`` (docs/treatment.md).

* The BP level is the hypertension detector's estimate (``engine.detectors.hypertension.office_bp``): readings
  averaged per day, then over the most recent occasions, and it must rest on >= 2 occasions (section 4.1).
* Start drug treatment at stage 2 (>= 140 or >= 90 mmHg; Class I, LOE C-LD), or at stage 1 (130-139 or 80-89) with
  clinical ASCVD or a 10-year ASCVD risk >= 10 % (Class I, LOE A for SBP), diabetes or CKD (Class I, LOE B-R for
  SBP). The 10-year risk is read from the Pooled Cohort Equations finding. Stage 1 without these: nonpharmacological
  therapy (no card).
* Only when hypertension is on the problem list and no antihypertensive is active: an undiagnosed raised BP is the
  diagnosis card's (hypertension-gap, confirm and add to the problem list) and treated BP needs intensification,
  which this rule does not decide. So the two never give two cards about one BP.
* First-line agents, alternatives (at most one): thiazide (chlorthalidone), CCB (amlodipine), ACE inhibitor
  (lisinopril), ARB (losartan); an ACE inhibitor first with CKD (eGFR < 60 or UACR >= 300 mg/g), a thiazide first
  otherwise (section 10: a thiazide or CCB in black adults). More than 20/10 above the < 130/80 goal: two agents.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from engine.calculators.common import load_data
from engine.detectors.common import already_documented, concept
from engine.detectors.hypertension import office_bp
from engine.finding import Finding, Severity
from engine.inputs import FeatureSet
from engine.proposals import suggest
from engine.registry import rule
from engine.rules.common import (
    SingleFindingRule,
    age_of,
    citation_of,
    computed_finding,
    number,
    present,
    recommendation_of,
    score_evidence,
    start_medication,
)

DATA_FILE = "bp_treatment_2017.json"


@cache
def data() -> dict[str, Any]:
    return load_data(DATA_FILE)


@rule
class BloodPressureDrugTherapy(SingleFindingRule):
    id = "bp-treatment-acc-aha-2017"
    version = "1.0.0"
    title = "Blood-pressure drug therapy"
    citation = citation_of(data()["guideline"])
    reads_findings = ("pce-2013",)
    optional = ("sbp_mmhg", "dbp_mmhg", "age_years", "hypertension", "bp_treated", "ascvd", "diabetes",
                "chronic_kidney_disease", "egfr_mlmin173m2", "uacr_mgg", "pregnant", "race")
    finding_id = f"{id}:start"

    def _assess(self, features: FeatureSet, findings) -> Finding:
        d = data()
        age = age_of(features)
        if age is None or age < d["adult_from_years"]:
            return self._no(features, [features.get("age_years")], "The ACC/AHA 2017 thresholds are for adults.")
        pregnant = present(features, "pregnant")
        if pregnant is not None:
            return self._no(features, [pregnant], "Pregnancy is recorded: hypertension in pregnancy has its own "
                                                  "thresholds and drugs (ACE inhibitors and ARBs are contraindicated).")
        htn = concept("hypertension")
        if not already_documented(features, htn, "hypertension"):
            return self._no(features, [features.get("hypertension")],
                            "Hypertension is not on the problem list: a raised average BP is the diagnosis card's "
                            "(confirm, then add it); drug therapy follows the diagnosis.")
        treated = present(features, "bp_treated")
        if treated is not None:
            return self._no(features, [treated], "An antihypertensive is active: this rule decides when to start "
                                                 f"treatment; the goal on treatment is < {d['goal_mmhg'][0]}/"
                                                 f"{d['goal_mmhg'][1]} mmHg.")
        level, _ = office_bp(features)
        if level is None or not level.confirmed:
            return self._no(features, level.evidence if level else [],
                            "The BP level needs readings on >= 2 occasions (ACC/AHA 2017 section 4.1).")
        if level.category not in ("stage 1", "stage 2"):
            return self._no(features, level.evidence,
                            f"Average BP {level.text()} ({level.category}): no drug treatment threshold met.")
        pce = computed_finding(findings, "pce-2013")
        marker = self._high_risk(features, pce)
        recs = d["recommendations"]
        if marker is None and level.category == "stage 1":
            if pce is None:
                return self._no(features, level.evidence,
                                f"Average BP {level.text()} (stage 1) and no 10-year ASCVD risk to decide on: "
                                f"{recs['no-drug']}")
            return self._no(features, [*level.evidence, score_evidence(pce, "pce_10y_ascvd_risk",
                                                                      "10-year ASCVD risk (PCE)")],
                            f"Average BP {level.text()} (stage 1), 10-year risk {pce.value:.1f} %: {recs['no-drug']}")
        key = "stage-2" if marker is None else marker[0]
        rec = recs[key]
        basis = f"average {level.text()} ({level.category}, {len(level.occasions)} occasions)"
        why = basis + (f", {marker[1]}" if marker else "")
        inputs = [*level.evidence] + ([marker[2]] if marker and marker[2] is not None else [])
        notes = [f"{why[:1].upper()}{why[1:]}."]
        goal_s, goal_d = d["goal_mmhg"]
        above_s, above_d = d["two_agents_above_goal_mmhg"]
        if level.category == "stage 2" and ((level.sbp or 0) - goal_s > above_s or (level.dbp or 0) - goal_d > above_d):
            notes.append(recs["two-agents"])
        keys, preferred = self._first_line(features)
        notes.append("First-line: a thiazide, a calcium-channel blocker, an ACE inhibitor or an ARB.")
        strength = rec["strength"]
        return self.treatment(
            features, finding_id=self.finding_id, title=self.title, value=f"{why} → start BP-lowering medication",
            category=strength, recommendation=recommendation_of(rec, d["guideline"]), severity=Severity.WARNING,
            inputs=inputs, message=" ".join(notes), condition=htn.ref(),
            suggestions=[suggest(rec["text"], start_medication(
                keys, recommended=keys.index(preferred), evidence=inputs,
                reason=f"{rec['text']}: {why} (2017 ACC/AHA, {strength}).", reason_codings=htn.ref().codings[:1]))],
            method=("ACC/AHA 2017: the averaged office BP on >= 2 occasions (Table 6 categories); drug therapy at "
                    "stage 2, or stage 1 with clinical ASCVD, diabetes, CKD or a PCE 10-year risk >= 10 %. Applied: "
                    f"{rec['section']}. First-line agents: {d['first_line']['section']}."))

    def _no(self, features: FeatureSet, inputs, message: str) -> Finding:
        return self.not_indicated(features, finding_id=self.finding_id, inputs=list(inputs), message=message)

    @staticmethod
    def _high_risk(features: FeatureSet, pce: Finding | None):
        """(recommendation key, words, evidence) of what puts stage 1 over the treatment threshold, or None."""
        d = data()
        ascvd = present(features, "ascvd")
        if ascvd is not None:
            return "high-risk", "clinical ASCVD", ascvd
        if pce is not None and pce.value >= d["risk_percent_from"]:
            return ("high-risk", f"10-year ASCVD risk {pce.value:.1f} % (>= {d['risk_percent_from']:g} %)",
                    score_evidence(pce, "pce_10y_ascvd_risk", "10-year ASCVD risk (PCE)"))
        for entry in d["high_risk_features"]:
            ev = present(features, entry["feature"])
            if ev is not None:
                return "diabetes-ckd", entry["label"], ev
        egfr = number(features, "egfr_mlmin173m2")
        if egfr is not None and egfr < d["first_line"]["kidney_when"]["egfr_below"]:
            return "diabetes-ckd", f"CKD (eGFR {egfr:.0f})", features.get("egfr_mlmin173m2")
        return None

    @staticmethod
    def _first_line(features: FeatureSet) -> tuple[list[str], str]:
        first = data()["first_line"]
        egfr, uacr = number(features, "egfr_mlmin173m2"), number(features, "uacr_mgg")
        kidney = first["kidney_when"]
        if (egfr is not None and egfr < kidney["egfr_below"]) or (uacr is not None and uacr >= kidney["uacr_mgg_from"]):
            return list(first["regimens"]), first["preferred"]["kidney"]
        race = features.value("race")
        return list(first["regimens"]), first["preferred"].get(race, first["preferred"]["default"])
