"""Drug knowledge (fhir_adapter/data/terminology/drugs.json) and its reader."""
from __future__ import annotations

import glob
import json
import os
import re

import pytest

from fhir_adapter.terminology import drugs
from fhir_adapter.terminology.drugs import (
    classes_of,
    drug_class,
    ingredients_by_text,
    ingredients_of_code,
    knowledge_version,
    statin_intensity,
)

RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
RX_OID = "urn:oid:2.16.840.1.113883.6.88"
SYNTHEA = "/work/shared/data/synthea"


def names(ings):
    return [i.name for i in ings]


# ------------------------------------------------------------------ data file integrity
def test_every_source_tag_is_defined_and_products_are_well_formed():
    data = drugs._data()
    tags = set(data["_about"]["sources"])
    assert {"synthea", "curated", "uscore-allergy-substance", "valuesets.json"} <= tags
    for code, p in data["products"].items():
        assert code.isdigit()
        assert p["source"] in tags, code
        for t in p.get("also_in", []):
            assert t in tags, (code, t)
        assert p["ingredients"], code
        for i in p["ingredients"]:
            assert i["rxcui"] is None or i["rxcui"] in data["ingredients"], (code, i)
            if i["rxcui"] is None:
                assert i["name"] in data["ingredients_without_rxcui"], (code, i)
    for rx, e in data["ingredients"].items():
        assert rx.isdigit()
        assert e["source"] in tags, rx
        for c in e["classes"]:
            assert c in data["classes"], (rx, c)
    for e in data["classes"].values():
        assert e["parent"] is None or e["parent"] in data["classes"]


def test_ingredient_codes_of_existing_valuesets_are_kept():
    """Every ingredient-level RxNorm code of the value sets in valuesets.json is known and in the right class."""
    path = os.path.join(os.path.dirname(drugs.__file__), "..", "data", "terminology", "valuesets.json")
    vs = json.load(open(path))["value_sets"]
    expected = {"antihypertensive": "antihypertensive", "statin": "statin", "antiplatelet": "antiplatelet",
                "nsaid": "nsaid", "anticoagulant": "anticoagulant"}
    checked = 0
    for key, cls in expected.items():
        for c in vs[key]["codes"]:
            if not c["system"].endswith("rxnorm") or not c.get("ingredient"):
                continue
            ings = ingredients_of_code(RX, c["code"])
            assert ings, (key, c)
            assert c["ingredient"].lower() in names(ings), (key, c)
            if not (key == "nsaid" and c["ingredient"].lower() == "aspirin"):
                assert cls in classes_of(ings), (key, c)
            checked += 1
    assert checked > 50


# ------------------------------------------------------------------ Synthea: every MedicationRequest code
SYNTHEA_EXPECTED = {
    "1000126": ({"medroxyprogesterone"}, set()),
    "106892": ({"insulin isophane, human", "insulin, regular, human"}, {"insulin", "glucose_lowering"}),
    "1534809": ({"ethinyl estradiol", "norelgestromin"}, set()),
    "197361": ({"amlodipine"}, {"calcium_channel_blocker", "antihypertensive"}),
    "197604": ({"digoxin"}, {"cardiac_glycoside"}),
    "2001499": ({"vitamin b 12"}, set()),
    "308971": ({"carbamazepine"}, set()),
    "309362": ({"clopidogrel"}, {"p2y12_inhibitor", "antiplatelet"}),
    "310325": ({"ferrous sulfate"}, set()),
    "310436": ({"galantamine"}, set()),
    "310965": ({"ibuprofen"}, {"nsaid"}),
    "312961": ({"simvastatin"}, {"statin"}),
    "313782": ({"acetaminophen"}, set()),
    "315971": ({"furosemide"}, {"loop_diuretic", "antihypertensive"}),
    "316049": ({"hydrochlorothiazide"}, {"thiazide_diuretic", "antihypertensive"}),
    "316672": ({"simvastatin"}, {"statin"}),
    "389221": ({"etonogestrel"}, set()),
    "562251": ({"amoxicillin", "clavulanate"}, {"penicillin", "beta_lactam", "antibacterial"}),
    "705129": ({"nitroglycerin"}, {"organic_nitrate"}),
    "745679": ({"albuterol"}, set()),
    "751905": ({"norgestimate", "ethinyl estradiol"}, set()),
    "757594": ({"norethindrone"}, set()),
    "807283": ({"levonorgestrel"}, set()),
    "849574": ({"naproxen"}, {"nsaid"}),
    "855332": ({"warfarin"}, {"vitamin_k_antagonist", "anticoagulant"}),
    "860975": ({"metformin"}, {"metformin", "glucose_lowering"}),
    "861467": ({"meperidine"}, {"opioid"}),
    "866414": ({"metoprolol"}, {"beta_blocker", "antihypertensive"}),
    "895994": ({"fluticasone"}, set()),
    "897718": ({"verapamil"}, {"calcium_channel_blocker", "antihypertensive"}),
}


