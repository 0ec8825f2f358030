"""KDIGO 2012 G and A categories and the prognosis heat map; missing albuminuria; which eGFR is staged; staged only
for established CKD (a CKD entry, or eGFR < 60 / UACR >= 30 mg/g over 90 / 91 days, as the CKD detector reads it)."""
from __future__ import annotations

from datetime import timedelta

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.kdigo_ckd import (
    KdigoCkdStage,
    albuminuria_category,
    heat_map_risk,
    heat_map_risk_without_albuminuria,
)
from engine.finding import Severity, Status
from engine.inputs import FeatureSet
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine.builders import AS_OF, MEASURED, ev, features, only_finding, with_persisting_egfr
from tests.proposal_resources import resource as proposal_resource


def evaluate(fs: FeatureSet, *, ckd_established: bool = True):
    """The staging of a patient with CKD (the eGFR also 120 days earlier) unless a test says otherwise."""
    return only_finding(KdigoCkdStage(), with_persisting_egfr(fs) if ckd_established else fs)


# -- categories and the heat map (KDIGO 2012, prognosis figure) -------------------------------------------

@pytest.mark.parametrize("uacr,category", [(0, "A1"), (29.9, "A1"), (30, "A2"), (299.9, "A2"), (300, "A3"),
                                           (3000, "A3")])
def test_albuminuria_boundaries(uacr, category):
    assert albuminuria_category(uacr) == category


HEAT_MAP = {
    "G1": ("low", "moderately increased", "high"),
    "G2": ("low", "moderately increased", "high"),
    "G3a": ("moderately increased", "high", "very high"),
    "G3b": ("high", "very high", "very high"),
    "G4": ("very high", "very high", "very high"),
    "G5": ("very high", "very high", "very high"),
}


@pytest.mark.parametrize("g", list(HEAT_MAP))
def test_every_cell_of_the_heat_map(g):
    assert tuple(heat_map_risk(g, a) for a in ("A1", "A2", "A3")) == HEAT_MAP[g]


@pytest.mark.parametrize("g,risk", [("G3b", None), ("G4", "very high"), ("G5", "very high"), ("G1", None)])
def test_risk_known_without_albuminuria_only_for_g4_and_g5(g, risk):
    assert heat_map_risk_without_albuminuria(g) == risk


def test_invalid_inputs_raise():
    with pytest.raises(ValueError):
        albuminuria_category(-1)
    with pytest.raises(ValueError):
        heat_map_risk("G6", "A1")


# -- the engine ------------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("kdigo-2012-ckd-stage"), KdigoCkdStage)


def test_g3a_a2_is_high():
    fs = features(egfr_mlmin173m2=52, uacr_mgg=120)
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "kdigo-2012-ckd-stage:risk"
    assert (finding.value, finding.category, finding.severity) == ("G3a A2", "high", Severity.WARNING)
    assert [(m.category, m.unit) for m in finding.measures] == [("G3a", "mL/min/1.73m2"), ("A2", "mg/g")]
    assert finding.details.g_category == "G3a" and finding.details.a_category == "A2"
    assert {id(i) for i in finding.inputs} == {id(fs.get("egfr_mlmin173m2")), id(fs.get("uacr_mgg"))}
    assert len(finding.thresholds) == 9


@pytest.mark.parametrize("egfr,value,risk", [(59.4, "G3a A1", "moderately increased"),
                                             (59.9, "G3a A1", "moderately increased"), (60, "G2 A1", "low")])
def test_egfr_59_9_boundary_is_compared_unrounded(egfr, value, risk):
    """Same rule as the CKD detector and the KFRE: 59.9 is below 60 (no card may say G2 while another says G3a)."""
    finding = evaluate(features(egfr_mlmin173m2=egfr, uacr_mgg=10))
    assert f"{finding.details.g_category} {finding.details.a_category}" == value
    if risk == "low":  # no CKD criterion: staged on the explainer page only, not a card
        assert finding.status is Status.NOT_APPLICABLE and f"{value} (low risk)" in finding.message
    else:
        assert (finding.value, finding.category) == (value, risk)


def test_low_risk_without_ckd_criteria_is_not_a_card_and_says_why():
    """G1-G2 with A1 meets no CKD criterion (KDIGO 2012): not applicable (explainer page), with the reason."""
    finding = evaluate(features(egfr_mlmin173m2=95, uacr_mgg=5))
    assert finding.status is Status.NOT_APPLICABLE
    assert "other markers of kidney damage" in finding.message
    assert [m.category for m in finding.measures] == ["G1", "A1"]


