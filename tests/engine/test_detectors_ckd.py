"""ckd-gap: KDIGO 2012 markers, > 90-day persistence, G/A staging and codes, suppression, bad data."""
from __future__ import annotations

import pytest

from engine.detectors.ckd import a_category, g_category
from engine.finding import Status
from engine.proposals import Coding
from tests.engine.detector_fixtures import ICD10CM, SNOMED, action_resources, days_ago, ev, fired, one, run, sources, with_results

CKD = "ckd-gap"


def egfr(value, ago, **kw):
    return ev("egfr_mlmin173m2", value, days_ago(ago), **kw)


def acr(value, ago, **kw):
    return ev("uacr_mgg", value, days_ago(ago), **kw)


def record(*results, **facts):
    return with_results(*results, **{"age_years": 67, "sex": "female", **facts})


# -- staging -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, category", [(90, "G1"), (89.9, "G2"), (60, "G2"), (59.9, "G3a"), (45, "G3a"),
                                             (44.9, "G3b"), (30, "G3b"), (29.9, "G4"), (15, "G4"), (14.9, "G5")])
def test_kdigo_g_categories(value, category):
    assert g_category(value) == category


@pytest.mark.parametrize("value, category", [(29.9, "A1"), (30, "A2"), (299.9, "A2"), (300, "A3")])
def test_kdigo_a_categories(value, category):
    assert a_category(value) == category


# -- markers and persistence, both sides -------------------------------------------------------------------------------
def test_egfr_59_9_is_a_marker_and_60_is_not():
    assert fired(CKD, record(egfr(60, 200), egfr(60, 10))) is None
    found = fired(CKD, record(egfr(59.9, 200), egfr(59.9, 10)))
    assert found.category == "KDIGO criteria met"
    assert found.condition.codings[0] == Coding(SNOMED, "700378005", "Chronic kidney disease stage 3A")


def test_acr_29_9_is_not_a_marker_and_30_is():
    assert fired(CKD, record(acr(29.9, 200), acr(29.9, 10), egfr(75, 10))) is None
    found = fired(CKD, record(acr(30, 200), acr(30, 10), egfr(75, 10)))
    assert found.value.startswith("G2 A2")
    condition = action_resources(found, "Condition")[0]
    assert condition["code"]["coding"][1]["code"] == "N18.2"


@pytest.mark.parametrize("span, persistent", [(90, False), (91, True)])
def test_persistence_needs_more_than_90_days(span, persistent):
    found = fired(CKD, record(egfr(52, 5 + span, source="Observation/first"), egfr(50, 5, source="Observation/last")))
    if persistent:
        assert found.category == "KDIGO criteria met"
        assert action_resources(found, "Condition")
    else:
        assert found.category == "G3a, needs > 90 days"
        assert not action_resources(found, "Condition")
        orders = [r["code"]["coding"][0]["code"] for r in action_resources(found, "ServiceRequest")]
        assert orders == ["2160-0", "9318-7"]  # repeat creatinine/eGFR; ACR (none on record)
    assert sources(found) == {"Observation/first", "Observation/last"}


def test_a_normal_result_between_breaks_the_run():
    found = fired(CKD, record(egfr(50, 300), egfr(65, 150), egfr(52, 5)))
    assert found.category == "G3a, needs > 90 days"


def test_newest_result_normal_means_no_finding():
    assert fired(CKD, record(egfr(50, 300), egfr(52, 150), egfr(61, 5))) is None


def test_either_marker_persisting_is_enough_and_stage_uses_newest_results():
    found = fired(CKD, record(egfr(40, 200), egfr(38, 10), acr(45, 10)))
    assert found.value.startswith("G3b A2")
    assert found.condition.codings[1].code == "N18.32"
    heat = {t.label: t.value for t in found.explanation}["KDIGO prognosis (heat map)"]
    assert heat == "very high risk"


def test_confirmed_egfr_without_acr_proposes_acr():
    found = fired(CKD, record(egfr(25, 200), egfr(24, 10)))
    assert found.condition.codings[1].code == "N18.4"
    orders = action_resources(found, "ServiceRequest")
    assert [o["code"]["coding"][0]["code"] for o in orders] == ["9318-7"]


def test_albuminuria_without_egfr_is_unstaged_ckd():
    found = fired(CKD, record(acr(400, 200), acr(350, 10)))
    assert found.value.startswith("A3")
    assert found.condition.codings[1].code == "N18.9"


# -- scope and problem list --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("facts, codes", [
    ({"chronic_kidney_disease": True}, set()),
    ({}, {(ICD10CM, "N18.30")}),
    ({}, {(ICD10CM, "E11.22")}),
    ({}, {(SNOMED, "431855005")}),  # CKD stage 1 (Synthea)
    ({"dialysis_or_transplant": True}, set()),
])
def test_no_finding_when_ckd_is_known(facts, codes):
    assert run(CKD, record(egfr(40, 200), egfr(38, 10), codes=codes, **facts)) == []


def test_children_and_unknown_age():
    assert run(CKD, record(egfr(40, 200), egfr(38, 10), age_years=12)) == []
    found = one(CKD, record(egfr(40, 200), egfr(38, 10), age_years=None))
    assert found.status is Status.INSUFFICIENT_DATA


# -- bad data ----------------------------------------------------------------------------------------------------------
def test_stale_results_do_not_make_persistence():
    found = fired(CKD, record(egfr(45, 800, source="Observation/old"), egfr(46, 10)))
    assert found.category == "G3a, needs > 90 days"
    assert any(p.source == "Observation/old" for p in found.input_problems)


def test_acr_in_mg_per_mmol_is_not_read_as_mg_per_g():
    found = fired(CKD, record(acr(5.0, 200, unit="mg/mmol", source="Observation/mmol"),
                              acr(40, 10), egfr(80, 10)))
    assert found.category == "G2 A2, moderately increased risk, needs > 90 days"
    assert any(p.source == "Observation/mmol" and "mislabelled" in p.reason for p in found.input_problems)


def test_derived_egfr_cites_the_creatinine():
    creat = ev("creatinine_mgdl", 1.4, days_ago(10), source="Observation/cr")
    derived = ev("egfr_mlmin173m2", 41, days_ago(10))
    derived = type(derived)(**{**derived.__dict__, "source": None, "derived_from": (creat,)})
    found = fired(CKD, record(egfr(43, 200, source="Observation/e1"), derived))
    condition = action_resources(found, "Condition")[0]
    assert [d["reference"] for d in condition["evidence"][0]["detail"]] == ["Observation/cr", "Observation/e1"]
