"""CKD-EPI 2021 creatinine-cystatin C equation (Inker 2021) and the KDIGO 2012 cystatin C confirmation rule."""
from __future__ import annotations

import math
from datetime import date

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from engine.calculators.ckd_epi_cr_cys import (
    CkdEpi2021CreatinineCystatin,
    ckd_epi_2021_cr_cys,
    ckd_epi_2021_cr_cys_detail,
    cystatin_c_confirmation_indicated,
)
from engine.finding import Severity, Status
from engine.inputs import FeatureSet
from engine.registry import calculators
from engine.runner import run_engines
from tests.engine.builders import AS_OF, ev, features, only_finding
from tests.proposal_resources import resource as proposal_resource


def evaluate(fs: FeatureSet):
    return only_finding(CkdEpi2021CreatinineCystatin(), fs)


# -- the equation ---------------------------------------------------------------------------------------

def test_man_60_creatinine_1_4_cystatin_0_8():
    """Example inputs of the kidney.epi package (egfr.ckdepi.cr_cys.2021).
    135 x (1.4/0.9)^-0.544 x (0.8/0.8 = 1) x 0.9961^60 = 135 x 0.786346 x 0.791020 = 83.97."""
    assert ckd_epi_2021_cr_cys(creatinine_mgdl=1.4, cystatin_c_mgl=0.8, age_years=60, sex="male") == pytest.approx(
        83.97, abs=0.01)


def test_woman_50_both_markers_above_their_knots():
    """135 x (0.8/0.7)^-0.544 x (1.2/0.8)^-0.778 x 0.9961^50 x 0.963
    = 135 x 0.929935 x 0.729441 x 0.822521 x 0.963 = 72.54."""
    assert ckd_epi_2021_cr_cys(creatinine_mgdl=0.8, cystatin_c_mgl=1.2, age_years=50, sex="female") == pytest.approx(
        72.54, abs=0.01)


def test_markers_at_their_knots_leave_constant_age_and_sex():
    """Scr = kappa and Scys = 0.8: every marker factor is 1; 135 x 0.9961^40 x 0.963 = 111.19."""
    result = ckd_epi_2021_cr_cys_detail(creatinine_mgdl=0.7, cystatin_c_mgl=0.8, age_years=40, sex="female")
    assert result.egfr_mlmin173m2 == pytest.approx(111.19, abs=0.01)
    assert [t.value for t in result.terms[1:5]] == [1.0, 1.0, 1.0, 1.0]


def test_below_the_knots_the_low_exponents_apply():
    """Man 30, Scr 0.6, Scys 0.6: 135 x (0.6/0.9)^-0.144 x (0.6/0.8)^-0.323 x 0.9961^30 = 139.68."""
    assert ckd_epi_2021_cr_cys(creatinine_mgdl=0.6, cystatin_c_mgl=0.6, age_years=30, sex="male") == pytest.approx(
        139.68, abs=0.01)


@pytest.mark.parametrize("sex,kappa", [("female", 0.7), ("male", 0.9)])
def test_continuous_at_both_knots(sex, kappa):
    at = ckd_epi_2021_cr_cys(creatinine_mgdl=kappa, cystatin_c_mgl=0.8, age_years=50, sex=sex)
    for cr, cys in ((kappa - 1e-9, 0.8), (kappa + 1e-9, 0.8), (kappa, 0.8 - 1e-9), (kappa, 0.8 + 1e-9)):
        assert ckd_epi_2021_cr_cys(creatinine_mgdl=cr, cystatin_c_mgl=cys, age_years=50, sex=sex) == pytest.approx(at)


def test_contributions_sum_to_log_egfr():
    result = ckd_epi_2021_cr_cys_detail(creatinine_mgdl=1.9, cystatin_c_mgl=1.7, age_years=72, sex="male")
    assert math.fsum(t.contribution for t in result.terms) == pytest.approx(math.log(result.egfr_mlmin173m2))


@pytest.mark.parametrize("kwargs", [dict(creatinine_mgdl=0), dict(cystatin_c_mgl=-1), dict(age_years=17),
                                    dict(sex="other"), dict(cystatin_c_mgl=float("nan"))])
def test_invalid_input_raises_value_error(kwargs):
    values = dict(creatinine_mgdl=1.0, cystatin_c_mgl=1.0, age_years=50, sex="female")
    values.update(kwargs)
    with pytest.raises(ValueError):
        ckd_epi_2021_cr_cys(**values)


# -- KDIGO 2012 rec. 1.4.3.5: when to suggest cystatin C ------------------------------------------------

@pytest.mark.parametrize("egfr_cr,uacr,indicated", [
    (44.9, None, False), (45, None, True),     # G3b vs G3a, compared unrounded
    (59.9, None, True), (60, None, False),     # G3a vs G2
    (52, 29.9, True), (52, 30, False),         # no albuminuria vs A2 (a marker of kidney damage)
])
def test_cystatin_c_confirmation_boundaries(egfr_cr, uacr, indicated):
    assert cystatin_c_confirmation_indicated(egfr_cr, uacr) is indicated