def _synthea_medication_codes():
    codes = {}
    for f in sorted(glob.glob(os.path.join(SYNTHEA, "*.json"))):
        with open(f) as fh:
            bundle = json.load(fh)
        for e in bundle.get("entry", []):
            r = e.get("resource", {})
            if r.get("resourceType") in ("MedicationRequest", "MedicationStatement"):
                for c in (r.get("medicationCodeableConcept") or {}).get("coding", []):
                    codes[c["code"]] = (c.get("system"), c.get("display"))
    return codes


@pytest.mark.skipif(not os.path.isdir(SYNTHEA), reason="Synthea sample bundles not present")
def test_every_synthea_medication_code_is_known_and_classified():
    codes = _synthea_medication_codes()
    assert codes
    assert set(codes) <= set(SYNTHEA_EXPECTED), set(codes) - set(SYNTHEA_EXPECTED)
    for code, (system, display) in codes.items():
        ings = ingredients_of_code(system, code)
        want_names, want_classes = SYNTHEA_EXPECTED[code]
        assert set(names(ings)) == want_names, (code, display, ings)
        assert classes_of(ings) == want_classes, (code, display, classes_of(ings))


def test_synthea_expectations_hold_without_the_bundles():
    for code, (want_names, want_classes) in SYNTHEA_EXPECTED.items():
        ings = ingredients_of_code(RX, code)
        assert set(names(ings)) == want_names, code
        assert classes_of(ings) == want_classes, code


def test_synthea_strengths():
    assert [i.strength_mg for i in ingredients_of_code(RX, "312961")] == [20.0]
    assert [i.strength_mg for i in ingredients_of_code(RX, "316672")] == [10.0]  # 'Simvistatin 10 MG'
    assert [i.strength_mg for i in ingredients_of_code(RX, "315971")] == [40.0]  # 'Lasix 40mg'
    assert [i.strength_mg for i in ingredients_of_code(RX, "866414")] == [100.0]
    assert [i.strength_mg for i in ingredients_of_code(RX, "855332")] == [5.0]
    assert [i.strength_mg for i in ingredients_of_code(RX, "106892")] == [None, None]  # insulin: units, not mg


# ------------------------------------------------------------------ codes
def test_ingredient_codes_and_parents_expanded():
    (lis,) = ingredients_of_code(RX, "29046")
    assert lis.name == "lisinopril" and lis.rxcui == "29046" and lis.strength_mg is None
    assert {"ace_inhibitor", "antihypertensive"} <= set(lis.classes)
    assert ingredients_of_code(RX_OID, "29046") == (lis,)
    assert ingredients_of_code(RX + "/", "29046") == (lis,)


def test_precise_ingredient_code_maps_to_base():
    (met,) = ingredients_of_code(RX, "235743")  # metformin hydrochloride (PIN)
    assert met.name == "metformin" and met.rxcui == "6809"


