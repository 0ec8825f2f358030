"""The order-time checks below the HTTP layer: Cockcroft-Gault and its worked example, the drafted-order reader, and
the integrity of the knowledge files (every code, class, ingredient and source they name exists)."""
from __future__ import annotations

import json
from datetime import date
from importlib import resources

import pytest

from engine.finding import Evidence
from engine.inputs import FeatureSet
from engine.order_checks import ORDER_CHECKS
from engine.order_checks.kidney import creatinine_clearance, kidney_function
from engine.registry import order_checks
from fhir_adapter.features.draft_orders import draft_orders_by_reference, read_draft_orders
from fhir_adapter.terminology import drugs
from tests import order_requests as o

AS_OF = date(2026, 6, 1)
DATA_FILES = ("order_renal_dosing.json", "order_drug_interactions.json", "order_allergy_cross_reactivity.json",
              "order_duplicate_therapy.json", "order_pregnancy.json", "order_contraindications.json")


def features(**values) -> FeatureSet:
    fs = FeatureSet(as_of=AS_OF)
    for name, value in values.items():
        fs.put(Evidence(name=name, label=name, value=value, effective=date(2026, 5, 2)))
    return fs


# -- Cockcroft-Gault ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sex, expected", [("male", 80), ("female", 68)])
def test_cockcroft_gault_worked_example(sex, expected):
    """Cockcroft and Gault 1976: (140 - 60) x 72 kg / (72 x 1.0 mg/dL) = 80 mL/min for a man, x 0.85 for a woman."""
    crcl, missing = creatinine_clearance(features(age_years=60, weight_kg=72.0, creatinine_mgdl=1.0, sex=sex))
    assert missing == [] and crcl.value == expected and crcl.measure == "crcl"
    assert crcl.text == f"CrCl {expected} mL/min (Cockcroft–Gault, 2026-05-02)"
    assert [e.name for e in crcl.evidence.derived_from] == ["creatinine_mgdl", "age_years", "sex", "weight_kg"]


def test_crcl_is_rounded_half_up_before_any_threshold():
    crcl, _ = creatinine_clearance(features(age_years=81, weight_kg=72.0, creatinine_mgdl=2.0, sex="male"))
    assert crcl.value == 30  # 29.5 mL/min: the card shows 30 and the rule sees 30


def test_without_weight_the_egfr_stands_in_and_without_either_nothing_is_assumed():
    kidney, missing = kidney_function(features(age_years=70, creatinine_mgdl=1.0, sex="male",
                                               egfr_mlmin173m2=41.6), "crcl")
    assert kidney.measure == "egfr" and kidney.value == 42 and "weight" in kidney.substitute_note.lower()
    kidney, missing = kidney_function(features(age_years=70, sex="male"), "crcl")
    assert kidney is None and {m.name for m in missing} >= {"creatinine_mgdl", "weight_kg", "egfr_mlmin173m2"}


# -- the drafted-order reader ------------------------------------------------------------------------------------------
def test_drafts_are_read_with_drug_identity_dose_route_reason_and_selection():
    dabigatran = o.draft("d1", "1037045", "dabigatran etexilate 150 MG Oral Capsule", amount=1, unit="{capsule}",
                         per_day=2, reason=("49436004", "Atrial fibrillation"))
    lab = {"resourceType": "ServiceRequest", "id": "s1", "status": "draft", "intent": "order",
           "code": {"coding": [{"system": o.LOINC, "code": "2160-0", "display": "Creatinine"}]},
           "subject": {"reference": f"Patient/{o.PATIENT_ID}"}}
    bundle = {"resourceType": "Bundle", "entry": [{"resource": dabigatran}, {"resource": lab}]}
    drafts, problems = read_draft_orders(bundle, patient_id=o.PATIENT_ID, selections=["ServiceRequest/s1"])
    assert problems == []
    med, test = drafts
    assert (med.reference, med.ingredients, med.ingredient_rxcuis) == ("MedicationRequest/d1", ("dabigatran",),
                                                                       ("1546356",))
    assert "doac" in med.classes and "anticoagulant" in med.classes
    assert (med.dose.amount_mg, med.dose.per_day, med.dose.daily_mg) == (150.0, 2.0, 300.0)  # 1 capsule x 150 mg
    assert med.route == "oral route" and med.reason_concepts == ("atrial_fibrillation",) and med.has_reason
    assert med.selected is False and test.selected is True and not test.is_medication
    assert test.codes == ((o.LOINC, "2160-0"),)
    everything, _ = read_draft_orders(bundle, patient_id=o.PATIENT_ID)  # order-sign: every draft is checked
    assert all(d.selected for d in everything)
    assert set(draft_orders_by_reference(bundle)) == {"MedicationRequest/d1", "ServiceRequest/s1"}


