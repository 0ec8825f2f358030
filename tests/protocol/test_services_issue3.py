"""Issue 3 services end to end (hook request -> cards), their prefetch declarations, and card hygiene across engines."""
from __future__ import annotations

import copy
import json
import re
from datetime import date, timedelta

import pytest
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.servicerequest import ServiceRequest

import engine.calculators  # noqa: F401 - registers the calculators
import engine.detectors  # noqa: F401 - registers the detectors
from cards.render import DIAGNOSIS_OVERRIDE_REASONS, RenderOptions, render_cards
from cds_hooks.config import load_config
from cds_hooks.declaration import SERVICES, engine_features, engine_records
from cds_hooks.evaluate import evaluate_document
from cds_hooks.services import load_all
from cds_hooks.services.feature_prefetch import PREFETCH_KEYS, genomic_queries, prefetch_for, resource_types
from cds_hooks.validation import validate_response
from engine.finding import Citation, Finding, Kind, MissingInput, Severity, Status
from engine.proposals import LOINC, AddProblem, Coding, ConditionRef, OrderTest, suggest
from engine.registry import calculators
from fhir_adapter.feature_codes import NON_LOINC_OBSERVATION_CODES, OBSERVATION_CODES
from tests.conftest import SHARED_DATA, load_fixture

load_all()

RISK_ENGINES = ("ckd-epi-2021-cr-cys", "kdigo-2012-ckd-stage", "kfre-4v", "cha2ds2-vasc", "has-bled", "fib-4",
                "prevent-2024-30y", "ada-diabetes-risk")
ACUTE_ENGINES = ("news2", "qsofa")
MISSING_CALCULATORS = [e for e in RISK_ENGINES + ACUTE_ENGINES if e not in calculators]
needs_calculators = pytest.mark.xfail(bool(MISSING_CALCULATORS), strict=False,
                                      reason=f"issue-3 calculators not registered yet: {MISSING_CALCULATORS}")


def post(client, service_id, body):
    return client.post(f"/cds-services/{service_id}", data=json.dumps(body), content_type="application/json")


def by_engine(cards) -> dict[str, dict]:
    """Cards keyed by engine id, found from their source label: the engine's short citation (cards name no engine ids;
    the first engine of the declared services with that citation wins)."""
    from cds_hooks.declaration import SERVICES, find_engine

    engine_of: dict[str, str] = {}
    for definition in SERVICES:
        for engine_id in definition.engines:
            engine_of.setdefault(find_engine(engine_id).citation.short, engine_id)
    out = {}
    for card in cards:
        out.setdefault(engine_of.get(card["source"]["label"], card["source"]["label"]), card)
    return out


def suggestion_resources(card, resource_type):
    return [a["resource"] for s in card.get("suggestions", []) for a in s["actions"]
            if a["resource"]["resourceType"] == resource_type]


# -- declarations ------------------------------------------------------------------------------------------------------
def test_the_three_services_are_discoverable_with_the_right_hooks(client):
    services = {s["id"]: s for s in client.get("/cds-services").get_json()["services"]}
    assert services["risk-scores"]["hook"] == "patient-view"
    assert services["diagnosis-gaps"]["hook"] == "patient-view"
    assert services["acute-deterioration-scores"]["hook"] == "encounter-start"
    for service_id in ("risk-scores", "diagnosis-gaps", "acute-deterioration-scores"):
        assert services[service_id]["prefetch"]["patient"] == "Patient/{{context.patientId}}"