def test_unknown_code_and_wrong_system():
    assert ingredients_of_code(RX, "999999999") == ()
    assert ingredients_of_code(RX, "") == ()
    assert ingredients_of_code(RX, None) == ()
    assert ingredients_of_code("http://snomed.info/sct", "29046") == ()
    assert ingredients_of_code(None, "29046") == ()


def test_multi_ingredient_product():
    ings = ingredients_of_code(RX, "597990")  # amlodipine 10 MG / atorvastatin 40 MG Oral Tablet
    assert [(i.name, i.strength_mg) for i in ings] == [("amlodipine", 10.0), ("atorvastatin", 40.0)]
    assert {"statin", "calcium_channel_blocker", "antihypertensive"} <= classes_of(ings)
    assert statin_intensity("atorvastatin", ings[1].strength_mg) == "high"


def test_class_examples_from_value_sets():
    def cls(code):
        return classes_of(ingredients_of_code(RX, code))
    assert "sglt2_inhibitor" in cls("1545653")        # empagliflozin (IN)
    assert "glp1_receptor_agonist" in cls("1991302")  # semaglutide (IN)
    assert "glp1_receptor_agonist" in cls("2601723")  # tirzepatide (IN, curated)
    assert "doac" in cls("1364430") and "anticoagulant" in cls("1364430")  # apixaban
    assert "doac" in cls("1114195")                   # rivaroxaban
    assert {"arni", "arb", "antihypertensive"} <= classes_of(
        ingredients_by_text("Entresto 49 mg/51 mg"))
    assert "insulin" in cls("274783")                 # insulin glargine
    assert "nsaid" in cls("140587")                   # celecoxib


def test_products_per_key_class_exist():
    counts = {}
    for code in drugs._data()["products"]:
        for c in classes_of(ingredients_of_code(RX, code)):
            counts[c] = counts.get(c, 0) + 1
    for c in ["statin", "ace_inhibitor", "arb", "arni", "thiazide_diuretic", "loop_diuretic", "calcium_channel_blocker",
              "beta_blocker", "sglt2_inhibitor", "glp1_receptor_agonist", "metformin", "insulin", "sulfonylurea",
              "dpp4_inhibitor", "vitamin_k_antagonist", "doac", "p2y12_inhibitor", "aspirin", "nsaid"]:
        assert counts.get(c, 0) >= 1, c


# ------------------------------------------------------------------ aspirin / NSAID
def test_low_dose_aspirin_is_not_an_nsaid():
    low = ingredients_by_text("aspirin 81 mg daily")
    assert classes_of(low) == {"aspirin", "antiplatelet"}
    high = ingredients_by_text("aspirin 325 mg")
    assert "nsaid" in classes_of(high) and "antiplatelet" in classes_of(high)
    assert "nsaid" not in classes_of(ingredients_by_text("aspirin"))


# ------------------------------------------------------------------ text
def test_brand_text_with_strength():
    (ator,) = ingredients_by_text("Lipitor 40 mg tablet")
    assert ator.name == "atorvastatin" and ator.rxcui == "83367" and ator.strength_mg == 40.0
    assert statin_intensity(ator.name, ator.strength_mg) == "high"


def test_text_is_whole_word_and_case_insensitive():
    assert names(ingredients_by_text("LISINOPRIL 10MG")) == ["lisinopril"]
    assert ingredients_by_text("lisinopril")[0].strength_mg is None
    assert ingredients_by_text("prolisinoprilx") == ()
    assert ingredients_by_text("") == ()
    assert ingredients_by_text(None) == ()


def test_text_multiple_and_longest_match():
    ings = ingredients_by_text("Humulin N 10 units, metformin 500 mg bid and insulin glargine")
    assert names(ings) == ["insulin isophane, human", "metformin", "insulin glargine"]
    assert ings[1].strength_mg == 500.0
    assert names(ingredients_by_text("Caduet")) == ["amlodipine", "atorvastatin"]


