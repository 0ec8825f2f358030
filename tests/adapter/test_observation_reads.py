"""Observations no feature of the extraction can use are not parsed (fhir_adapter/features/observation_reads.py), and
the features are exactly those of a full parse: on the Synthea patients for every service, and on records built to
hit the edges (the newest stale reading named in the reason, ties, panels without the component, entered-in-error,
duplicates, readings about another patient, oxygen components on any Observation)."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

import fhir_adapter.features.extract as extract_module
from cds_hooks.declaration import SERVICES
from cds_hooks.pipeline import read_features
from cds_hooks.services import load_all
from engine.feature_catalog import FEATURE_SPECS
from fhir_adapter import codes
from fhir_adapter.features import DEFAULT_HISTORY_DAYS, DEFAULT_LOOKBACK_DAYS, extract_features
from fhir_adapter.features.observation_reads import observation_reads
from fhir_adapter.parse import parse_resources

ROOT = Path(__file__).resolve().parents[2]
SYNTHEA = ROOT.parent / "shared" / "data" / "synthea"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
AS_OF = date(2024, 6, 1)
NOW = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)

load_all()
SERVICE_FEATURES = {s.id: read_features(s.engine_objects()) for s in SERVICES if s.engines}


def full_parse(monkeypatch):
    """Extraction as before the read plan: every Observation of ours parsed."""
    monkeypatch.setattr(extract_module, "observation_reads", lambda *args, **kwargs: None)


def dump(fs) -> str:
    return json.dumps([sorted(fs.values.items()), sorted(fs.missing.items()), fs.problems, sorted(fs.history.items()),
                       sorted(fs.condition_codes), fs.medications, fs.allergies], default=repr)


def both(monkeypatch, resources, **kwargs) -> tuple[str, str]:
    kwargs.setdefault("as_of", AS_OF)
    kwargs.setdefault("now", NOW)
    planned = dump(extract_features(resources, **kwargs))
    with monkeypatch.context() as m:
        full_parse(m)
        full = dump(extract_features(resources, **kwargs))
    return planned, full


def patient(pid="p1"):
    return {"resourceType": "Patient", "id": pid, "gender": "male", "birthDate": "1960-03-04"}


def obs(oid, code, when, value=None, unit="mg/dL", status="final", subject="Patient/p1", components=(), **extra):
    res = {"resourceType": "Observation", "id": oid, "status": status, "subject": {"reference": subject},
           "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": when}
    if value is not None:
        res["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    if components:
        res["component"] = [{"code": {"coding": [{"system": LOINC, "code": c}]},
                             "valueQuantity": {"value": v, "unit": u, "system": UCUM, "code": u}}
                            for c, v, u in components]
    res.update(extra)
    return res


def bp(oid, when, sbp=None, dbp=None, **extra):
    parts = [p for p in (("8480-6", sbp, "mm[Hg]") if sbp else None, ("8462-4", dbp, "mm[Hg]") if dbp else None) if p]
    return obs(oid, "85354-9", when, components=parts, **extra)


EDGE_RECORD = [
    patient(),
    # Lipids: 5-year look-back. The newest stale one is named in the reason; two tied newest stale ones.
    obs("chol-old", "2093-3", "2012-01-01", 210), obs("chol-older", "2093-3", "2010-01-01", 190),
    obs("hdl-tie-a", "2085-9", "2015-05-05T08:00:00+00:00", 40), obs("hdl-tie-b", "2085-9", "2015-05-05T08:00:00Z", 41),
    obs("hdl-older", "2085-9", "2014-05-05", 45),
    # Newest stale LDL entered in error: the next one is the newest that selection sees.
    obs("ldl-eie", "13457-7", "2016-01-01", 100, status="entered-in-error"),
    obs("ldl-old", "13457-7", "2015-01-01", 120),
    obs("ldl-in-window", "13457-7", "2021-01-01", 130, status="preliminary"),
    # Blood pressure (1 y look-back, 2 y history): the newest stale panel has no diastolic component.
    bp("bp-new-no-dbp", "2020-06-01", sbp=150), bp("bp-old", "2019-06-01", sbp=140, dbp=90),
    bp("bp-older", "2018-06-01", sbp=135, dbp=85),
    # The same id twice: the stale first copy wins over a recent second one, as before.
    obs("dup", "2160-0", "2015-01-01", 1.1), obs("dup", "2160-0", "2024-05-01", 1.3),
    # About another patient, stale: reported with its features as before.
    obs("other", "4548-4", "2010-01-01", 7.0, unit="%", subject="Patient/someone-else"),
    obs("no-subject", "4548-4", "2010-01-01", 7.0, unit="%", subject=None),
    # No date at all: never skipped.
    {**obs("undated", "4548-4", "x", 6.0, unit="%"), "effectiveDateTime": None},
    # Oxygen flow as a component of an SpO2 reading (read on any Observation), stale and recent.
    obs("spo2-o2-old", "59408-5", "2023-01-01T10:00:00Z", 91, unit="%", components=[("3151-8", 2, "L/min")]),
    obs("spo2-o2", "59408-5", "2024-05-31T10:00:00Z", 93, unit="%", components=[("3151-8", 0, "L/min")]),
    obs("rr-old", "9279-1", "2022-01-01", 18, unit="/min"),
    # Smoking (2-year look-back, no history): stale.
    {**obs("smoke", "72166-2", "2019-01-01"),
     "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "449868002"}]}},
]


@pytest.mark.parametrize("features", [None, *sorted(SERVICE_FEATURES.values(), key=sorted),
                                      {"ldl_mgdl"}, {"sbp_mmhg"}, {"dbp_mmhg"}, {"weight_kg"},
                                      {"on_supplemental_o2"}, {"hba1c_pct"}, {"hdl_mgdl", "smoker_current"}],
                         ids=repr)
def test_edge_record_gives_the_features_of_a_full_parse(monkeypatch, features):
    planned, full = both(monkeypatch, EDGE_RECORD, patient_id="p1", features=features)
    assert planned == full


def test_edge_record_without_a_patient_id_gives_the_features_of_a_full_parse(monkeypatch):
    planned, full = both(monkeypatch, EDGE_RECORD[1:])
    assert planned == full


def test_the_plan_keeps_only_what_selection_can_name_or_use():
    reads = observation_reads({"chol_total_mgdl", "hdl_mgdl", "ldl_mgdl", "sbp_mmhg", "dbp_mmhg"}, as_of=AS_OF,
                              lookback=DEFAULT_LOOKBACK_DAYS, history_days=DEFAULT_HISTORY_DAYS)
    parsed = parse_resources(EDGE_RECORD, patient_id="p1", observation_reads=reads)
    kept = {o.ref.split("/")[1] for o in parsed.observations}
    # The newest stale reading of each list (ties included) and everything in a window; not the older ones, not
    # what no feature reads (oxygen, respiratory rate, smoking, creatinine), not the entered-in-error one.
    assert {"chol-old", "hdl-tie-a", "hdl-tie-b", "ldl-old", "ldl-in-window", "bp-new-no-dbp", "bp-old"} <= kept
    assert kept.isdisjoint({"chol-older", "hdl-older", "ldl-eie", "bp-older", "spo2-o2", "rr-old", "smoke", "dup"})
    full = parse_resources(EDGE_RECORD, patient_id="p1")
    assert len(parsed.observations) < len(full.observations)


def test_a_builder_reading_observations_the_plan_skipped_fails_loudly():
    reads = observation_reads({"hdl_mgdl"}, as_of=AS_OF, lookback=DEFAULT_LOOKBACK_DAYS,
                              history_days=DEFAULT_HISTORY_DAYS)
    parsed = parse_resources(EDGE_RECORD, patient_id="p1", observation_reads=reads)
    from fhir_adapter.features.selection import readings_of

    assert readings_of(parsed, "hdl")
    with pytest.raises(LookupError):
        readings_of(parsed, "chol_total")


def test_every_concept_the_plan_reads_is_an_observation_concept():
    reads = observation_reads(set(FEATURE_SPECS), as_of=AS_OF, lookback=DEFAULT_LOOKBACK_DAYS,
                              history_days=DEFAULT_HISTORY_DAYS)
    # The cheap pre-parse look only sees Observation concepts: a concept outside them would be skipped unseen.
    assert set(reads.windows) <= set(codes.OBSERVATION_CONCEPTS)


SYNTHEA_FILES = sorted(SYNTHEA.glob("*.json")) if SYNTHEA.is_dir() else []


@pytest.mark.skipif(not SYNTHEA_FILES, reason="../shared/data/synthea is absent")
@pytest.mark.parametrize("as_of", [date(2016, 6, 1), date(2021, 4, 1)], ids=str)
def test_synthea_patients_give_the_features_of_a_full_parse_for_every_service(monkeypatch, as_of):
    for path in SYNTHEA_FILES:
        resources = [e["resource"] for e in json.loads(path.read_text(encoding="utf-8"))["entry"]]
        pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
        for features in [None, *SERVICE_FEATURES.values()]:
            planned, full = both(monkeypatch, resources, as_of=as_of, patient_id=pid, features=features,
                                 now=datetime(as_of.year, as_of.month, as_of.day, 12, tzinfo=timezone.utc))
            assert planned == full, (path.name, sorted(features or ()))


def _reads(features=("chol_total_mgdl", "hdl_mgdl")):
    return observation_reads(features, as_of=AS_OF, lookback=DEFAULT_LOOKBACK_DAYS, history_days=DEFAULT_HISTORY_DAYS)


def test_a_reading_the_reader_cannot_read_is_reported_in_its_turn(monkeypatch):
    """The read plan reads an Observation as the walk meets it; a failure to read it is reported where the entries'
    order puts it, among the other problems, as when every Observation was read after the walk."""
    import fhir_adapter.parse.candidates as candidates

    real = candidates.observation_record

    def failing(resource, full_url, effective):
        if resource["id"] == "broken":
            raise KeyError("an unforeseen shape")
        return real(resource, full_url, effective)

    monkeypatch.setattr(candidates, "observation_record", failing)
    record = [patient(), obs("other", "2093-3", "2024-01-01", 200, subject="Patient/someone-else"),
              obs("broken", "2093-3", "2024-02-01", 210), obs("fine", "2093-3", "2024-03-01", 190)]
    parsed = parse_resources(record, patient_id="p1", observation_reads=_reads())
    assert [o.ref for o in parsed.observations] == ["Observation/fine"]
    assert [(p.source, p.reason) for p in parsed.problems] == [
        ("Observation/other", "belongs to a different patient than the request; skipped"),
        ("Observation/broken", "resource could not be read (KeyError); skipped")]


def test_a_walk_that_breaks_keeps_what_it_read():
    def entries():
        yield patient()
        yield obs("first", "2093-3", "2024-01-01", 200)
        raise RuntimeError("the iterable broke")

    bad_code = obs("unhashable", "2093-3", "2024-01-01", 200)
    bad_code["code"]["coding"][0]["code"] = ["not", "a", "code"]  # the genomic test cannot look it up
    for data in (entries(), [patient(), obs("first", "2093-3", "2024-01-01", 200), bad_code,
                             obs("after", "2093-3", "2024-02-01", 210)]):
        parsed = parse_resources(data, patient_id="p1", observation_reads=_reads())
        assert [o.ref for o in parsed.observations] == ["Observation/first"]
        assert [p.reason for p in parsed.problems][-1].startswith("input could not be read completely (")
