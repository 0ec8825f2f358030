"""The feature catalogue (engine/feature_catalog.py) is the one source of every per-feature table, and extraction can
be limited to the features a service's engines read."""
from __future__ import annotations

import json
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
import engine.detectors  # noqa: F401 - registers the detectors
from engine import feature_catalog
from engine.detectors import common as detector_common
from engine.feature_catalog import BOOLEAN, CATEGORY, FEATURE_SPECS, FEATURES, KINDS, QUANTITY, with_dependencies
from engine.inputs import FEATURE_LABELS
from engine.registry import calculators, detectors
from engine.serialize import finding_to_dict
from fhir_adapter import codes, feature_codes, units
from fhir_adapter.features import DEFAULT_HISTORY_DAYS, DEFAULT_LOOKBACK_DAYS, PLAUSIBLE_RANGE, extract_features
from fhir_adapter.features.conditions import CONDITION_RULES
from fhir_adapter.features.medications import MEDICATION_RULES
from fhir_adapter.features.quantities import SIMPLE_QUANTITY_FEATURES
from fhir_adapter.features.selection import _PLAIN
from tests.conftest import FIXTURES, SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import feature_docs  # noqa: E402

AS_OF = date(2026, 6, 1)
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-03-01"}


def obs(oid: str, loinc: str, value: float, unit: str, when: str = "2026-05-01") -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


# -- the catalogue ---------------------------------------------------------------------------------------------------
def test_every_feature_is_declared_once_and_well_formed():
    names = [spec.name for spec in FEATURES]
    assert len(names) == len(set(names))
    for spec in FEATURES:
        assert spec.kind in KINDS, spec.name
        assert spec.label and spec.resources, spec.name
        assert set(spec.depends_on) <= set(FEATURE_SPECS), spec.name
        if spec.history_days is not None:
            assert spec.lookback_days is not None and spec.history_days > spec.lookback_days, spec.name
        if spec.plausible is not None:
            low, high = spec.plausible
            assert spec.kind == QUANTITY and low < high, spec.name
        if spec.kind == QUANTITY and "Observation" in spec.resources:
            # A lab or vital sign: converted, checked, selected inside a window, shown with a precision.
            assert spec.quantity_kind and spec.plausible and spec.lookback_days, spec.name
            assert spec.display_decimals is not None and spec.plain, spec.name
        if spec.kind != QUANTITY:
            assert spec.unit is None and spec.display_decimals is None, spec.name


def test_dependencies_have_no_cycle_and_close_transitively():
    for spec in FEATURES:
        seen: set[str] = set()
        todo = list(spec.depends_on)
        while todo:
            name = todo.pop()
            assert name != spec.name, f"{spec.name} depends on itself"
            if name not in seen:
                seen.add(name)
                todo.extend(FEATURE_SPECS[name].depends_on)
    assert with_dependencies(["egfr_mlmin173m2"]) == {"egfr_mlmin173m2", "creatinine_mgdl", "age_years", "sex"}
    assert with_dependencies(["bmi_kgm2"]) == {"bmi_kgm2", "weight_kg", "height_cm"}
    assert with_dependencies(["not_a_feature"]) == {"not_a_feature"}


def test_every_value_set_the_catalogue_names_exists_in_the_terminology():
    known = set(codes.value_set_names())
    for spec in FEATURES:
        for concept in (*spec.value_sets, *spec.panel_value_sets):
            assert concept in known, (spec.name, concept)


def test_canonical_units_are_those_of_the_unit_conversion_kinds():
    for spec in FEATURES:
        if spec.quantity_kind is not None:
            assert units.CANONICAL_UNIT[spec.quantity_kind] == (spec.unit or "1"), spec.name
    for spec in feature_catalog.COMPONENT_MEASURES:
        assert spec.unit in units.CANONICAL_UNIT.values(), spec.name


