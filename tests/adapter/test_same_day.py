"""Same-day results: the latest by time wins; when the order is unknown (a result without a time, or two with the same
time) a fixed rule decides, and a conflict of values is reported on the card."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from fhir_adapter.features import extract_features
from fhir_adapter.features import selection
from fhir_adapter.features.selection import SAME_DAY_RULE

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
AS_OF = date(2024, 6, 1)
CREATININE = "2160-0"


def patient() -> dict:
    return {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1964-06-02"}


def creatinine(oid, value, when="2024-03-01", unit="mg/dL", **extra) -> dict:
    res = {"resourceType": "Observation", "id": oid, "status": "final",
           "code": {"coding": [{"system": LOINC, "code": CREATININE}]}, "subject": {"reference": "Patient/p1"},
           "effectiveDateTime": when,
           "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}
    res.update(extra)
    return res


def run(*resources):
    return extract_features([patient(), *resources], as_of=AS_OF, features=["creatinine_mgdl"])


def conflicts(fs):
    return [p for p in fs.problems if p.name == "creatinine_mgdl" and "results on" in p.reason]


def test_latest_issued_decides_between_results_without_times_whatever_their_order():
    early = creatinine("a", 1.2, issued="2024-03-01T09:00:00Z")
    late = creatinine("b", 1.9, issued="2024-03-01T15:00:00Z")
    for order in ((early, late), (late, early)):
        fs = run(*order)
        chosen = fs.get("creatinine_mgdl")
        assert chosen.value == 1.9 and chosen.source == "Observation/b"
        [problem] = conflicts(fs)
        assert problem.reason.startswith("2 serum creatinine results on 2024-03-01 without times (1.2, 1.9 mg/dL); "
                                         "used 1.9 mg/dL (Observation/b), the one issued last")
        assert SAME_DAY_RULE in problem.reason
        assert "chosen among 2 same-day results with different values (1.2, 1.9 mg/dL)" in chosen.note
        # The value used comes first in the history too, so detectors read the same newest value.
        assert fs.history["creatinine_mgdl"][0] == chosen
        assert [e.source for e in fs.history["creatinine_mgdl"]] == ["Observation/b", "Observation/a"]


def test_last_updated_decides_when_issued_does_not():
    a = creatinine("a", 1.2, issued="2024-03-01T09:00:00Z", meta={"lastUpdated": "2024-03-02T08:00:00Z"})
    b = creatinine("b", 1.9, meta={"lastUpdated": "2024-03-01T20:00:00Z"})  # no issued: that step cannot decide
    fs = run(b, a)
    assert fs.get("creatinine_mgdl").source == "Observation/a"
    assert "updated last on the server (meta.lastUpdated)" in conflicts(fs)[0].reason


def test_highest_resource_id_is_the_last_resort_and_numeric_ids_compare_as_numbers():
    fs = run(creatinine("10", 1.9), creatinine("9", 1.2))
    assert fs.get("creatinine_mgdl").source == "Observation/10"
    fs = run(creatinine("9", 1.2), creatinine("10", 1.9))
    assert fs.get("creatinine_mgdl").source == "Observation/10"
    assert "the highest resource id" in conflicts(fs)[0].reason


def test_same_value_is_not_a_conflict():
    fs = run(creatinine("a", 1.2), creatinine("b", 1.2))
    assert fs.value("creatinine_mgdl") == 1.2
    assert conflicts(fs) == []
    assert fs.get("creatinine_mgdl").note is None


def test_one_specimen_in_two_units_is_the_same_value():
    # 106 umol/L = 1.199 mg/dL: within 1 %, the same result reported twice.
    fs = run(creatinine("a", 1.2), creatinine("b", 106, unit="umol/L"))
    assert fs.value("creatinine_mgdl") == pytest.approx(1.2, rel=0.01)
    assert conflicts(fs) == []


def test_results_with_times_use_the_latest_time_silently():
    fs = run(creatinine("a", 1.9, when="2024-03-01T08:00:00Z"), creatinine("b", 1.2, when="2024-03-01T16:00:00Z"))
    assert fs.get("creatinine_mgdl").source == "Observation/b"
    assert conflicts(fs) == []


def test_timed_and_untimed_on_the_same_day_are_a_conflict():
    fs = run(creatinine("a", 1.2, when="2024-03-01T16:00:00Z"), creatinine("b", 1.9, when="2024-03-01"))
    assert fs.get("creatinine_mgdl").source == "Observation/b"  # neither issued nor lastUpdated: highest id
    [problem] = conflicts(fs)
    assert "not all with a time, so their order is unknown" in problem.reason


def test_an_earlier_timed_result_is_not_tied_with_a_later_one():
    # 16:00 is known to be after 08:00; the date-only result could be either, so it is tied with 16:00 only.
    fs = run(creatinine("a", 1.5, when="2024-03-01T08:00:00Z"), creatinine("b", 1.2, when="2024-03-01T16:00:00Z"),
             creatinine("c", 1.2, when="2024-03-01"))
    assert fs.value("creatinine_mgdl") == 1.2
    assert conflicts(fs) == []


def test_same_time_in_two_resources_is_a_conflict():
    fs = run(creatinine("a", 1.2, when="2024-03-01T08:00:00Z"), creatinine("b", 1.9, when="2024-03-01T08:00:00Z"))
    assert "with the same time" in conflicts(fs)[0].reason


def test_an_older_day_never_competes():
    fs = run(creatinine("a", 1.9, when="2024-02-29"), creatinine("b", 1.2, when="2024-03-01"))
    assert fs.get("creatinine_mgdl").source == "Observation/b"
    assert conflicts(fs) == []


def test_an_unusable_same_day_result_is_not_a_conflict():
    fs = run(creatinine("a", 1.2), creatinine("b", 1.9, status="preliminary"))
    assert fs.get("creatinine_mgdl").source == "Observation/a"
    assert conflicts(fs) == []
    # Its problem is recorded once, although it was judged while settling the tie.
    assert sum("preliminary" in p.reason for p in fs.problems) == 1


def test_three_results_list_every_value():
    fs = run(creatinine("a", 1.2, issued="2024-03-01T09:00:00Z"), creatinine("b", 1.9, issued="2024-03-01T10:00:00Z"),
             creatinine("c", 1.5, issued="2024-03-01T11:00:00Z"))
    assert fs.get("creatinine_mgdl").source == "Observation/c"
    assert conflicts(fs)[0].reason.startswith("3 serum creatinine results on 2024-03-01 without times "
                                              "(1.2, 1.5, 1.9 mg/dL); used 1.5 mg/dL (Observation/c)")



def chosen_and_conflicts(fs) -> tuple:
    chosen = fs.get("creatinine_mgdl")
    return ((chosen.value, chosen.source, chosen.note), [p.reason for p in conflicts(fs)],
            [e.source for e in fs.history["creatinine_mgdl"]])


@pytest.mark.parametrize("timed, tied", [
    ("2024-05-01T23:00:00-10:00", True),  # 09:00 UTC the next day: 33 h after the date-only one's midnight
    ("2024-05-01T23:59:59-12:00", True),  # the latest instant of a local 1 May: 36 h after
    ("2024-05-01T00:00:00+14:00", True),  # the earliest: 14 h before (sorted after the date-only one)
    ("2024-05-02T00:00:00+14:00", False),  # 10:00 UTC on 1 May, but another day where it was taken
])
def test_a_same_day_tie_is_found_across_the_widest_offsets(monkeypatch, timed, tied):
    """The tie search stops at readings ``_SAME_DAY_SPAN`` older than the newest in UTC: a date-only result and a
    timed one of the same local day may lie 36 h apart (offsets from -12:00 to +14:00), and must still be tied, as
    the search of every older reading ties them."""
    resources = (creatinine("a", 1.2, when=timed), creatinine("b", 1.9, when="2024-05-01"))
    found = chosen_and_conflicts(run(*resources))
    monkeypatch.setattr(selection, "_SAME_DAY_SPAN", timedelta.max)  # the full search, as before the bound
    assert found == chosen_and_conflicts(run(*resources))
    (value, source, note), problems, history = found
    if tied:  # neither issued nor lastUpdated: the highest id, the date-only one
        assert (value, source, history) == (1.9, "Observation/b", ["Observation/b", "Observation/a"])
        assert "chosen among 2 same-day results" in note
        [problem] = problems
        assert problem.startswith("2 serum creatinine results on 2024-05-01 not all with a time")
    else:
        assert (value, source, note, problems) == (1.2, "Observation/a", None, [])

# -- one eGFR per patient: the lab-reported eGFR of the creatinine's day -----------------------------------------------
def egfr(oid, value, when) -> dict:
    res = creatinine(oid, value, when=when, unit="mL/min/{1.73_m2}")
    res["code"] = {"coding": [{"system": LOINC, "code": "98979-8"}]}
    return res


def egfr_run(*resources):
    return extract_features([patient(), *resources], as_of=AS_OF, features=["egfr_mlmin173m2"])


def test_lab_reported_egfr_of_the_creatinine_day_is_the_value_and_the_newest_history_entry():
    # The creatinine is timed an hour after the eGFR of the same draw: the day decides, so the lab's value is used,
    # and the history the CKD detector reads starts with the same value.
    fs = egfr_run(creatinine("cr", 1.0, when="2024-03-01T09:00:00Z"), egfr("e", 64, "2024-03-01T08:00:00Z"))
    value = fs.get("egfr_mlmin173m2")
    assert value.value == 64 and value.source == "Observation/e"
    assert fs.history["egfr_mlmin173m2"][0] == value
    assert value.note == "lab-reported; CKD-EPI 2021 from the same-day creatinine: 64.9"  # woman 59, Scr 1.0
    assert not [p for p in fs.problems if p.name == "egfr_mlmin173m2"]


def test_a_discordant_lab_reported_egfr_gives_way_to_ckd_epi_2021():
    fs = egfr_run(creatinine("cr", 2.6), egfr("e", 84.2, "2024-03-01"))
    used = fs.get("egfr_mlmin173m2")
    # CKD-EPI 2021 from the measured creatinine (race-free, NKF-ASN 2021), carrying the lab value it replaces.
    assert used.source is None and used.value < 25
    assert [e.name for e in used.derived_from][:1] == ["creatinine_mgdl"]
    assert used.derived_from[-1].source == "Observation/e" and used.derived_from[-1].value == 84.2
    assert fs.history["egfr_mlmin173m2"][0] is used
    [problem] = [p for p in fs.problems if p.name == "egfr_mlmin173m2"]
    assert problem.source == "Observation/e"  # the value not used is the lab's
    # At display precision: eGFR whole, creatinine two decimals (engine/feature_catalog.py).
    assert problem.reason.startswith("Lab-reported eGFR 84 vs CKD-EPI 2021 21 (G4) from the same-day creatinine 2.60 "
                                     "mg/dL")


def test_a_newer_creatinine_gives_the_derived_value():
    fs = egfr_run(creatinine("cr", 1.0, when="2024-03-02"), egfr("e", 64, "2024-03-01"))
    assert fs.get("egfr_mlmin173m2").source is None and fs.get("egfr_mlmin173m2").note == "CKD-EPI 2021"
    assert fs.history["egfr_mlmin173m2"][0].value == fs.value("egfr_mlmin173m2")
