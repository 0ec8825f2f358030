"""Hand-built inputs for the treatment-rule tests: the findings a rule reads (a PCE risk, a CHA2DS2-VASc score, ...)
built at exactly the value a boundary needs, active medications as the adapter lists them, and the FHIR R4
resources of every option a finding proposes (each validated with fhir.resources)."""
from __future__ import annotations

from typing import Any

import engine.calculators  # noqa: F401 - registers the calculators
import engine.detectors  # noqa: F401 - registers the detectors
import engine.rules  # noqa: F401 - registers the rules
from cards.fhir import BuildContext, medication_request_resource, service_request_resource
from engine.calculators.cha2ds2_vasc import risk_category as cha2ds2_category
from engine.calculators.has_bled import coefficients as has_bled_data
from engine.calculators.has_bled import risk_category as has_bled_category
from engine.calculators.pce import risk_category as pce_category
from engine.clinical_record import MedicationEntry
from engine.finding import Finding, Kind, Status, Term
from engine.inputs import FeatureSet
from engine.proposals import OrderTest, StartMedication
from engine.registry import calculators, rules
from tests.engine.detector_fixtures import ev, features  # noqa: F401 - re-exported for the tests
from tests.proposal_resources import validated


def score(engine_id: str, suffix: str, value: float, category: str, unit: str = "points",
          explanation: tuple[Term, ...] = ()) -> Finding:
    engine = calculators.get(engine_id)
    return Finding(id=f"{engine_id}:{suffix}", engine_id=engine_id, engine_version=engine.version, kind=Kind.RISK,
                   status=Status.COMPUTED, title=engine.title, citation=engine.citation, value=value, unit=unit,
                   category=category, explanation=explanation)


def pce(risk_percent: float) -> Finding:
    """The PCE finding at exactly this 10-year risk, in the band the PCE engine gives it."""
    return score("pce-2013", "ascvd-10y", risk_percent, pce_category(risk_percent), unit="%")


def cha2ds2_vasc(points: int, sex: str) -> Finding:
    return score("cha2ds2-vasc", "score", points, cha2ds2_category(points, sex))


def has_bled(*present: str) -> Finding:
    """HAS-BLED with the items named (keys of has_bled.json, e.g. "H", "D_drugs") present."""
    items = has_bled_data()["items"]
    terms = tuple(Term(item["label"], "yes" if key in present else "no", 1.0 if key in present else 0.0)
                  for key, item in items.items())
    return score("has-bled", "score", len(present), has_bled_category(len(present), len(present)),
                 explanation=terms)


def medication(name: str, *classes: str, ingredients: tuple[str, ...] = (), intensity: str | None = None,
               daily_dose_mg: float | None = None, active: bool = True) -> MedicationEntry:
    return MedicationEntry(source=f"MedicationRequest/{name.split()[0].lower()}", resource_type="MedicationRequest",
                           name=name, ingredients=ingredients or (name.split()[0].lower(),), classes=classes,
                           active=active, status="active" if active else "stopped", dose=None,
                           daily_dose_mg=daily_dose_mg, statin_intensity=intensity)


def with_medications(fs: FeatureSet, *entries: MedicationEntry) -> FeatureSet:
    fs.medications = tuple(entries)
    return fs


def evaluate(rule_id: str, fs: FeatureSet, *read: Finding) -> list[Finding]:
    return rules.get(rule_id).evaluate(fs, list(read))


def one(rule_id: str, fs: FeatureSet, *read: Finding) -> Finding:
    [finding] = evaluate(rule_id, fs, *read)
    return finding


def options(finding: Finding) -> list[dict[str, Any]]:
    """Every MedicationRequest the finding proposes (each alternative), validated as FHIR R4."""
    out = []
    for suggestion in finding.suggestions:
        for proposal in suggestion.proposals:
            if isinstance(proposal, StartMedication):
                for option in proposal.options:
                    resource = medication_request_resource(proposal, option, BuildContext(patient_id="p1"))
                    validated(resource)
                    out.append(resource)
    return out


def orders(finding: Finding) -> list[dict[str, Any]]:
    out = []
    for suggestion in finding.suggestions:
        for proposal in suggestion.proposals:
            if isinstance(proposal, OrderTest):
                resource = service_request_resource(proposal, BuildContext(patient_id="p1"))
                validated(resource)
                out.append(resource)
    return out


def rxnorm_codes(finding: Finding) -> list[str]:
    return [r["medicationCodeableConcept"]["coding"][0]["code"] for r in options(finding)]
