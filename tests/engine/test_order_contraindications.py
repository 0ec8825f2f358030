"""The condition-contraindication order check below the HTTP layer: a DOAC drafted for a patient with a mechanical
heart valve (critical, every DOAC ingredient, any indication), with a prosthetic valve of uncoded type (a warning to
confirm it) or with rheumatic mitral stenosis in atrial fibrillation (warning; one of uncoded type, a warning to confirm
its type and severity), read from FHIR by the adapter as the services read it; warfarin, a xenogenic valve, a refuted
or entered-in-error valve entry, a non-rheumatic mitral stenosis and a resolved one give nothing."""
from __future__ import annotations

from datetime import date

import pytest

from engine.order_checks.common import OrderCheckDetails
from engine.order_checks.contraindications import ConditionContraindication, knowledge
from fhir_adapter.features.draft_orders import read_draft_orders
from fhir_adapter.features.extract import extract_features
from fhir_adapter.terminology import drugs
from tests import order_requests as o

AS_OF = date(2026, 6, 1)
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
DOACS = {"apixaban": ("1364445", "apixaban 5 MG Oral Tablet", 5, 2),
         "rivaroxaban": ("1232086", "rivaroxaban 20 MG Oral Tablet", 20, 1),
         "edoxaban": ("1599555", "edoxaban 60 MG Oral Tablet", 60, 1),
         "dabigatran": ("1037045", "dabigatran etexilate 150 MG Oral Capsule", 150, 2)}
WARFARIN = ("855332", "warfarin sodium 5 MG Oral Tablet", 5, 1)
MITRAL_STENOSIS_ANY = ("79619009", "Mitral valve stenosis")


def icd10(cid: str, code: str, display: str, **kwargs) -> dict:
    condition = o.condition(cid, code, display, **kwargs)
    condition["code"]["coding"][0]["system"] = ICD10CM
    return condition


def mechanical_valve(**kwargs) -> dict:
    return icd10("valve", "Z95.2", "Presence of mechanical prosthetic heart valve", onset="2019-03-04", **kwargs)


def rheumatic_mitral_stenosis() -> dict:
    return icd10("ms", "I05.0", "Rheumatic mitral stenosis")


def with_status(condition: dict, *, clinical: str | None = None, verification: str | None = None) -> dict:
    if clinical:
        condition["clinicalStatus"]["coding"][0]["code"] = clinical
    if verification:
        condition["verificationStatus"]["coding"][0]["code"] = verification
    return condition


def findings(drug: tuple, record: list[dict], *, reason: tuple[str, str] | None = None):
    code, display, amount, per_day = drug
    drafted = o.draft("d1", code, display, amount=amount, per_day=per_day, reason=reason)
    features = extract_features([o.patient(), *record], as_of=AS_OF, patient_id=o.PATIENT_ID,
                                features=ConditionContraindication.optional)
    features.draft_orders, _ = read_draft_orders(o.bundle([drafted]), patient_id=o.PATIENT_ID)
    return ConditionContraindication().evaluate(features)


@pytest.mark.parametrize("ingredient", sorted(DOACS))
def test_every_doac_with_a_mechanical_valve_is_contraindicated_whatever_the_indication(ingredient):
    (finding,) = findings(DOACS[ingredient], [mechanical_valve()])
    assert finding.severity.value == "critical" and finding.value == "contraindicated"
    assert finding.rule_id == "condition-contraindication:condition:doac-mechanical-valve"
    # RE-ALIGN tested dabigatran (LOE B-R); the anti-Xa DOACs were not assessed (LOE C-EO).
    level = "B-R" if ingredient == "dabigatran" else "C-EO"
    assert finding.recommendation.strength == f"Class 3: Harm, LOE {level}"
    assert "2020 ACC/AHA valvular heart disease guideline" in finding.citation.short
    assert "heparin bridging until the INR is therapeutic" in finding.message
    details = finding.details
    assert isinstance(details, OrderCheckDetails) and details.draft == "MedicationRequest/d1"
    assert details.trigger.startswith("mechanical heart valve (") and "Z95.2" in details.trigger
    assert "2019-03-04" in details.trigger
    valve, drafted = finding.inputs
    assert (valve.name, valve.source, valve.value, str(valve.effective)[:10]) == (
        "mechanical_heart_valve", "Condition/valve", True, "2019-03-04")
    assert (drafted.name, drafted.source, drafted.value) == ("drafted_drug", "MedicationRequest/d1", DOACS[ingredient][1])
    # Cancel, or cancel and start warfarin (at most one, the warfarin switch recommended).
    labels = [s.label for s in finding.suggestions]
    assert labels[0] == f"Cancel the {ingredient} order" and labels[1].startswith(f"Cancel {ingredient}; start warfarin")
    assert labels[1].endswith("with heparin bridging until the INR is therapeutic")
    assert [s.recommended for s in finding.suggestions] == [False, True]