# -- the engine ------------------------------------------------------------------------------------------

def test_registered():
    assert isinstance(calculators.get("ckd-epi-2021-cr-cys"), CkdEpi2021CreatinineCystatin)


def test_computed_finding():
    fs = features(creatinine_mgdl=1.4, cystatin_c_mgl=0.8, age_years=60, sex="male")
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert finding.id == "ckd-epi-2021-cr-cys:egfr"
    assert finding.value == pytest.approx(83.97, abs=0.01)
    assert (finding.unit, finding.category, finding.severity) == ("mL/min/1.73m2", "G2", Severity.INFO)
    assert all(any(item is fs.get(n) for item in finding.inputs)
               for n in ("creatinine_mgdl", "cystatin_c_mgl", "age_years", "sex"))
    # The creatinine-only estimate travels as a measure: 142 x (1.4/0.9)^-1.2 x 0.9938^60
    # = 142 x 0.588482 x 0.688549 = 57.54 (G3a), so cystatin C moves this man from G3a to G2.
    assert finding.measures[0].value == pytest.approx(57.54, abs=0.01)
    assert finding.measures[0].category == "G3a"
    assert math.fsum(t.contribution for t in finding.explanation) == pytest.approx(math.log(finding.value))
    assert finding.citation.doi == "10.1056/NEJMoa2102953"
    assert not any("same day" in a for a in finding.assumptions)


def test_markers_from_different_days_are_noted():
    fs = features(age_years=60, sex="male")
    fs.put(ev("creatinine_mgdl", 1.4, date(2024, 5, 1)))
    fs.put(ev("cystatin_c_mgl", 0.8, date(2024, 5, 20)))
    finding = evaluate(fs)
    assert finding.status is Status.COMPUTED
    assert any("19 days apart" in a for a in finding.assumptions)


def test_missing_cystatin_in_g3a_without_albuminuria_suggests_cystatin_c():
    """Woman 60, Scr 1.1: eGFRcr 142 x (1.1/0.7)^-1.2 x 0.9938^60 x 1.012 = 57.5 (G3a), no UACR recorded."""
    finding = evaluate(features(creatinine_mgdl=1.1, age_years=60, sex="female"))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == ["cystatin_c_mgl"]
    resource = proposal_resource(finding)
    assert (resource["resourceType"], resource["status"], resource["intent"]) == ("ServiceRequest", "draft", "proposal")
    assert resource["code"]["coding"][0]["code"] == "33863-2"
    assert resource["subject"] == {"reference": "Patient/p1"}


@pytest.mark.parametrize("values", [
    dict(creatinine_mgdl=1.2, age_years=55, sex="male"),                 # eGFRcr 71: G2
    dict(creatinine_mgdl=1.1, age_years=60, sex="female", uacr_mgg=45),  # G3a but albuminuria already shows CKD
])
def test_no_cystatin_suggestion_outside_the_kdigo_indication(values):
    finding = evaluate(features(**values))
    # A confirmatory test not indicated here: not applicable (no "data needed" card asks for it), no suggestion.
    assert finding.status is Status.NOT_APPLICABLE
    assert "KDIGO 2012 (rec. 1.4.3.5)" in finding.message
    assert finding.suggestions == ()


@pytest.mark.parametrize("age,status", [(17, Status.NOT_APPLICABLE), (18, Status.COMPUTED)])
def test_adults_only(age, status):
    finding = evaluate(features(creatinine_mgdl=0.8, cystatin_c_mgl=0.9, age_years=age, sex="female"))
    assert finding.status is status
    if status is Status.NOT_APPLICABLE:
        assert finding.value is None and "18" in finding.message


@pytest.mark.parametrize("name,value", [("cystatin_c_mgl", 0), ("cystatin_c_mgl", "high"), ("sex", "unknown"),
                                        ("creatinine_mgdl", float("inf")), ("age_years", "fifty")])
def test_unusable_values_are_insufficient_not_errors(name, value):
    values = dict(creatinine_mgdl=1.0, cystatin_c_mgl=1.0, age_years=50, sex="female")
    values[name] = value
    finding = evaluate(features(**values))
    assert finding.status is Status.INSUFFICIENT_DATA
    assert [m.name for m in finding.missing] == [name]


def test_g5_is_critical():
    finding = evaluate(features(creatinine_mgdl=6.0, cystatin_c_mgl=5.0, age_years=60, sex="male"))
    assert (finding.category, finding.severity) == ("G5", Severity.CRITICAL)


def test_empty_feature_set_through_runner_is_not_an_error():
    findings = run_engines([calculators.get("ckd-epi-2021-cr-cys")], FeatureSet(as_of=AS_OF))
    # Cystatin C is a confirmatory test, asked for only where KDIGO 2012 suggests it: not applicable here.
    assert [f.status for f in findings] == [Status.NOT_APPLICABLE]
    assert "confirmatory test" in findings[0].message