def test_the_parallel_tables_are_views_of_the_catalogue():
    assert FEATURE_LABELS == {s.name: (s.label, s.unit) for s in FEATURES}
    assert DEFAULT_LOOKBACK_DAYS == {s.name: s.lookback_days for s in FEATURES if s.lookback_days is not None}
    assert DEFAULT_HISTORY_DAYS == {s.name: s.history_days for s in FEATURES if s.history_days is not None}
    assert detector_common.SHORT_LABELS == {s.name: s.short_label for s in FEATURES if s.short_label}
    assert _PLAIN == {s.name: s.plain for s in FEATURES if s.plain}
    # One plausible range per feature: the adapter and the detectors check the same one.
    assert PLAUSIBLE_RANGE == detector_common.PLAUSIBLE
    assert PLAUSIBLE_RANGE == {s.name: s.plausible
                               for s in (*FEATURES, *feature_catalog.COMPONENT_MEASURES) if s.plausible}
    # Every lab quantity is built by the plain selection unless it has a step of its own.
    own_step = {"sbp_mmhg", "dbp_mmhg", "creatinine_mgdl", "egfr_mlmin173m2", "weight_kg", "height_cm", "bmi_kgm2"}
    assert set(SIMPLE_QUANTITY_FEATURES) == {s.name for s in FEATURES if s.kind == QUANTITY
                                             and "Observation" in s.resources} - own_step


def test_the_rule_tables_of_the_adapter_read_declared_features():
    for name, rule in CONDITION_RULES.items():
        spec = FEATURE_SPECS[name]
        assert spec.kind == BOOLEAN and "Condition" in spec.resources, name
        assert set(rule.concepts) <= set(spec.value_sets), name
    for name, (concepts, _) in MEDICATION_RULES.items():
        spec = FEATURE_SPECS[name]
        assert {"MedicationRequest", "MedicationStatement"} <= set(spec.resources), name
        assert set(concepts) == set(spec.value_sets), name
    assert FEATURE_SPECS["sex"].kind == CATEGORY


def test_values_are_shown_with_the_declared_precision():
    assert feature_catalog.display_value("hba1c_pct", 7.06) == "7.1"
    assert feature_catalog.display_value("creatinine_mgdl", 1.234) == "1.23"
    assert feature_catalog.display_value("sbp_mmhg", 141.6) == "142"


def test_issue_resources_of_ascvd_pregnancy_and_statin_intolerance():
    assert FEATURE_SPECS["ascvd"].resources == ("Condition", "Procedure")  # CABG / PCI recorded only as a Procedure
    assert FEATURE_SPECS["pregnant"].resources == ("Condition", "Observation")
    spec = FEATURE_SPECS["statin_intolerance"]
    assert (spec.kind, spec.label, spec.resources) == (BOOLEAN, "Statin allergy or intolerance",
                                                      ("AllergyIntolerance", "Condition"))


# -- codes for prefetch ----------------------------------------------------------------------------------------------
def test_observation_codes_follow_from_value_sets_and_dependencies():
    loinc = feature_codes.OBSERVATION_CODES
    assert codes.OBSERVATION_CODES is loinc  # the old import path still works
    assert loinc["glucose_fasting_mgdl"] == codes.codes_for("glucose_fasting", codes.LOINC)
    assert set(loinc["sbp_mmhg"]) == {*codes.codes_for("sbp", codes.LOINC), *codes.codes_for("bp_panel", codes.LOINC)}
    assert set(codes.codes_for("creatinine", codes.LOINC)) <= set(loinc["egfr_mlmin173m2"])  # eGFR may be derived
    assert {"8302-2", "29463-7"} <= set(loinc["bmi_kgm2"])
    assert "85353-1" in loinc["heart_rate_min"]  # vital-signs panel components
    assert "hypercapnic_target" not in loinc  # its Observation is coded in SNOMED CT only
    assert ("http://snomed.info/sct", "1104321000000108") in feature_codes.NON_LOINC_OBSERVATION_CODES[
        "hypercapnic_target"]
    assert feature_codes.FEATURE_RESOURCES["egfr_mlmin173m2"] == ("Observation", "Patient")
    assert feature_codes.FEATURE_RESOURCES["ascvd"] == ("Condition", "Procedure")