# Services whose engines read features; the note service declares the note searches its note engine reads.
@pytest.mark.parametrize("service_id", sorted(s.id for s in SERVICES if s.engines and engine_features(s.engines)))
def test_prefetch_follows_from_the_features_the_engines_read(service_id):
    definition = SERVICES.get(service_id)
    names = engine_features(definition.engines)
    records = engine_records(definition.engines)
    assert definition.prefetch == prefetch_for(names, records)
    expected_keys = {PREFETCH_KEYS[t] for t in {*resource_types(names), *records} if t in PREFETCH_KEYS} | {"patient"}
    expected_keys |= {key for record, (key, _) in genomic_queries().items() if record in records}
    non_loinc = {"coded_observations"} if set(names) & set(NON_LOINC_OBSERVATION_CODES) else set()
    assert set(definition.prefetch) == expected_keys | non_loinc
    for feature in names:  # every coded observation an engine reads is asked for
        for loinc in OBSERVATION_CODES.get(feature, ()):
            assert f"http://loinc.org|{loinc}" in definition.prefetch["observations"], (feature, loinc)


def test_diagnosis_prefetch_asks_for_every_result_the_detectors_read():
    query = SERVICES.get("diagnosis-gaps").prefetch["observations"]
    for loinc in ("4548-4", "1558-6", "8480-6", "33914-3", "9318-7", "39156-5", "29463-7", "8302-2", "718-7",
                  "18262-6"):
        assert f"http://loinc.org|{loinc}" in query, loinc
    assert "2093-3" not in query  # total cholesterol: no detector reads it


# -- diagnosis-gaps end to end -----------------------------------------------------------------------------------------
def test_diagnosis_gaps_end_to_end(client):
    resp = post(client, "diagnosis-gaps", load_fixture("hooks/patient-view-diagnosis-gaps.json"))
    assert resp.status_code == 200  # the client fixture validated the response schema
    cards = resp.get_json()["cards"]
    engines = by_engine(cards)
    assert set(engines) == {"diabetes-gap", "hypertension-gap", "ckd-gap", "fh-possible", "anemia-gap",
                            "weight-loss-uspstf-2018"}
    assert "obesity-gap" not in engines  # BMI 36.2, but obesity is on the problem list
    # Every diagnosis is a warning; the weight-management referral for the listed obesity (USPSTF 2018) is not one.
    assert all(c["indicator"] == "warning" for c in cards if c is not engines["weight-loss-uspstf-2018"])
    assert engines["weight-loss-uspstf-2018"]["indicator"] == "info"

    diabetes = engines["diabetes-gap"]
    assert diabetes["summary"] == "Possible undiagnosed diabetes: HbA1c 7.1 %, FPG 131 mg/dL (ADA criteria met)"
    # The results with their date, the criteria met by name; resource ids and thresholds are on the explainer page.
    assert "**Based on:** HbA1c 7.1 %, FPG 131 mg/dL (2026-04-20)" in diabetes["detail"]
    assert "Observation/" not in diabetes["detail"]
    assert "same sample" in diabetes["detail"]
    assert "**Criteria met:** HbA1c >= 6.5 %; Fasting plasma glucose >= 126 mg/dL" in diabetes["detail"]
    assert diabetes["overrideReasons"] == list(DIAGNOSIS_OVERRIDE_REASONS)
    assert {r["code"] for r in diabetes["overrideReasons"]} == {"already-addressed", "not-applicable",
                                                                "patient-declined", "data-error"}

    condition = suggestion_resources(diabetes, "Condition")[0]
    model = Condition.model_validate(condition)  # valid FHIR R4 (R4B Condition is unchanged from R4)
    assert condition["subject"] == {"reference": "Patient/dx-gaps-woman"}
    assert model.verificationStatus.coding[0].code == "provisional"
    assert model.clinicalStatus.coding[0].code == "active"
    assert model.category[0].coding[0].code == "problem-list-item"
    assert {c.code for c in model.code.coding} == {"73211009", "E11.9"}
    assert {d.reference for d in model.evidence[0].detail} == {"Observation/dx-a1c", "Observation/dx-fpg"}

    assert engines["hypertension-gap"]["summary"].startswith("Possible undiagnosed hypertension: average 144/93 mmHg")
    ckd = engines["ckd-gap"]
    assert "G3a A2" in ckd["summary"]
    assert {c["code"] for c in suggestion_resources(ckd, "Condition")[0]["code"]["coding"]} == {"700378005", "N18.31"}
    assert "DLCN 3 points" in engines["fh-possible"]["summary"]
    anaemia = engines["anemia-gap"]
    assert "Hb 11.4 g/dL" in anaemia["summary"] and "mild" in anaemia["summary"]
    for request in suggestion_resources(anaemia, "ServiceRequest"):
        model = ServiceRequest.model_validate(request)
        assert (model.status, model.intent) == ("draft", "proposal")
        assert request["subject"] == {"reference": "Patient/dx-gaps-woman"}