def test_warfarin_with_a_mechanical_valve_is_not_flagged():
    assert findings(WARFARIN, [mechanical_valve()]) == []


def test_a_valve_entry_counts_whatever_its_clinical_status_but_not_when_refuted_or_entered_in_error():
    assert len(findings(DOACS["apixaban"], [with_status(mechanical_valve(), clinical="resolved")])) == 1
    for verification in ("refuted", "entered-in-error"):
        assert findings(DOACS["apixaban"], [with_status(mechanical_valve(), verification=verification)]) == []
    assert findings(DOACS["apixaban"], [with_status(mechanical_valve(), verification="unconfirmed")]) == []


def test_a_prosthetic_valve_of_uncoded_type_is_a_warning_to_confirm_it():
    """Z95.2 'Presence of prosthetic heart valve' includes a valve NOS, and bioprosthetic (TAVR) valves are often
    coded with it: without "mechanical" in its display it is a warning, not a contraindication."""
    (finding,) = findings(DOACS["apixaban"], [icd10("v", "Z95.2", "Presence of prosthetic heart valve")])
    assert finding.severity.value == "warning" and finding.value == "confirm the valve type"
    assert finding.title == "Apixaban with prosthetic heart valve (type not coded)"
    assert "apixaban with prosthetic heart valve (type not coded) (Presence of prosthetic heart valve" in finding.message
    assert "DOACs are contraindicated with a mechanical valve — confirm the valve type" in finding.message
    assert "a bioprosthetic valve allows a DOAC (2020 ACC/AHA VHD, after 3 months, Class 2a)" in finding.message
    labels = [s.label for s in finding.suggestions]
    assert labels[0] == "Cancel the apixaban order" and labels[1].startswith("Cancel apixaban; start warfarin")


def test_mechanical_in_the_display_is_read_whatever_its_case():
    (finding,) = findings(DOACS["apixaban"], [icd10("v", "Z95.2", "MECHANICAL mitral valve")])
    assert finding.severity.value == "critical" and finding.value == "contraindicated"


def test_a_xenogenic_or_other_replacement_valve_is_not_flagged():
    """ICD-10-CM keeps xenogenic (bioprosthetic, Z95.3) and other replacement valves (Z95.4) apart, and a DOAC is not
    contraindicated with them."""
    for code, display in (("Z95.3", "Presence of xenogenic heart valve"),
                          ("Z95.4", "Presence of other heart-valve replacement")):
        assert findings(DOACS["apixaban"], [icd10("v", code, display)]) == []


def test_rheumatic_mitral_stenosis_in_atrial_fibrillation_is_a_warning_to_use_warfarin():
    record = [rheumatic_mitral_stenosis(), o.atrial_fibrillation()]
    (finding,) = findings(DOACS["rivaroxaban"], record)
    assert finding.severity.value == "warning"
    assert finding.value == "warfarin recommended over a DOAC (rheumatic, moderate or severe)"
    assert finding.title == "Rivaroxaban with rheumatic mitral stenosis"
    assert finding.rule_id == "condition-contraindication:condition:doac-mitral-stenosis-af"
    assert finding.recommendation.strength == "Class 1, LOE B-R"
    assert "INVICTUS" in finding.message and "moderate or severe" in finding.message
    assert any("atrial fibrillation" in a for a in finding.assumptions)  # the order named no reason
    by_reason = findings(DOACS["rivaroxaban"], [rheumatic_mitral_stenosis()],
                         reason=("49436004", "Atrial fibrillation"))
    assert len(by_reason) == 1 and by_reason[0].assumptions == ()


def test_a_non_rheumatic_mitral_stenosis_gives_nothing():
    """INVICTUS and the guideline's exception concern rheumatic mitral stenosis: I34.2 is not it."""
    stenosis = icd10("ms", "I34.2", "Nonrheumatic mitral (valve) stenosis")
    assert findings(DOACS["rivaroxaban"], [stenosis, o.atrial_fibrillation()]) == []
    (finding,) = findings(DOACS["rivaroxaban"], [icd10("ms", "I05.2", "Rheumatic mitral stenosis with insufficiency"),
                                                 o.atrial_fibrillation()])
    assert finding.value == "warfarin recommended over a DOAC (rheumatic, moderate or severe)"