# -- plausibility: the two ranges that disagreed ---------------------------------------------------------------------
def test_glucose_in_mmol_labelled_mg_dl_is_refused_by_adapter_and_detectors_alike():
    assert FEATURE_SPECS["glucose_fasting_mgdl"].plausible == (20.0, 1500.0)
    fs = extract_features([PATIENT, obs("g1", "1558-6", 15.0, "mg/dL")], as_of=AS_OF)
    assert not fs.has("glucose_fasting_mgdl")
    assert any("implausible" in p.reason and "20-1500" in p.reason for p in fs.problems), fs.problems
    fs = extract_features([PATIENT, obs("g1", "1558-6", 131.0, "mg/dL")], as_of=AS_OF)
    usable, problems = detector_common.readings(fs, "glucose_fasting_mgdl", window_days=730)
    assert [r.value for r in usable] == [131.0] and problems == []


def test_nephrotic_range_uacr_is_accepted_by_adapter_and_detectors_alike():
    assert FEATURE_SPECS["uacr_mgg"].plausible == (0.0, 30000.0)
    fs = extract_features([PATIENT, obs("u1", "9318-7", 27000.0, "mg/g")], as_of=AS_OF)
    assert fs.value("uacr_mgg") == 27000.0
    usable, problems = detector_common.readings(fs, "uacr_mgg", window_days=730)
    assert [r.value for r in usable] == [27000.0] and problems == []


# -- extracting only what the engines read ----------------------------------------------------------------------------
def _produced(fs) -> set[str]:
    return set(fs.values) | set(fs.missing)


def test_extract_builds_only_the_requested_features_and_their_inputs():
    record = [PATIENT, obs("c1", "2160-0", 1.1, "mg/dL"), obs("t1", "2093-3", 210.0, "mg/dL"),
              obs("w1", "29463-7", 80.0, "kg"), obs("h1", "8302-2", 170.0, "cm")]
    fs = extract_features(record, as_of=AS_OF, features={"egfr_mlmin173m2"})
    assert _produced(fs) & set(FEATURE_SPECS) == {"egfr_mlmin173m2", "creatinine_mgdl", "age_years", "sex"}
    assert fs.get("egfr_mlmin173m2").note == "CKD-EPI 2021"
    fs = extract_features(record, as_of=AS_OF, features=["bmi_kgm2"])
    assert _produced(fs) & set(FEATURE_SPECS) == {"bmi_kgm2", "weight_kg", "height_cm"}
    assert fs.value("bmi_kgm2") == pytest.approx(80 / 1.7 ** 2)
    fs = extract_features(record, as_of=AS_OF, features=())
    assert _produced(fs) & set(FEATURE_SPECS) == set()
    every = extract_features(record, as_of=AS_OF)
    assert _produced(every) >= set(FEATURE_SPECS)


def _records() -> list[tuple[str, list]]:
    out = []
    for path in sorted((FIXTURES / "patients").glob("*.json")):
        out.append((path.name, json.loads(path.read_text(encoding="utf-8"))))
    for path in sorted((FIXTURES / "hooks").glob("patient-view-*.json")) + sorted(
            (FIXTURES / "hooks").glob("encounter-start-*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        out.append((path.name, [v for v in (body.get("prefetch") or {}).values() if isinstance(v, dict)]))
    synthea = SHARED_DATA / "synthea"
    for path in sorted(synthea.glob("*.json"))[:3] if synthea.is_dir() else ():
        out.append((path.name, json.loads(path.read_text(encoding="utf-8"))))
    return out


def _findings(engine, fs) -> list[dict]:
    return [finding_to_dict(f) for f in engine.evaluate(fs)]


@pytest.mark.parametrize("engine_id", sorted([*calculators.ids(), *detectors.ids()]))
def test_an_engine_gives_the_same_findings_from_only_the_features_it_declares(engine_id):
    engine = calculators.get(engine_id) if engine_id in calculators else detectors.get(engine_id)
    declared = {*engine.requires, *engine.optional}
    now = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
    for name, record in _records():
        full = extract_features(record, as_of=AS_OF, now=now)
        scoped = extract_features(record, as_of=AS_OF, now=now, features=declared)
        assert _findings(engine, scoped) == _findings(engine, full), (engine_id, name)


# -- docs --------------------------------------------------------------------------------------------------------------
def test_the_feature_tables_of_the_docs_follow_the_catalogue():
    text = feature_docs.DOC.read_text(encoding="utf-8")
    assert feature_docs.render(text) == text, "docs/features.md is out of date: run python scripts/feature_docs.py"
    for spec in FEATURES:
        assert f"| `{spec.name}` |" in text, spec.name