def test_hypertensive_crisis_is_the_first_card_and_critical(client):
    body = load_fixture("hooks/patient-view-diagnosis-gaps.json")
    crisis = copy.deepcopy(next(e for e in body["prefetch"]["observations"]["entry"]
                                if e["resource"]["id"] == "dx-bp-2"))
    crisis["resource"]["id"] = "dx-bp-crisis"
    crisis["resource"]["effectiveDateTime"] = "2026-05-30T09:00:00Z"
    crisis["resource"]["component"][0]["valueQuantity"]["value"] = 188
    crisis["resource"]["component"][1]["valueQuantity"]["value"] = 124
    body["prefetch"]["observations"]["entry"].insert(0, crisis)
    cards = post(client, "diagnosis-gaps", body).get_json()["cards"]
    assert cards[0]["indicator"] == "critical"
    assert "188/124" in cards[0]["summary"]
    assert "BP 188/124 mmHg on 2026-05-30" in cards[0]["detail"] and "Observation/" not in cards[0]["detail"]
    diagnoses = [c for c in cards[1:] if not c["summary"].startswith("Weight management")]
    assert [c["indicator"] for c in diagnoses] == ["warning"] * len(diagnoses)


def test_no_diagnosis_card_once_the_conditions_are_on_the_problem_list(client):
    body = load_fixture("hooks/patient-view-diagnosis-gaps.json")
    conditions = body["prefetch"]["conditions"]
    template = conditions["entry"][0]
    for i, (system, code) in enumerate([("http://hl7.org/fhir/sid/icd-10-cm", "E11.9"),
                                        ("http://hl7.org/fhir/sid/icd-10-cm", "I10"),
                                        ("http://snomed.info/sct", "700378005"),
                                        ("http://hl7.org/fhir/sid/icd-10-cm", "E78.01"),
                                        ("http://hl7.org/fhir/sid/icd-10-cm", "D64.9")]):
        entry = copy.deepcopy(template)
        entry["resource"]["id"] = f"dx-listed-{i}"
        entry["resource"]["code"] = {"coding": [{"system": system, "code": code}]}
        conditions["entry"].append(entry)
    conditions["total"] = len(conditions["entry"])
    # No diagnosis card; the listed obesity (BMI 36.2) still has its weight-management referral (USPSTF 2018).
    cards = post(client, "diagnosis-gaps", body).get_json()["cards"]
    assert [c["summary"].split(":")[0] for c in cards] == ["Weight management"]