def test_g5_is_critical_whatever_the_albuminuria():
    finding = evaluate(features(egfr_mlmin173m2=12, uacr_mgg=10))
    assert (finding.category, finding.severity) == ("very high", Severity.CRITICAL)


def test_g4_without_uacr_is_still_very_high_and_asks_for_uacr():
    finding = evaluate(features(egfr_mlmin173m2=25))
    assert finding.status is Status.COMPUTED
    assert (finding.value, finding.category) == ("G4", "very high")
    assert [m.name for m in finding.missing] == ["uacr_mgg"]
    assert proposal_resource(finding)["code"]["coding"][0]["code"] == "9318-7"
    assert any("whatever the A category" in a for a in finding.assumptions)


def test_g3a_without_uacr_is_insufficient_and_asks_for_uacr():
    fs = features(egfr_mlmin173m2=50)
    fs.mark_missing("uacr_mgg", "no urine ACR in the last 12 months")
    finding = evaluate(fs)
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["uacr_mgg"]
    assert finding.missing[0].reason == "no urine ACR in the last 12 months"
    assert "G3a" in finding.message
    assert finding.suggestions and proposal_resource(finding)["subject"] == {"reference": "Patient/p1"}


@pytest.mark.parametrize("diabetes,suggested", [(False, False), (True, True)])
def test_uacr_suggested_for_g1_only_when_at_risk(diabetes, suggested):
    finding = evaluate(features(egfr_mlmin173m2=95, diabetes=diabetes))
    # Without an indication for CKD testing (KDIGO 2024 rec. 1.1.1.1) the missing UACR is no gap: not applicable,
    # so no "data needed" card asks for it.
    assert finding.status is (Status.INSUFFICIENT_DATA if suggested else Status.NOT_APPLICABLE)
    assert bool(finding.suggestions) is suggested


def test_albuminuria_without_egfr_asks_for_creatinine():
    finding = evaluate(features(uacr_mgg=450, chronic_kidney_disease=True))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["egfr_mlmin173m2"]
    assert "A3" in finding.message
    assert proposal_resource(finding)["code"]["coding"][0]["code"] == "2160-0"


def test_creatinine_and_cystatin_c_are_preferred_to_the_creatinine_egfr():
    """Man 60, Scr 1.4, Scys 0.8: eGFRcr-cys 84.0 (G2) although the recorded creatinine eGFR is 58 (G3a)."""
    fs = features(egfr_mlmin173m2=58, creatinine_mgdl=1.4, cystatin_c_mgl=0.8, age_years=60, sex="male", uacr_mgg=10)
    finding = evaluate(fs)
    assert finding.status is Status.NOT_APPLICABLE and "G2 A1 (low risk)" in finding.message
    assert "cystatin C" in finding.details.egfr_method
    assert finding.measures[0].value == pytest.approx(83.97, abs=0.01)
    derived = finding.inputs[0]
    assert derived.derived_from and any(d is fs.get("cystatin_c_mgl") for d in derived.derived_from)


@pytest.mark.parametrize("uacr", [-5, "trace", float("nan")])
def test_unusable_uacr_is_missing_not_an_error(uacr):
    finding = evaluate(features(egfr_mlmin173m2=50, uacr_mgg=uacr))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["uacr_mgg"]


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("kdigo-2012-ckd-stage")], FeatureSet(as_of=AS_OF))
    # No eGFR, no UACR and no indication for testing: not applicable (nothing to ask for), never an error.
    assert [f.status for f in findings] == [Status.NOT_APPLICABLE]
    assert "KDIGO 2024" in findings[0].message
    assert findings[0].suggestions == ()


# -- staged only for established CKD (KDIGO 2024 definition: > 3 months), as the CKD detector reads it ----------------
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def history(fs: FeatureSet, name: str, *results: tuple[float, int]) -> FeatureSet:
    """Results of a feature as (value, days before the newest one, 2024-05-01), the newest also the feature's value."""
    items = [ev(name, value, MEASURED - timedelta(days=n)) for value, n in results]
    fs.put(items[0])
    fs.history[name] = items
    return fs


def test_one_egfr_below_60_is_an_egfr_category_not_a_ckd_stage():
    """One eGFR 59 (the diagnosis card says "needs > 90 days"): no stage, no heat-map risk, no card; the explainer page
    names the eGFR category and says why it is not CKD staging, with the date."""
    finding = evaluate(features(egfr_mlmin173m2=59, uacr_mgg=10), ckd_established=False)
    assert finding.status is Status.NOT_APPLICABLE and finding.value is None and finding.category is None
    assert finding.message == (
        "eGFR category G3a and albuminuria category A1 (not CKD staging: CKD needs > 3 months' persistence). CKD not "
        "established: one eGFR < 60 (2024-05-01). KDIGO stages CKD once it is present (KDIGO 2024 definition: eGFR "
        "< 60 or UACR >= 30 mg/g for > 3 months); repeat the eGFR and UACR after 3 months.")
    assert [m.category for m in finding.measures] == ["G3a", "A1"] and not finding.suggestions