def test_a_draft_naming_its_drug_by_medication_reference_and_one_for_another_patient():
    medication = {"resourceType": "Medication", "id": "med-1",
                  "code": {"coding": [{"system": o.RXNORM, "code": "7454", "display": "nitrofurantoin"}]}}
    by_reference = o.draft("d1", "0", "x", amount=100, per_day=2)
    del by_reference["medicationCodeableConcept"]
    by_reference["medicationReference"] = {"reference": "Medication/med-1"}
    stranger = o.draft("d2", "7454", "nitrofurantoin", amount=100, subject="someone-else")
    bundle = {"resourceType": "Bundle", "entry": [{"resource": r} for r in (medication, by_reference, stranger)]}
    drafts, problems = read_draft_orders(bundle, patient_id=o.PATIENT_ID)
    assert [d.ingredients for d in drafts] == [("nitrofurantoin",)]
    assert [p.source for p in problems] == ["MedicationRequest/d2"]


def test_class_level_allergies_are_recognised_by_snomed_code_and_by_name():
    assert "penicillin" in drugs.classes_named([(o.SNOMED, "373270004")], None)
    assert "cephalosporin" in drugs.classes_named([], "Cephalosporins")
    assert drugs.classes_named([], "amoxicillin") == ()


# -- the knowledge files -----------------------------------------------------------------------------------------------
def data(name: str) -> dict:
    return json.loads((resources.files("engine") / "data" / name).read_text(encoding="utf-8"))


def products_named(value) -> list[dict]:
    """Every {"code", "display"} product reference anywhere in a knowledge file."""
    if isinstance(value, dict):
        found = [value] if {"code", "display"} <= set(value) else []
        return found + [p for v in value.values() for p in products_named(v)]
    if isinstance(value, list):
        return [p for v in value for p in products_named(v)]
    return []


@pytest.mark.parametrize("name", DATA_FILES)
def test_every_knowledge_file_says_when_and_by_whom_and_its_products_are_known_rxnorm_products(name):
    content = data(name)
    assert content["_about"]["written"] and content["_about"]["by"]
    for product in products_named(content):
        known = drugs.product(product["code"])
        assert known is not None, product
        assert known["name"] == product["display"], product


def _known_ingredients() -> set[str]:
    d = drugs._data()
    return {e["name"] for e in d["ingredients"].values()} | set(d["ingredients_without_rxcui"])


def test_every_class_and_ingredient_the_checks_name_is_in_the_drug_knowledge():
    classes, ingredients = set(drugs._data()["classes"]), _known_ingredients()
    interactions = data("order_drug_interactions.json")
    for group in interactions["groups"].values():
        assert set(group.get("classes", ())) <= classes, group
        assert set(group.get("ingredients", ())) <= ingredients, group
    for pair in interactions["pairs"]:
        assert pair["a"] in interactions["groups"] and pair["b"] in interactions["groups"], pair
        assert pair["source"] in interactions["sources"] and pair["severity"] in ("info", "warning", "critical")
    assert set(data("order_renal_dosing.json")["drugs"]) <= ingredients
    allergy = data("order_allergy_cross_reactivity.json")
    assert set(allergy["same_class"]["classes"]) | set(allergy["class_names"]) <= classes
    assert {m for g in allergy["side_chain_groups"] for m in g["members"]} <= ingredients
    assert {c[k] for c in allergy["cross_class"] for k in ("allergy", "drug")} <= classes
    assert set(allergy["shared_class"]["classes"]) <= classes
    for group in data("order_duplicate_therapy.json")["groups"]:
        assert set(group["classes"]) | {c for pair in group.get("allowed_pairs", ()) for c in pair} <= classes
    for entry in data("order_pregnancy.json")["classes"]:
        assert set(entry["classes"]) <= classes
    for entry in data("order_contraindications.json")["rules"]:
        assert set(entry["classes"]) <= classes


def test_every_renal_band_is_well_formed():
    for drug, spec in data("order_renal_dosing.json")["drugs"].items():
        assert spec["measure"] in ("egfr", "crcl", "criteria"), drug
        assert spec["citation"]["short"] and spec["citation"]["full"], drug
        for band in spec.get("bands", ()):
            assert band["action"] in ("avoid", "dose") and band["severity"] in ("info", "warning", "critical")
            assert {"min", "max", "below", "above"} & set(band), (drug, band["id"])
            if band["action"] == "dose":
                assert "suggest" in band or "regimens" in band, (drug, band["id"])


def test_the_order_checks_are_registered_once_and_declare_what_they_read():
    assert set(ORDER_CHECKS) == set(order_checks.ids())
    renal = order_checks.get("renal-dosing")
    assert {"creatinine_mgdl", "weight_kg", "egfr_mlmin173m2"} <= set(renal.optional)
    assert order_checks.get("drug-allergy").reads_records == ("AllergyIntolerance",)