# -- risk-scores and acute scores end to end ---------------------------------------------------------------------------
@needs_calculators
def test_risk_scores_end_to_end(client):
    resp = post(client, "risk-scores", load_fixture("hooks/patient-view-risk-scores.json"))
    assert resp.status_code == 200
    cards = resp.get_json()["cards"]
    engines = by_engine(cards)
    # Every computed score has its card; the not-applicable ones (PREVENT 30-year at 72, the ADA risk test with
    # diabetes) are not cards by default. One set of kidney results (creatinine, cystatin C, UACR 120 mg/g on
    # 2026-05-04) does not establish CKD (KDIGO 2024: > 3 months), so neither the KDIGO stage nor the KFRE is presented:
    # the CKD diagnosis card says G3a A2 "needs > 90 days". HAS-BLED is on the CHA2DS2-VASc card with the anticoagulant
    # it calls for (docs/treatment.md).
    assert set(engines) == {"ckd-epi-2021-cr-cys", "cha2ds2-vasc", "prevent-2024-30y", "fib-4"}
    assert "**Also:** Major bleeding risk in atrial fibrillation (HAS-BLED): 1 point" in engines["cha2ds2-vasc"]["detail"]
    assert not any(c["summary"].startswith("Not applicable") for c in cards)
    gaps = by_engine(post(client, "diagnosis-gaps", load_fixture("hooks/patient-view-risk-scores.json")).get_json()["cards"])
    assert "G3a A2" in gaps["ckd-gap"]["summary"] and "high risk" in gaps["ckd-gap"]["summary"]
    assert "needs > 90 days" in gaps["ckd-gap"]["summary"]
    # Female 72 with hypertension and diabetes: sex 1 + age 65-74 1 + hypertension 1 + diabetes 1 = 4 (Lip 2010).
    assert re.search(r"\b4 points\b", engines["cha2ds2-vasc"]["summary"])
    # FIB-4 = age x AST / (platelets x sqrt(ALT)) = 72 x 40 / (200 x sqrt 30) = 2.63 (Sterling 2006).
    assert "2.6" in engines["fib-4"]["summary"]
    # Override reasons: those of a medication, for the anticoagulant the card proposes (no diagnosis is offered).
    assert {r["code"] for r in engines["cha2ds2-vasc"]["overrideReasons"]} == {
        "already-on-therapy", "contraindicated", "patient-declined", "not-applicable"}


@needs_calculators
def test_acute_scores_end_to_end(client):
    resp = post(client, "acute-deterioration-scores", load_fixture("hooks/encounter-start-acute-scores.json"))
    assert resp.status_code == 200
    cards = resp.get_json()["cards"]
    engines = by_engine(cards)
    # NEWS2: RR 24 -> 2, SpO2 93 % -> 2, room air 0, SBP 98 -> 2, HR 112 -> 2, alert 0, 38.6 C -> 1 = 9 (RCP 2017).
    assert re.search(r"\b9 points\b", engines["news2"]["summary"])
    assert engines["news2"]["indicator"] == "critical"
    assert cards[0] is engines["news2"]
    # qSOFA: RR >= 22 and SBP <= 100, alert = 2 (Seymour 2016).
    assert re.search(r"\b2 points\b", engines["qsofa"]["summary"])


def test_acute_service_rejects_a_patient_view_request(client):
    body = load_fixture("hooks/patient-view-diagnosis-gaps.json")
    assert post(client, "acute-deterioration-scores", body).status_code == 400


# -- card hygiene ------------------------------------------------------------------------------------------------------
CITATION = Citation(short="Test 2026", full="Test citation.")
SNOMED_SYSTEM = "http://snomed.info/sct"


def finding(fid, *, engine="engine-a", severity=Severity.WARNING, kind=Kind.DIAGNOSIS, status=Status.COMPUTED,
            concept=None, actions=(), missing=()):
    condition = None
    if concept:
        condition = ConditionRef(id=concept["id"], name=concept["id"],
                                 related_ids=tuple(concept.get("related_ids", ())),
                                 codings=tuple(Coding(c["system"], c["code"]) for c in concept.get("codings", ())))
    return Finding(id=fid, engine_id=engine, engine_version="1.0.0", kind=kind, status=status, title=f"Title {fid}",
                   citation=CITATION, value="x", severity=severity, suggestions=tuple(actions),
                   missing=tuple(missing), condition=condition)


def condition_action(label):
    return suggest(label, AddProblem(condition=ConditionRef("c", label, codings=(Coding(SNOMED_SYSTEM, "1"),)),
                                     description="d", note="n"))