def test_one_egfr_below_60_without_uacr_is_not_staged_and_asks_nothing_here():
    """The diagnosis-gaps card asks for the repeat eGFR and the UACR; no second request for CKD not established."""
    finding = evaluate(features(egfr_mlmin173m2=50), ckd_established=False)
    assert finding.status is Status.NOT_APPLICABLE and not finding.suggestions
    assert finding.message.startswith("eGFR category G3a (not CKD staging")


@pytest.mark.parametrize("apart, established", [(90, False), (91, True)])
def test_egfr_below_60_is_staged_only_over_more_than_90_days(apart, established):
    fs = history(features(uacr_mgg=10), "egfr_mlmin173m2", (52, 0), (55, apart))
    finding = evaluate(fs, ckd_established=False)
    if not established:
        assert finding.status is Status.NOT_APPLICABLE
        assert ("CKD not established: eGFR < 60 for 90 days (2 results, 2024-02-01 to 2024-05-01), not > 90."
                in finding.message)
        return
    assert (finding.status, finding.value, finding.category) == (Status.COMPUTED, "G3a A1", "moderately increased")
    assert ("CKD established: eGFR abnormal for 91 days (> 3 months, KDIGO 2024 definition)."
            ) in finding.assumptions


@pytest.mark.parametrize("entry", [dict(chronic_kidney_disease=True), dict(codes={(ICD10CM, "N18.31")})])
def test_ckd_on_the_problem_list_with_one_egfr_is_staged(entry):
    fs = features(egfr_mlmin173m2=52, uacr_mgg=120, **{k: v for k, v in entry.items() if k != "codes"})
    fs.condition_codes = set(entry.get("codes", ()))
    finding = evaluate(fs, ckd_established=False)
    assert (finding.status, finding.value, finding.category) == (Status.COMPUTED, "G3a A2", "high")
    assert "CKD established: CKD on the problem list." in finding.assumptions


@pytest.mark.parametrize("uacrs, established", [([(100, 0)], False), ([(100, 0), (45, 91)], True),
                                                ([(100, 0), (45, 90)], False)])
def test_albuminuria_is_staged_when_it_persists_more_than_90_days(uacrs, established):
    fs = history(features(egfr_mlmin173m2=75), "uacr_mgg", *uacrs)
    finding = evaluate(fs, ckd_established=False)
    if not established:
        assert finding.status is Status.NOT_APPLICABLE
        assert finding.message.startswith("eGFR category G2 and albuminuria category A2 (not CKD staging")
        assert "CKD not established: " in finding.message and "UACR >= 30 mg/g" in finding.message
        return
    assert (finding.status, finding.value, finding.category) == (Status.COMPUTED, "G2 A2", "moderately increased")
    assert any(a.startswith("CKD established: ACR abnormal for 91 days") for a in finding.assumptions)


# -- kidney replacement therapy: its status codes document CKD for the detector, but no engine for CKD applies ---------
@pytest.mark.parametrize("facts, codes, words", [
    (dict(), {(ICD10CM, "Z94.0")}, "A kidney transplant is recorded"),
    (dict(), {(ICD10CM, "Z99.2")}, "Chronic dialysis is recorded"),
    (dict(dialysis_or_transplant=True), set(), "Chronic dialysis or a kidney transplant is recorded"),
    (dict(dialysis_or_transplant=True, on_dialysis=False), set(), "A kidney transplant is recorded"),
])
def test_dialysis_or_a_kidney_transplant_is_not_staged_as_ckd(facts, codes, words):
    """Z94.0 or Z99.2 silences the CKD diagnosis card (CKD documented), yet it is not "CKD on the problem list" for a
    stage and heat-map risk: the KFRE and the diabetes-in-CKD rule leave kidney replacement therapy out, and so does
    this engine, with its own words."""
    fs = features(egfr_mlmin173m2=45, uacr_mgg=120, **facts)
    fs.condition_codes = codes
    finding = evaluate(fs, ckd_established=False)
    assert finding.status is Status.NOT_APPLICABLE and finding.value is None and finding.category is None
    assert finding.message.startswith(f"eGFR category G3a and albuminuria category A2 (not CKD staging). {words}: no "
                                      "KDIGO stage or heat-map risk")