def test_a_mitral_stenosis_of_uncoded_type_is_a_warning_to_confirm_its_type_and_severity():
    """SNOMED CT 79619009 does not say whether the stenosis is rheumatic; most is, so the draft is not let through
    silently: a warning with the rheumatic rule's actions (cancel, or cancel and start warfarin)."""
    (finding,) = findings(DOACS["apixaban"], [o.condition("ms", *MITRAL_STENOSIS_ANY), o.atrial_fibrillation()])
    assert finding.severity.value == "warning" and finding.value == "confirm the type and severity"
    assert finding.title == "Apixaban with mitral stenosis of uncoded type"
    assert finding.rule_id == "condition-contraindication:condition:doac-mitral-stenosis-af"
    assert finding.recommendation.strength == "Class 1, LOE B-R if rheumatic, moderate or severe"
    assert ("mitral stenosis of uncoded type (Mitral valve stenosis (SNOMED 79619009), 2025-01-01): if rheumatic and "
            "moderate or severe, warfarin is recommended over a DOAC (2023 ACC/AHA/ACCP/HRS AF) — confirm the type and "
            "severity"
            in finding.message)
    assert [e.source for e in finding.inputs][0] == "Condition/ms"
    labels = [s.label for s in finding.suggestions]
    assert labels[0] == "Cancel the apixaban order" and labels[1].startswith("Cancel apixaban; start warfarin")
    assert findings(DOACS["apixaban"], [o.condition("ms", *MITRAL_STENOSIS_ANY)],
                    reason=("128053003", "Deep venous thrombosis")) == []
    assert findings(WARFARIN, [o.condition("ms", *MITRAL_STENOSIS_ANY), o.atrial_fibrillation()]) == []


def test_the_three_kinds_of_mitral_stenosis_code():
    from engine.finding import Evidence
    from engine.valve_disease import (
        mitral_stenosis_type_uncoded,
        non_rheumatic_mitral_stenosis,
        rheumatic_mitral_stenosis as rheumatic,
    )

    def kinds(note: str) -> tuple[bool, bool, bool]:
        ev = Evidence(name="mitral_stenosis", label="Mitral stenosis", value=True, note=note)
        return rheumatic(ev), non_rheumatic_mitral_stenosis(ev), mitral_stenosis_type_uncoded(ev)

    assert kinds("Rheumatic mitral stenosis (ICD-10-CM I05.0)") == (True, False, False)
    assert kinds("Mitral stenosis (ICD-10 I05.0); clinical status not recorded, taken as active") == (True, False, False)
    assert kinds("Nonrheumatic mitral (valve) stenosis (ICD-10-CM I34.2)") == (False, True, False)
    assert kinds("Mitral valve stenosis (SNOMED 79619009)") == (False, False, True)


def test_mitral_stenosis_without_atrial_fibrillation_resolved_or_with_warfarin_gives_nothing():
    stenosis = rheumatic_mitral_stenosis()
    assert findings(DOACS["apixaban"], [stenosis]) == []  # taken as venous thromboembolism
    assert findings(DOACS["apixaban"], [stenosis, o.atrial_fibrillation()],
                    reason=("128053003", "Deep venous thrombosis")) == []
    resolved = with_status(rheumatic_mitral_stenosis(), clinical="resolved")
    assert findings(DOACS["apixaban"], [resolved, o.atrial_fibrillation()]) == []
    assert findings(WARFARIN, [stenosis, o.atrial_fibrillation()]) == []


def test_a_valve_and_a_stenosis_give_one_finding_each():
    record = [mechanical_valve(), rheumatic_mitral_stenosis(), o.atrial_fibrillation()]
    assert [f.severity.value for f in findings(DOACS["dabigatran"], record)] == ["critical", "warning"]


def test_the_rules_name_known_classes_features_and_regimens():
    from engine.calculators.common import load_data
    from engine.feature_catalog import FEATURES

    features = {spec.name for spec in FEATURES}
    regimens = load_data("treatment_regimens.json")["medications"]
    data = knowledge()
    assert data["_about"]["version"] and data["_about"]["written"]
    for rule in data["rules"]:
        assert set(rule["classes"]) <= set(drugs._data()["classes"]) and rule["feature"] in features
        assert rule["severity"] in ("info", "warning", "critical") and rule["citation"]["full"] and rule["strength"]
        assert all(a["regimen"] in regimens for a in rule.get("alternatives", ()))
    assert {r["feature"] for r in data["rules"]} <= set(ConditionContraindication.optional)
