"""The IWPC warfarin dose against the published equations (IWPC, N Engl J Med 2009;360:753-764, Supplementary
Appendix), worked by hand for several genotype combinations:

pharmacogenetic: sqrt(weekly dose) = 5.6044 - 0.2614 age-decades + 0.0087 height(cm) + 0.0128 weight(kg)
    - 0.8677 VKORC1 A/G - 1.6974 A/A - 0.4854 VKORC1 unknown
    - 0.5211 CYP2C9 *1/*2 - 0.9357 *1/*3 - 1.0616 *2/*2 - 1.9206 *2/*3 - 2.3312 *3/*3 - 0.2188 CYP2C9 unknown
    - 0.1092 Asian - 0.2760 Black or African American - 0.1032 missing or mixed race
    + 1.1816 enzyme inducer - 0.5503 amiodarone
clinical: sqrt(weekly dose) = 4.0376 - 0.2546 age-decades + 0.0118 height + 0.0134 weight - 0.6752 Asian
    - 0.4060 Black or African American + 0.0443 missing or mixed race + 1.2799 enzyme inducer - 0.5695 amiodarone
"""
from __future__ import annotations

from datetime import date

import pytest

from engine.pharmacogenomics.summary import PharmacogenomicSummary
from engine.pharmacogenomics.warfarin import CLINICAL, PHARMACOGENETIC, IwpcInputs, iwpc_cyp2c9, iwpc_dose
from fhir_adapter.features import extract_features
from tests import pgx_records as rec


@pytest.mark.parametrize("inputs, weekly", [
    # 65 y (6 decades), 170 cm, 70 kg, white, VKORC1 A/G, CYP2C9 *1/*1:
    # 5.6044 - 1.5684 + 1.4790 + 0.8960 - 0.8677 = 5.5433 -> 30.73 mg/week
    (IwpcInputs(65, 170, 70, "white", False, False, "A/G", "*1/*1"), 30.73),
    # 45 y, 160 cm, 60 kg, Asian, VKORC1 A/A, CYP2C9 *1/*3, amiodarone:
    # 5.6044 - 1.0456 + 1.3920 + 0.7680 - 1.6974 - 0.9357 - 0.1092 - 0.5503 = 3.4262 -> 11.74 mg/week
    (IwpcInputs(45, 160, 60, "asian", False, True, "A/A", "*1/*3"), 11.74),
    # 72 y, 185 cm, 95 kg, Black, VKORC1 G/G, CYP2C9 *2/*3, an enzyme inducer:
    # 5.6044 - 1.8298 + 1.6095 + 1.2160 - 1.9206 - 0.2760 + 1.1816 = 5.5851 -> 31.19 mg/week
    (IwpcInputs(72, 185, 95, "black", True, False, "G/G", "*2/*3"), 31.19),
    # 30 y, 175 cm, 80 kg, race not recorded, no genotypes (the algorithm's 'unknown' terms):
    # 5.6044 - 0.7842 + 1.5225 + 1.0240 - 0.4854 - 0.2188 - 0.1032 = 6.5593 -> 43.02 mg/week
    (IwpcInputs(30, 175, 80, "missing_or_mixed", False, False, "unknown", "unknown"), 43.02),
])
def test_pharmacogenetic_dose_against_the_published_equation(inputs, weekly):
    assert iwpc_dose(PHARMACOGENETIC, inputs).weekly_mg == pytest.approx(weekly, abs=0.01)


@pytest.mark.parametrize("inputs, weekly", [
    # 5.4540 -> 29.75 mg/week
    (IwpcInputs(65, 170, 70, "white", False, False), 29.75),
    # 4.0376 - 1.0184 + 1.8880 + 0.8040 - 0.6752 - 0.5695 = 4.4665 -> 19.95 mg/week
    (IwpcInputs(45, 160, 60, "asian", False, True), 19.95),
])
def test_clinical_dose_against_the_published_equation(inputs, weekly):
    assert iwpc_dose(CLINICAL, inputs).weekly_mg == pytest.approx(weekly, abs=0.01)


def test_the_contributions_add_up_to_the_square_root_of_the_dose():
    dose = iwpc_dose(PHARMACOGENETIC, IwpcInputs(65, 170, 70, "white", False, False, "A/G", "*1/*1"))
    assert sum(t.contribution for t in dose.terms) == pytest.approx(dose.sqrt_weekly)
    assert dose.daily_mg == pytest.approx(dose.weekly_mg / 7)


def test_cyp2c9_alleles_outside_the_algorithm_use_its_unknown_term():
    assert iwpc_cyp2c9(("*3", "*1")) == ("*1/*3", None)
    term, why = iwpc_cyp2c9(("*1", "*8"))
    assert term == "unknown" and "*8" in why


def test_the_warfarin_dose_from_fhir_with_genotypes_height_weight_race_and_amiodarone():
    height = {"resourceType": "Observation", "id": "h", "status": "final", "subject": {"reference": f"Patient/{rec.PATIENT}"},
              "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}, "effectiveDateTime": "2026-01-02",
              "valueQuantity": {"value": 160, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}}
    weight = {**height, "id": "w", "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
              "valueQuantity": {"value": 60, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}
    asian = {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race", "extension": [
        {"url": "ombCategory", "valueCoding": {"system": "urn:oid:2.16.840.1.113883.6.238", "code": "2028-9"}}]}
    resources = [rec.patient(birthDate="1981-01-01", extension=[asian]), height, weight,
                 rec.medication("warfarin sodium 5 MG Oral Tablet"), rec.medication("amiodarone 200 MG Oral Tablet"),
                 *rec.ig_genotype("CYP2C9", "*1/*3"), *rec.snp_genotype("VKORC1", "rs9923231 T/T")]
    features = extract_features(resources, as_of=date(2026, 6, 1), patient_id=rec.PATIENT)
    findings = {f.id: f for f in PharmacogenomicSummary().evaluate(features)}
    dose = findings["pgx-summary:warfarin-dose"]
    # 45 y, 160 cm, 60 kg, Asian, A/A, *1/*3, amiodarone: the second worked example above
    assert dose.value == pytest.approx(11.7, abs=0.05) and dose.unit == "mg/week"
    clinical = next(m for m in dose.measures if m.label.startswith("Clinical-only weekly"))
    assert clinical.value == pytest.approx(19.9, abs=0.05)
    assert dose.recommendation.strength == "CPIC strong"
    summary = findings["pgx-summary:summary"]
    assert "warfarin IWPC 11.7 mg/week" in summary.value
    assert any("clinical-only 19.9 mg/week" in m.sentence for m in summary.measures)


def test_the_warfarin_dose_says_what_it_needs():
    resources = [rec.patient(), rec.medication("warfarin 5 mg tablet"), *rec.ig_genotype("CYP2C9", "*1/*1")]
    features = extract_features(resources, as_of=date(2026, 6, 1), patient_id=rec.PATIENT)
    findings = {f.id: f for f in PharmacogenomicSummary().evaluate(features)}
    dose = findings["pgx-summary:warfarin-dose"]
    assert not dose.computed and {m.name for m in dose.missing} == {"height_cm", "weight_kg"}
    assert any("needs" in m.sentence for m in findings["pgx-summary:summary"].measures)
