"""The treatment rules' knowledge files: every regimen is the RxNorm clinical drug the drug knowledge knows, of the
class and statin intensity it is offered for; every recommendation names its guideline and strength; every rule is
declared in one patient-view service with the engines it reads."""
from __future__ import annotations

import json
from importlib import resources

import pytest

from cds_hooks.declaration import SERVICES
from cds_hooks.services import load_all
from engine.registry import rules
from fhir_adapter.terminology import drugs
from tests.engine.treatment_fixtures import medication  # noqa: F401 - registers the rules

load_all()
DATA = resources.files("engine") / "data"
RULE_FILES = ("statin_therapy_2018.json", "af_anticoagulation_2023.json", "diabetes_ckd_2022.json",
              "bp_treatment_2017.json", "behavioural_prevention_uspstf.json")


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


REGIMENS = load("treatment_regimens.json")


@pytest.mark.parametrize("key", sorted(REGIMENS["medications"]))
def test_each_regimen_is_a_sourced_rxnorm_clinical_drug(key):
    entry = REGIMENS["medications"][key]
    assert entry["source"] in REGIMENS["_about"]["sources"]
    dose = entry["dose"]
    assert dose["text"] and dose.get("times_per_day", 1) >= 1
    if entry["source"] == "drugs.json":
        product = drugs.product(entry["rxnorm"])
        assert product is not None, key
        assert product["tty"] == "SCD" and product["name"] == entry["display"]


# Which class each regimen is offered as (the rule that offers it says so in its data file).
EXPECTED_CLASS = {
    "atorvastatin": "statin", "rosuvastatin": "statin", "apixaban": "doac", "rivaroxaban": "doac",
    "edoxaban": "doac", "dabigatran": "doac", "warfarin": "vitamin_k_antagonist",
    "empagliflozin": "sglt2_inhibitor", "dapagliflozin": "sglt2_inhibitor", "canagliflozin": "sglt2_inhibitor",
    "metformin": "metformin", "lisinopril": "ace_inhibitor", "losartan": "arb", "chlorthalidone": "thiazide_diuretic",
    "amlodipine": "calcium_channel_blocker",
}


@pytest.mark.parametrize("key", sorted(k for k in REGIMENS["medications"] if k.split("-")[0] in EXPECTED_CLASS))
def test_each_regimen_is_of_its_class(key):
    entry = REGIMENS["medications"][key]
    ingredients = drugs.ingredients_of_code("http://www.nlm.nih.gov/research/umls/rxnorm", entry["rxnorm"])
    assert len(ingredients) == 1
    assert EXPECTED_CLASS[key.split("-")[0]] in drugs.classes_of(ingredients), key


@pytest.mark.parametrize("intensity", ["moderate", "high"])
def test_statin_regimens_are_of_the_intensity_they_are_offered_for(intensity):
    statin = load("statin_therapy_2018.json")
    for key in statin["regimens"][intensity]:
        entry = REGIMENS["medications"][key]
        [ingredient] = drugs.ingredients_of_code("http://www.nlm.nih.gov/research/umls/rxnorm", entry["rxnorm"])
        daily = entry["dose"]["quantity"] * entry["dose"]["times_per_day"]
        assert drugs.statin_intensity(ingredient.name, daily) == intensity, key  # 2018 AHA/ACC Table 3


@pytest.mark.parametrize("name", RULE_FILES)
def test_each_rule_file_names_its_sources_and_grades(name):
    data = load(name)
    assert data["_about"]["sources"] and data["_about"]["retrieved"]
    guidelines = [v for k, v in data.items() if isinstance(v, dict) and "guideline" in v] or [data]
    for block in guidelines:
        guideline = block["guideline"]
        assert guideline["name"] and guideline["full"] and guideline["doi"] and guideline["url"].startswith("https://")
    recommendations = [r for r in _walk(data) if isinstance(r, dict) and "strength" in r]
    assert recommendations
    for rec in recommendations:
        assert rec["text"] and rec["strength"] and rec["section"], rec


def _walk(value):
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def test_every_regimen_and_order_a_rule_names_exists():
    statin, af, kidney = load("statin_therapy_2018.json"), load("af_anticoagulation_2023.json"), \
        load("diabetes_ckd_2022.json")
    bp, behaviour = load("bp_treatment_2017.json"), load("behavioural_prevention_uspstf.json")
    named = [*statin["regimens"]["moderate"], *statin["regimens"]["high"], af["vka_regimen"],
             *[o[k] for o in af["doac_options"] for k in ("regimen", "reduced_regimen") if k in o],
             *[o["regimen"] for o in kidney["sglt2i"]["options"]], kidney["metformin"]["regimen"],
             *kidney["raas"]["regimens"], *bp["first_line"]["regimens"], *bp["first_line"]["preferred"].values(),
             *behaviour["tobacco"]["regimens"]]
    assert set(named) <= set(REGIMENS["medications"])
    assert set(bp["first_line"]["preferred"].values()) <= set(bp["first_line"]["regimens"])
    orders = [behaviour["tobacco"]["counselling_order"], behaviour["weight"]["referral_order"]]
    assert set(orders) <= set(REGIMENS["orders"])
    for key in orders:
        assert REGIMENS["orders"][key]["source"] in REGIMENS["_about"]["sources"]


def test_each_rule_is_declared_once_on_patient_view_with_what_it_reads():
    declared = {}
    for definition in SERVICES:
        for engine_id in definition.engines:
            if engine_id in rules:
                declared.setdefault(engine_id, []).append(definition)
    assert set(declared) == set(rules.ids())
    for engine_id, services in declared.items():
        assert len(services) == 1 and services[0].hook == "patient-view", engine_id
        assert set(rules.get(engine_id).reads_findings) <= set(services[0].engines)


def test_every_rule_cites_a_guideline_with_a_link():
    for rule in rules:
        assert rule.citation.url and rule.citation.doi and rule.citation.topic, rule.id


def test_regimen_options_are_built_once_and_are_the_data_files():
    """rules.common.medication_option keeps each regimen's option (package data, an immutable option): bounded, and
    the same option as one built afresh."""
    from engine.rules.common import medication_option, regimens

    assert medication_option.cache_info().maxsize is not None
    for key in regimens()["medications"]:
        assert medication_option(key) == medication_option.__wrapped__(key)
        assert medication_option(key, label="x") == medication_option.__wrapped__(key, label="x")
    assert medication_option.cache_info().currsize <= medication_option.cache_info().maxsize
