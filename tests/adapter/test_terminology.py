"""The one terminology: value set data integrity, the matcher, eCQM inclusions, unrecognised-code naming."""
from __future__ import annotations

import json
from importlib import resources

import pytest

from engine.detectors.common import code_data, concept as detector_concept
from engine.models.concepts import load_concepts
from fhir_adapter import codes
from fhir_adapter.terminology import (
    ICD10CM,
    ICD10PCS,
    LOINC,
    SNOMED,
    concepts_named_in,
    concepts_of_coding,
    concepts_of_pairs,
    value_set,
    value_set_names,
)

DATA = resources.files("fhir_adapter") / "data" / "terminology"


def _raw() -> dict:
    return json.loads((DATA / "valuesets.json").read_text("utf-8"))


def test_every_value_set_names_source_version_and_has_codes():
    for name in value_set_names():
        vs = value_set(name)
        assert vs.source.strip() and vs.version.strip(), name
        assert vs.all_codes() or vs.prefixes, name


def test_every_included_expansion_exists_parses_and_names_its_origin():
    included = set()
    for spec in _raw()["value_sets"].values():
        for inc in spec.get("include", ()):
            included.add(inc["file"])
            data = json.loads((DATA / inc["file"]).read_text("utf-8"))
            assert data["oid"] and data["url"].endswith(data["oid"]), inc
            assert data["version"] and "cqframework" in data["source"], inc
            assert data["codes"], inc
    ecqm_files = {f"ecqm/{p.name}" for p in (DATA / "ecqm").iterdir() if p.name.endswith(".json")}
    assert included <= ecqm_files
    # No CPT / HCPCS codes are carried (licence terms).
    for path in ecqm_files:
        data = json.loads((DATA / path).read_text("utf-8"))
        systems = {c["system"] for c in data["codes"]}
        assert systems <= {SNOMED, ICD10CM, ICD10PCS, LOINC, "http://www.nlm.nih.gov/research/umls/rxnorm"}, path


@pytest.mark.parametrize("system,code,concept", [
    (SNOMED, "237599002", "diabetes"),
    (SNOMED, "81531005", "diabetes"),
    (SNOMED, "359642000", "diabetes"),
    (ICD10CM, "E11.65", "diabetes"),
    ("urn:oid:2.16.840.1.113883.6.96", "44054006", "diabetes"),  # SNOMED by OID
    (SNOMED, "57054005", "ascvd"),
    (SNOMED, "164867002", "ascvd"),
    (SNOMED, "394659003", "ascvd"),
    (SNOMED, "400047006", "ascvd"),
    (ICD10CM, "I25.10", "ascvd"),
    (SNOMED, "232717009", "ascvd_procedure"),
    (SNOMED, "415070008", "ascvd_procedure"),
    (SNOMED, "49436004", "atrial_fibrillation"),
    (SNOMED, "84114007", "heart_failure"),
    (SNOMED, "46177005", "chronic_kidney_disease"),  # ESRD
    (SNOMED, "77386006", "pregnancy"),
    (SNOMED, "398036000", "familial_hypercholesterolemia"),
    (LOINC, "2106-3", "pregnancy_test"),
])
def test_codes_real_ehrs_send_are_recognised(system, code, concept):
    assert concept in concepts_of_coding(system, code)


def test_exclusions_stay_excluded():
    assert "diabetes" not in concepts_of_coding(SNOMED, "15777000")  # prediabetes
    assert "diabetes" not in concepts_of_coding(ICD10CM, "O24.410")  # gestational diabetes
    assert "obesity" not in concepts_of_coding(ICD10CM, "E66.3")  # overweight
    assert "alcohol_excess" not in concepts_of_coding(ICD10CM, "F10.21")  # in remission
    assert concepts_of_coding(None, "44054006") == ()  # no system, no match


def test_concepts_of_pairs_reads_a_problem_list():
    found = concepts_of_pairs({(SNOMED, "237599002"), (ICD10CM, "I10"), ("x",), (None, None)})
    assert {"diabetes", "hypertension"} <= found


def test_synonyms_name_a_concept_only_outside_excluded_phrases():
    assert "diabetes" in concepts_named_in("Type 2 diabetes mellitus with gastroparesis")
    assert concepts_named_in("Diabetes insipidus") == {}
    assert "hypertension" not in concepts_named_in("Portal hypertension")
    assert concepts_named_in("Family history of diabetes mellitus") == {}
    assert "ascvd" in concepts_named_in("History of myocardial infarction", among=("ascvd",))
    assert concepts_named_in("History of myocardial infarction", among=("diabetes",)) == {}


def test_detectors_and_notes_name_value_sets_of_the_one_terminology():
    """Diagnosis detectors and note concepts carry no code lists of their own any more."""
    for concept_id, spec in code_data()["conditions"].items():
        assert "documented_by" not in spec
        for name in spec["documented_by_value_sets"]:
            value_set(name)
        # A detector's own suggestion documents the condition (no second suggestion once accepted).
        cond = detector_concept(concept_id)
        assert cond.documented_by({(SNOMED, cond.snomed["code"])}), concept_id
    for concept in load_concepts().concepts:
        for name in concept.documented_by_value_sets:
            value_set(name)


def test_detector_sees_a_snomed_descendant_as_documented():
    assert detector_concept("diabetes-mellitus").documented_by({(SNOMED, "237599002")}) == (SNOMED, "237599002")
    assert detector_concept("chronic-kidney-disease").documented_by({(ICD10CM, "Z99.2")})  # dialysis dependence


def test_concept_groups_refer_to_existing_value_sets():
    for group in (codes.OBSERVATION_CONCEPTS, codes.CONDITION_CONCEPTS, codes.MEDICATION_CONCEPTS,
                  codes.PROCEDURE_CONCEPTS, codes.ALLERGY_CONCEPTS, codes.QUALITATIVE_ANSWER_CONCEPTS):
        for name in group:
            value_set(name)