def test_findings_about_the_same_condition_from_two_engines_make_one_card():
    notes = finding("notes:type-2-diabetes", engine="note-mining", severity=Severity.INFO,
                    concept={"id": "type-2-diabetes", "codings": [{"system": "http://snomed.info/sct",
                                                                   "code": "44054006"}]},
                    actions=[condition_action("Add T2DM (notes)")])
    labs = finding("diabetes-gap:diabetes", engine="diabetes-gap",
                   concept={"id": "diabetes-mellitus", "related_ids": ["type-2-diabetes"],
                            "codings": [{"system": "http://snomed.info/sct", "code": "73211009"}]},
                   actions=[condition_action("Add diabetes (labs)"),
                            suggest("Order HbA1c", OrderTest(Coding(LOINC, "4548-4"), "HbA1c", reason="d"))])
    other = finding("anemia-gap:anemia", engine="anemia-gap", concept={"id": "anemia"})
    rendered = render_cards([notes, labs, other], RenderOptions(patient_id="p1"))
    assert len(rendered) == 2
    merged = next(rc for rc in rendered if "diabetes-gap" in rc.engine_ids)
    assert merged.finding_ids == ("diabetes-gap:diabetes", "notes:type-2-diabetes")  # the more severe leads
    assert merged.card["indicator"] == "warning"
    # The other finding is one line on the lead's card, by its summary, without engine ids.
    assert "**Also:** Title notes:type-2-diabetes: x" in merged.card["detail"]
    assert "note-mining" not in merged.card["detail"]
    labels = [s["label"] for s in merged.card["suggestions"]]
    assert labels == ["Add diabetes (labs)", "Order HbA1c"]  # one problem-list Condition, not two


def test_same_snomed_code_merges_and_findings_without_a_concept_never_merge():
    a = finding("a", concept={"id": "x", "codings": [{"system": "http://snomed.info/sct", "code": "38341003"}]})
    b = finding("b", engine="engine-b", concept={"id": "y", "codings": [{"system": "http://snomed.info/sct",
                                                                          "code": "38341003"}]})
    c, d = finding("c", kind=Kind.RISK), finding("d", kind=Kind.RISK)
    rendered = render_cards([a, b, c, d])
    assert [rc.finding_ids for rc in rendered] == [("a", "b"), ("c",), ("d",)]


def test_override_reasons_only_on_diagnosis_cards():
    rendered = render_cards([finding("dx"), finding("risk", kind=Kind.RISK)])
    assert rendered[0].card["overrideReasons"][0] == {"system": "urn:precision-cds:override-reason",
                                                      "code": "already-addressed",
                                                      "display": "Already addressed (diagnosed or documented elsewhere)"}
    assert "overrideReasons" not in rendered[1].card
    assert not validate_response({"cards": [rc.card for rc in rendered]})


def test_cards_are_ordered_by_severity_and_capped():
    findings = [finding(f"i{i}", severity=Severity.INFO, kind=Kind.RISK) for i in range(4)]
    findings += [finding("w", severity=Severity.WARNING), finding("c", severity=Severity.CRITICAL)]
    rendered = render_cards(findings, RenderOptions(max_cards=3))
    assert [rc.finding_ids[0] for rc in rendered] == ["c", "w", "i0"]


def test_not_applicable_findings_share_one_card_and_a_single_one_keeps_its_own():
    na = [Finding(id=f"na{i}", engine_id=f"engine-{i}", engine_version="1.0.0", kind=Kind.RISK,
                  status=Status.NOT_APPLICABLE, title=f"Score {i}", citation=CITATION, message=f"Reason {i}.")
          for i in range(3)]
    assert render_cards(na) == []  # not on cards by default: the explainer page has them
    combined = render_cards(na, RenderOptions(show_not_applicable=True))
    assert len(combined) == 1
    assert combined[0].card["summary"] == "Not applicable here: Score 0, Score 1, Score 2"
    assert all(f"Reason {i}." in combined[0].card["detail"] for i in range(3))
    assert combined[0].finding_ids == ("na0", "na1", "na2")
    single = render_cards(na[:1], RenderOptions(show_not_applicable=True))
    assert single[0].card["summary"] == "Score 0: not applicable — Reason 0."
    assert render_cards(na, RenderOptions(show_not_applicable=False)) == []