# ------------------------------------------------------------------ statin intensity (2018 AHA/ACC Table 3)
@pytest.mark.parametrize("name,dose,expected", [
    ("atorvastatin", 10, "moderate"), ("atorvastatin", 20, "moderate"),
    ("atorvastatin", 40, "high"), ("atorvastatin", 80, "high"),
    ("rosuvastatin", 5, "moderate"), ("rosuvastatin", 10, "moderate"),
    ("rosuvastatin", 20, "high"), ("rosuvastatin", 40, "high"),
    ("simvastatin", 10, "low"), ("simvastatin", 20, "moderate"), ("simvastatin", 40, "moderate"),
    ("simvastatin", 80, "moderate"),  # not in Table 3 (FDA warning); lower-band rule
    ("pravastatin", 10, "low"), ("pravastatin", 20, "low"), ("pravastatin", 40, "moderate"), ("pravastatin", 80, "moderate"),
    ("lovastatin", 20, "low"), ("lovastatin", 40, "moderate"), ("lovastatin", 80, "moderate"),
    ("fluvastatin", 20, "low"), ("fluvastatin", 40, "low"),   # 40 mg once daily
    ("fluvastatin", 80, "moderate"),                          # XL 80 mg or 40 mg twice daily
    ("pitavastatin", 1, "moderate"), ("pitavastatin", 2, "moderate"), ("pitavastatin", 4, "moderate"),
])
def test_statin_intensity_table3(name, dose, expected):
    assert statin_intensity(name, dose) == expected


def test_statin_intensity_rules():
    assert statin_intensity("atorvastatin", 30) == "moderate"   # between bands -> lower band
    assert statin_intensity("rosuvastatin", 15) == "moderate"
    assert statin_intensity("lovastatin", 60) == "moderate"
    assert statin_intensity("fluvastatin", 60) == "low"
    assert statin_intensity("simvastatin", 5) == "low"          # below the lowest listed dose
    assert statin_intensity("rosuvastatin", 2.5) == "low"
    assert statin_intensity("Atorvastatin", 40) == "high"       # case-insensitive
    assert statin_intensity("atorvastatin", None) is None
    assert statin_intensity("atorvastatin", 0) is None
    assert statin_intensity("cerivastatin", 0.4) is None         # not in the table
    assert statin_intensity("lisinopril", 10) is None


def test_daily_dose_is_strength_times_frequency():
    (flu,) = ingredients_of_code(RX, "310405")  # fluvastatin 40 MG Oral Capsule
    assert statin_intensity(flu.name, flu.strength_mg) == "low"
    assert statin_intensity(flu.name, flu.strength_mg * 2) == "moderate"


def test_ecqm_statin_sets_agree_with_table3_except_documented_cases():
    """Products of the eCQM high/moderate/low statin sets get the same intensity from Table 3 by strength, except
    the cases the data file documents (simvastatin 80 mg, pitavastatin 1 mg, fluvastatin 40 mg, sub-band doses)."""
    disagreements = set()
    for code, p in drugs._data()["products"].items():
        want = p.get("ecqm_statin_intensity")
        if not want:
            continue
        for i in ingredients_of_code(RX, code):
            if "statin" in i.classes and i.strength_mg is not None:
                got = statin_intensity(i.name, i.strength_mg)
                if got != want:
                    disagreements.add((i.name, i.strength_mg, want, got))
    assert disagreements == {
        ("simvastatin", 80.0, "high", "moderate"),
        ("pitavastatin", 1.0, "low", "moderate"),
        ("fluvastatin", 40.0, "moderate", "low"),
    }


# ------------------------------------------------------------------ classes, version
def test_drug_class_and_version():
    assert drug_class("statin")["title"] == "HMG-CoA reductase inhibitors (statins)"
    assert drug_class("ace_inhibitor")["parent"] == "antihypertensive"
    assert drug_class("doac")["parent"] == "anticoagulant"
    with pytest.raises(KeyError):
        drug_class("no_such_class")
    v = knowledge_version()
    assert "2026-12-02" in v and re.search(r"vsac:2\.16\.840\.1\.113883\.3\.526\.3\.1572", v)
