"""FeatureSet.history (ordering, windows, derived entries), condition_codes, now / time zones and options,
and every Synthea sample patient (skipped when ../shared is absent)."""
from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.inputs import FEATURE_LABELS
from fhir_adapter.features import (
    DEFAULT_HISTORY_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    HISTORY_MAX_ENTRIES,
    extract_features,
)
from fhir_adapter.parse import parse_fhir_datetime, validation, warm_up

ROOT = Path(__file__).resolve().parents[2]
SYNTHEA = ROOT.parent / "shared" / "data" / "synthea"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
AS_OF = date(2024, 6, 1)


def patient(pid="p1", birth="1964-06-02"):
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": birth}


def obs(oid, code, value, unit, when, status="final", subject="Patient/p1"):
    return {"resourceType": "Observation", "id": oid, "status": status, "subject": {"reference": subject},
            "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def condition(cid, system, code, clinical="active", verification="confirmed", subject="Patient/p1", **extra):
    res = {"resourceType": "Condition", "id": cid, "subject": {"reference": subject},
           "code": {"coding": [{"system": system, "code": code}]}}
    if clinical:
        res["clinicalStatus"] = {"coding": [{"code": clinical}]}
    if verification:
        res["verificationStatus"] = {"coding": [{"code": verification}]}
    res.update(extra)
    return res


def run(*resources, **kw):
    kw.setdefault("as_of", AS_OF)
    return extract_features([patient(), *resources], **kw)


# -- history: ordering and windows --------------------------------------------------------------------
def test_history_is_newest_first_across_time_zones():
    # 23:30 in Chicago on 20 May is 04:30 UTC on 21 May: later than 01:00 UTC on 21 May
    fs = run(obs("a", "8867-4", 70, "/min", "2024-05-21T01:00:00+00:00"),
             obs("b", "8867-4", 80, "/min", "2024-05-20T23:30:00-05:00"),
             obs("c", "8867-4", 90, "/min", "2024-05-22"))
    assert [e.source for e in fs.history["heart_rate_min"]] == ["Observation/c", "Observation/b", "Observation/a"]
    assert fs.get("heart_rate_min").source == "Observation/c"
    assert fs.series("heart_rate_min") == fs.history["heart_rate_min"]


def test_history_entries_are_full_evidence():
    fs = run(obs("a", "4548-4", 6.7, "%", "2024-01-10"), obs("b", "59261-8", 53, "mmol/mol", "2023-07-01"))
    older = fs.history["hba1c_pct"][1]
    assert older.name == "hba1c_pct" and older.label == "HbA1c" and older.unit == "%"
    assert older.source == "Observation/b" and older.effective == date(2023, 7, 1)
    assert older.value == pytest.approx(0.09148 * 53 + 2.152) and older.note == "converted from 53 mmol/mol"


@pytest.mark.parametrize("name, code, unit, value", [("hba1c_pct", "4548-4", "%", 6.6),
                                                     ("sbp_mmhg", "8480-6", "mm[Hg]", 142),
                                                     ("glucose_fasting_mgdl", "1558-6", "mg/dL", 131),
                                                     ("uacr_mgg", "9318-7", "mg/g", 45),
                                                     ("egfr_mlmin173m2", "98979-8", "mL/min/{1.73_m2}", 55)])
def test_two_year_history_window_both_sides(name, code, unit, value):
    window = DEFAULT_HISTORY_DAYS[name]
    assert window == 730 and DEFAULT_LOOKBACK_DAYS[name] == 365
    on_edge = (AS_OF - timedelta(days=window)).isoformat()
    past_edge = (AS_OF - timedelta(days=window + 1)).isoformat()
    fs = run(obs("new", code, value, unit, "2024-05-01"), obs("edge", code, value, unit, on_edge),
             obs("old", code, value, unit, past_edge))
    assert [e.source for e in fs.history[name]] == ["Observation/new", "Observation/edge"]
    assert [p.reason for p in fs.problems if p.name == name] == []  # older results are simply outside


def test_history_outside_the_latest_window_leaves_the_value_missing():
    fs = run(obs("a", "8480-6", 150, "mm[Hg]", "2023-01-15"), obs("b", "8480-6", 148, "mm[Hg]", "2022-12-01"))
    assert not fs.has("sbp_mmhg")
    assert fs.missing["sbp_mmhg"].reason == ("latest systolic blood pressure result (2023-01-15) "
                                             "older than the 1-year look-back")
    assert [e.value for e in fs.history["sbp_mmhg"]] == [150, 148]
    assert fs.series("sbp_mmhg") == fs.history["sbp_mmhg"]


def test_history_skips_rejected_values_with_problems():
    fs = run(obs("a", "4548-4", 6.8, "%", "2024-05-01"), obs("b", "4548-4", 68, "%", "2024-01-01"),
             obs("c", "4548-4", 6.9, "%", "2023-09-01", status="preliminary"),
             obs("d", "4548-4", 6.6, "%", "2023-06-01"))
    assert [e.source for e in fs.history["hba1c_pct"]] == ["Observation/a", "Observation/d"]
    reasons = [(p.source, p.reason[:20]) for p in fs.problems if p.name == "hba1c_pct"]
    assert reasons == [("Observation/b", "implausible value (6"), ("Observation/c", "status 'preliminary'")]


def test_history_and_lookback_overrides():
    fs = run(obs("a", "1558-6", 130, "mg/dL", "2024-05-01"), obs("b", "1558-6", 128, "mg/dL", "2023-05-01"),
             history_days={"glucose_fasting_mgdl": 100})
    assert [e.source for e in fs.history["glucose_fasting_mgdl"]] == ["Observation/a"]
    fs = run(obs("a", "1558-6", 130, "mg/dL", "2024-05-01"), obs("b", "1558-6", 128, "mg/dL", "2021-05-01"),
             lookback_days={"glucose_fasting_mgdl": 1500})  # the history is never shorter than the look-back
    assert len(fs.history["glucose_fasting_mgdl"]) == 2


def test_history_is_capped():
    start = datetime(2024, 5, 20, tzinfo=timezone.utc)
    hourly = [obs(f"hr{i}", "8867-4", 70 + i % 20, "/min", (start + timedelta(hours=i)).isoformat())
              for i in range(HISTORY_MAX_ENTRIES + 30)]
    fs = run(*hourly)
    assert len(fs.history["heart_rate_min"]) == HISTORY_MAX_ENTRIES
    assert fs.history["heart_rate_min"][0].source == f"Observation/hr{HISTORY_MAX_ENTRIES + 29}"


def test_history_only_for_lab_and_vital_features():
    fs = run()
    assert "smoker_current" not in fs.history and "diabetes" not in fs.history
    assert fs.history["hba1c_pct"] == [] and fs.series("hba1c_pct") == []
    for name in ("uacr_mgg", "spo2_pct", "on_supplemental_o2", "consciousness_avpu", "weight_kg", "bmi_kgm2"):
        assert name in fs.history


def test_older_history_entries_are_not_model_validated_unless_asked():
    bad = obs("bad", "4548-4", 6.7, "%", "2023-06-01")
    bad["interpretation"] = "H"  # should be a list of CodeableConcepts; not an element the adapter reads
    bad["issued"] = "yesterday"  # an element the adapter reads (date fallback): fails validation
    good = obs("good", "4548-4", 6.9, "%", "2024-05-01")
    fs = run(good, bad)
    assert [e.source for e in fs.history["hba1c_pct"]] == ["Observation/good", "Observation/bad"]
    fs = run(good, bad, options={"validate_history": True})
    assert [e.source for e in fs.history["hba1c_pct"]] == ["Observation/good"]
    assert "not a valid FHIR R4 Observation" in [p.reason for p in fs.problems if p.name == "hba1c_pct"][0]


def test_a_resource_known_to_be_invalid_never_enters_history():
    bad = obs("bad", "4548-4", 6.7, "%", "2024-05-01")
    bad["issued"] = "yesterday"
    fs = run(bad, obs("ok", "4548-4", 6.5, "%", "2024-01-01"))
    assert fs.get("hba1c_pct").source == "Observation/ok"  # the newer one failed validation as the candidate
    assert [e.source for e in fs.history["hba1c_pct"]] == ["Observation/ok"]


# -- derived histories ----------------------------------------------------------------------------------
def test_egfr_history_merges_reported_and_derived_with_age_at_the_date():
    pytest.importorskip("engine.calculators.ckd_epi")
    fs = run(obs("cr-new", "2160-0", 1.0, "mg/dL", "2024-05-01"),
             obs("e-old", "98979-8", 61, "mL/min/{1.73_m2}", "2023-09-01"),
             obs("cr-old", "2160-0", 1.0, "mg/dL", "2023-06-01"))
    history = fs.history["egfr_mlmin173m2"]
    assert [(e.source, e.note) for e in history] == [(None, "CKD-EPI 2021"), ("Observation/e-old", None),
                                                      (None, "CKD-EPI 2021")]
    oldest = history[-1]
    age = oldest.derived_from[1]
    assert age.value == 58 and age.note == "age at the creatinine date"  # born 1964-06-02; 59 on as_of
    assert history[0].derived_from[1].value == 59
    # Inker 2021, female, Scr 1.0: 142 x (1/0.7)^-1.2 x 0.9938^age x 1.012
    assert history[0].value == pytest.approx(142 * (1 / 0.7) ** -1.2 * 0.9938 ** 59 * 1.012, rel=1e-6)
    assert oldest.value == pytest.approx(142 * (1 / 0.7) ** -1.2 * 0.9938 ** 58 * 1.012, rel=1e-6)
    assert fs.get("egfr_mlmin173m2") is history[0]


def test_reported_egfr_on_the_same_day_replaces_the_derived_one():
    pytest.importorskip("engine.calculators.ckd_epi")
    fs = run(obs("cr", "2160-0", 1.0, "mg/dL", "2024-05-01"), obs("e", "98979-8", 64, "mL/min/{1.73_m2}", "2024-05-01"))
    assert [e.source for e in fs.history["egfr_mlmin173m2"]] == ["Observation/e"]


def test_bmi_history_adds_derived_values_for_weights_without_bmi():
    fs = run(obs("h", "8302-2", 160, "cm", "2020-01-01"), obs("w1", "29463-7", 64, "kg", "2024-04-01"),
             obs("w2", "29463-7", 70, "kg", "2023-10-01"), obs("b2", "39156-5", 27.3, "kg/m2", "2023-10-01"))
    history = fs.history["bmi_kgm2"]
    assert [(round(e.value, 2), e.source) for e in history] == [(25.0, None), (27.3, "Observation/b2")]
    assert fs.value("weight_kg") == 64 and fs.value("height_cm") == 160
    assert [e.value for e in fs.history["weight_kg"]] == [64, 70]


# -- condition codes ---------------------------------------------------------------------------------
def test_condition_codes_cover_the_whole_active_problem_list():
    fs = run(condition("a", SNOMED, "195967001"),  # asthma: no feature reads it, still listed
             condition("b", "urn:oid:2.16.840.1.113883.6.90", "E11.9"),  # ICD-10-CM by OID
             condition("c", "https://snomed.info/sct", "38341003", clinical="recurrence"),
             condition("d", SNOMED, "44054006", verification="provisional"),  # on the list, unconfirmed
             condition("e", SNOMED, "49436004", clinical=None),  # no status, no abatement: active
             condition("f", SNOMED, "22298006", clinical=None, abatementDateTime="2020-01-01"),
             condition("g", SNOMED, "271737000", clinical="resolved"),
             condition("h", SNOMED, "230690007", verification="refuted"),
             condition("i", SNOMED, "414916001", verification="entered-in-error"),
             condition("j", SNOMED, "709044004", subject="Patient/other"))
    assert fs.condition_codes == {(SNOMED, "195967001"), (ICD10CM, "E11.9"), (SNOMED, "38341003"),
                                  (SNOMED, "44054006"), (SNOMED, "49436004")}


def test_condition_codes_keep_every_coding_and_skip_codings_without_system():
    multi = condition("m", SNOMED, "44054006")
    multi["code"]["coding"].append({"system": ICD10CM, "code": " E11.9 "})
    multi["code"]["coding"].append({"code": "250.00"})
    fs = run(multi)
    assert fs.condition_codes == {(SNOMED, "44054006"), (ICD10CM, "E11.9")}


def test_unrelated_conditions_are_not_validated():
    calls = []
    original = validation.validation_problem

    def counting(resource, ref=None):
        calls.append(ref)
        return original(resource, ref)

    validation.validation_problem = counting
    try:
        run(*[condition(f"c{i}", SNOMED, "195967001") for i in range(20)])
    finally:
        validation.validation_problem = original
    assert calls == ["Patient/p1"]


# -- now, time zones, options ---------------------------------------------------------------------------
def test_now_and_options_are_stored():
    now = datetime(2024, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    fs = run(now=now, options={"vitals_max_age_h": 12})
    assert fs.now == now and fs.options == {"vitals_max_age_h": 12}
    fs = run()
    assert fs.now is None and fs.options == {}


def test_naive_now_is_utc_and_as_of_defaults_to_its_date():
    fs = extract_features([patient()], now=datetime(2024, 6, 1, 23, 30))
    assert fs.now == datetime(2024, 6, 1, 23, 30, tzinfo=timezone.utc)
    assert fs.as_of == date(2024, 6, 1) and fs.value("age_years") == 59
    with pytest.raises(TypeError):
        extract_features([patient()])


def test_vital_timed_after_now_is_future_but_clock_skew_is_tolerated():
    now = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
    fs = run(obs("late", "9279-1", 30, "/min", "2024-06-01T08:10:00-04:00"),  # 12:10 UTC: 10 min after now
             obs("skew", "9279-1", 22, "/min", "2024-06-01T08:03:00-04:00"),  # 3 min after now: clock skew
             now=now)
    assert fs.get("respiratory_rate_min").source == "Observation/skew"
    assert [p.reason for p in fs.problems if p.name == "respiratory_rate_min"] == [
        "timed after the request time (2024-06-01T08:10:00-04:00); not used"]


def test_effective_keeps_the_recorded_offset():
    fs = run(obs("hr", "8867-4", 77, "/min", "2024-06-01T09:15:00+09:30"),
             now=datetime(2024, 6, 1, 0, 0, tzinfo=timezone.utc))
    effective = fs.get("heart_rate_min").effective
    assert effective.utcoffset() == timedelta(hours=9, minutes=30)
    assert fs.now - effective == timedelta(minutes=15)


# -- robustness ---------------------------------------------------------------------------------------------
_value = st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.floats(allow_nan=True), st.text(max_size=6),
                   st.sampled_from(["2024-05-01", "active", "completed", "MTH", "88-92%", "%", "L/min"]))
_coding = st.fixed_dictionaries({"system": st.sampled_from([LOINC, SNOMED, ICD10CM, None,
                                                            "http://terminology.hl7.org/CodeSystem/v3-RoleCode"]),
                                 "code": st.sampled_from(["59408-5", "44054006", "MTH", "302497006", "70536003",
                                                          "67775-7", "3151-8", "E11.9", 7])})
_resource = st.fixed_dictionaries({
    "resourceType": st.sampled_from(["Goal", "Procedure", "FamilyMemberHistory", "Observation", "Condition"]),
    "id": st.one_of(st.text(max_size=3), st.integers()),
    "status": _value, "lifecycleStatus": _value,
    "code": st.one_of(_value, st.fixed_dictionaries({"coding": st.lists(_coding, max_size=2)})),
    "relationship": st.one_of(_value, st.fixed_dictionaries({"coding": st.lists(_coding, max_size=1)})),
    "condition": st.one_of(_value, st.lists(st.fixed_dictionaries({"code": st.fixed_dictionaries(
        {"coding": st.lists(_coding, max_size=1)})}), max_size=2)),
    "target": st.one_of(_value, st.lists(st.fixed_dictionaries({
        "measure": st.fixed_dictionaries({"coding": st.lists(_coding, max_size=1)}),
        "detailRange": st.one_of(_value, st.fixed_dictionaries({"high": st.fixed_dictionaries(
            {"value": _value, "unit": _value})}))}), max_size=2)),
    "description": st.one_of(_value, st.fixed_dictionaries({"text": _value})),
    "performedDateTime": _value, "effectiveDateTime": _value, "date": _value,
    "valueString": _value, "valueQuantity": st.one_of(_value, st.fixed_dictionaries({"value": _value, "unit": _value})),
    "component": st.one_of(_value, st.lists(st.fixed_dictionaries({"code": st.fixed_dictionaries(
        {"coding": st.lists(_coding, max_size=1)}), "valueQuantity": _value}), max_size=2)),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resources=st.lists(_resource, max_size=6), now=st.one_of(st.none(), st.datetimes()))
def test_new_resource_types_never_raise(resources, now):
    fs = extract_features([patient(), *resources], as_of=AS_OF, now=now, options={"validate_history": True})
    for name in FEATURE_LABELS:
        assert name in fs.values or name in fs.missing


# -- Synthea ----------------------------------------------------------------------------------------------
def _synthea_files():
    return sorted(SYNTHEA.glob("*.json")) if SYNTHEA.is_dir() else []


def _as_of(bundle) -> date:
    dates = [parse_fhir_datetime(e.get("resource", {}).get("effectiveDateTime")) for e in bundle.get("entry", [])]
    return max(d for d in dates if d is not None).date()


def _expected_condition_codes(bundle) -> set[tuple[str, str]]:
    out = set()
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] != "Condition":
            continue
        status = res.get("clinicalStatus", {}).get("coding", [{}])[0].get("code")
        if status in ("active", "recurrence", "relapse"):
            out.update((c["system"], c["code"]) for c in res["code"]["coding"])
    return out


@pytest.fixture(scope="module")
def synthea():
    files = _synthea_files()
    if not files:
        pytest.skip("Synthea sample bundles not present")
    warm_up()
    return [json.loads(path.read_text()) for path in files]


def test_synthea_every_patient_every_feature(synthea):
    for bundle in synthea:
        as_of = _as_of(bundle)
        fs = extract_features(bundle, as_of=as_of, now=datetime.combine(as_of, datetime.max.time(), timezone.utc))
        for name in FEATURE_LABELS:
            assert name in fs.values or name in fs.missing, name
        assert fs.condition_codes == _expected_condition_codes(bundle)
        for name, entries in fs.history.items():
            keys = [parse_fhir_datetime(e.effective.isoformat()) if isinstance(e.effective, datetime) else
                    datetime.combine(e.effective, datetime.min.time(), timezone.utc) for e in entries]
            assert keys == sorted(keys, reverse=True), name
            window = max(DEFAULT_LOOKBACK_DAYS.get(name, 0), DEFAULT_HISTORY_DAYS.get(name, 0))
            assert all((as_of - k.date()).days <= window for k in keys), name
            if fs.has(name):
                assert fs.get(name) in entries, name


def test_synthea_known_patients(synthea):
    by_name = {}
    for bundle in synthea:
        pat = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        by_name[pat["name"][0]["given"][0]] = extract_features(bundle, as_of=_as_of(bundle))
    if {"Christin", "Rudy", "Dirk", "Tommy"} - set(by_name):
        pytest.skip("a different Synthea sample")
    christin, rudy, dirk, tommy = by_name["Christin"], by_name["Rudy"], by_name["Dirk"], by_name["Tommy"]
    assert christin.value("atrial_fibrillation") is True and christin.value("anticoagulant") is True  # warfarin
    assert "855332" in christin.get("anticoagulant").note
    assert christin.value("platelets_10e9l") > 0 and christin.get("platelets_10e9l").unit == "10^9/L"
    assert rudy.value("vascular_disease") is True and rudy.value("antiplatelet_or_nsaid") is True  # MI, clopidogrel
    assert dirk.value("chronic_kidney_disease") is True and dirk.value("anemia") is True
    assert dirk.get("uacr_mgg").unit == "mg/g" and len(dirk.history["uacr_mgg"]) >= 2
    assert len(dirk.history["hba1c_pct"]) >= 2 and len(dirk.history["egfr_mlmin173m2"]) >= 2
    assert tommy.value("heart_failure") is True and tommy.value("prediabetes") is True


def test_synthea_validation_budget_and_time(synthea, capsys):
    calls = []
    original = validation.validation_problem

    def counting(resource, ref=None):
        calls.append(ref)
        return original(resource, ref)

    per_patient = []
    timings = []
    for bundle in synthea:
        as_of = _as_of(bundle)
        validation.validation_problem = counting
        try:
            calls.clear()
            extract_features(bundle, as_of=as_of)
            per_patient.append(len(calls))
        finally:
            validation.validation_problem = original
        start = time.perf_counter()
        extract_features(bundle, as_of=as_of)
        timings.append((time.perf_counter() - start) * 1000)
    with capsys.disabled():
        print(f"\nSynthea: model validations per patient max {max(per_patient)}; extract_features median "
              f"{statistics.median(timings):.1f} ms, max {max(timings):.1f} ms (target < 15 ms per patient)",
              file=sys.stderr)
    # Validation (~0.3 ms each) dominates the cost: a deterministic guard on the hook budget.
    assert max(per_patient) <= 30
    assert statistics.median(timings) < 100  # generous: the machine is shared; typical is ~5-8 ms