def test_data_needed_card_stays_readable_with_many_engines():
    missing = [MissingInput(f"f{i}", f"Laboratory value number {i}", "not found") for i in range(12)]
    findings = [finding(f"n{i}", engine=f"engine-{i}", status=Status.INSUFFICIENT_DATA, kind=Kind.RISK,
                        missing=missing[i:i + 2]) for i in range(8)]
    rendered = render_cards(findings)
    assert len(rendered) == 1
    summary = rendered[0].card["summary"]
    assert len(summary) < 140
    assert summary.startswith("Data needed for 8 assessments: Laboratory value number 0, ")
    assert re.search(r"\+\d+ more$", summary)  # says how many were left out, no cut-off word
    assert rendered[0].finding_ids == tuple(f"n{i}" for i in range(8))
    assert all(f"Title n{i}" in rendered[0].card["detail"] for i in range(8))


# -- Synthea: no diagnosis card for a condition already on the problem list -------------------------------------------
SYNTHEA_FILES = sorted((SHARED_DATA / "synthea").glob("*.json")) if (SHARED_DATA / "synthea").is_dir() else []
# Independent of engine/data/diagnosis_codes.json: the SNOMED CT codes Synthea writes for these conditions.
SYNTHEA_CODES = {
    "44054006": {"diabetes-mellitus"}, "127013003": {"diabetes-mellitus", "chronic-kidney-disease"},
    "368581000119106": {"diabetes-mellitus"}, "15777000": {"prediabetes"}, "38341003": {"hypertension"},
    "162864005": {"obesity"}, "271737000": {"anemia"}, "431855005": {"chronic-kidney-disease"},
    "431856006": {"chronic-kidney-disease"}, "433144002": {"chronic-kidney-disease"},
}


def _active_concepts(resources) -> set[str]:
    listed = set()
    for r in resources:
        if r.get("resourceType") != "Condition" or r.get("abatementDateTime"):
            continue
        status = [c.get("code") for c in (r.get("clinicalStatus") or {}).get("coding", [])]
        if "active" not in status:
            continue
        for coding in (r.get("code") or {}).get("coding", []):
            listed |= SYNTHEA_CODES.get(coding.get("code"), set())
    if "diabetes-mellitus" in listed:
        listed.add("prediabetes")  # the detector never suggests prediabetes in diabetes
    return listed


@pytest.mark.skipif(not SYNTHEA_FILES, reason="../shared/data/synthea is absent")
def test_synthea_no_diagnosis_card_for_a_listed_condition():
    fired_concepts = 0
    for path in SYNTHEA_FILES:
        bundle = json.loads(path.read_text())
        resources = [e["resource"] for e in bundle["entry"]]
        # Evaluate the day after the patient's newest observation, so the results are current (Synthea records end
        # years before the tests' fixed date and would all be stale).
        newest = max(r["effectiveDateTime"][:10] for r in resources
                     if r["resourceType"] == "Observation" and "effectiveDateTime" in r)
        as_of = (date.fromisoformat(newest) + timedelta(days=1)).isoformat()
        out = evaluate_document(bundle, service_id="diagnosis-gaps",
                                config=load_config({"AS_OF": as_of, "DEV_MODE": True}))
        assert "error" not in out, (path.name, out)
        assert not validate_response({"cards": out["cards"]}), path.name
        listed = _active_concepts(resources)
        for f in out["findings"]:
            if f["kind"] == "treatment":
                continue  # weight management for a listed obesity is a treatment, not a diagnosis card
            concept = (f.get("condition") or {}).get("id")
            if f.get("category") == "hypertensive crisis" and concept in listed:
                assert not f.get("suggestions"), path.name  # an emergency is shown, but no second problem entry offered
                continue
            assert concept not in listed, (path.name, concept, f["id"])
            fired_concepts += f["status"] == "computed"
    assert fired_concepts > 0  # the check is not vacuous: some gaps are found in these records
