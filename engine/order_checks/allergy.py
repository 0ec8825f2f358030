"""Drug allergy and class cross-reactivity of a drafted drug (engine/data/order_allergy_cross_reactivity.json, from
the 2022 AAAAI/ACAAI drug-allergy practice parameter).

For each current allergy entry the strongest relation to the drafted drug is reported: the same ingredient, the same
class (for the classes where an allergy to one member is taken for all), a shared beta-lactam R1 side chain, the
cross-reactivity between two classes (penicillin and cephalosporin, ...) with its level, or a class rule with its own
source (ACE inhibitors after angioedema, statins). A severe reaction raises
the indicator one step. The suggestion cancels the draft.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.clinical_record import AllergyEntry, DraftOrder
from engine.finding import Citation, Evidence, Finding
from engine.inputs import FeatureSet
from engine.order_checks.common import OrderCheck, cancel, citation_of, drug_name, load_data
from engine.registry import order_check
from fhir_adapter.terminology import drugs

DATA_FILE = "order_allergy_cross_reactivity.json"
_NOT_CURRENT = frozenset({"inactive", "resolved"})
_RAISED = {"info": "warning", "warning": "critical", "critical": "critical"}
_RANK = {"info": 0, "warning": 1, "critical": 2}


def knowledge() -> dict[str, Any]:
    return load_data(DATA_FILE)


@order_check
class DrugAllergy(OrderCheck):
    id = "drug-allergy"
    version = "1.0.0"
    title = "Allergy and cross-reactivity of the drafted drug"
    citation = Citation(short="Drug allergy practice parameter (Khan 2022)",
                        full="Khan DA, Banerji A, Blumenthal KG, et al. Drug allergy: A 2022 practice parameter "
                             "update. J Allergy Clin Immunol 2022;150(6):1333-1393.",
                        doi="10.1016/j.jaci.2022.08.028", topic="Drug allergy")
    reads_records = ("AllergyIntolerance",)

    def check(self, draft: DraftOrder, features: FeatureSet) -> list[Finding]:
        data = knowledge()
        best: dict[str, tuple[int, Finding]] = {}
        for allergy in features.allergies:
            if allergy.clinical_status in _NOT_CURRENT:
                continue
            relation = relation_to_drug(draft.ingredients, draft.classes, allergy, data)
            if relation is None:
                continue
            finding = self._finding(draft, allergy, relation, data, features)
            rank = _RANK[finding.severity.value]
            if relation["rule"] not in best or rank > best[relation["rule"]][0]:
                best[relation["rule"]] = (rank, finding)
        return [finding for _, finding in best.values()]

    def _finding(self, draft: DraftOrder, allergy: AllergyEntry, relation: Mapping[str, Any],
                 data: Mapping[str, Any], features: FeatureSet) -> Finding:
        citation = citation_of(relation.get("source", data["citation"]))  # a class rule names its own source
        severity = relation["severity"]
        severe = _severe(allergy, data)
        if severe:
            severity = _RAISED[severity]
        name = drug_name(draft)
        allergen = _allergen(allergy, data)
        history = _history(allergy, allergen, severe)
        trigger = f"{allergen} allergy"
        rule = f"{citation.short}: {history}; drafted {name}: {relation['what']} - cross-reactivity {relation['level']}"
        evidence = Evidence(name="allergy", label="Allergy", value=allergen, effective=allergy.recorded,
                            source=allergy.source, note=f"recorded as '{allergy.substance}'")
        return self.order_finding(
            draft, rule=relation["rule"], trigger=trigger, title=f"{name.capitalize()} and the {allergen} allergy",
            verdict=f"cross-reactivity {relation['level']}", severity=severity, citation=citation, features=features,
            message=f"{history[0].upper()}{history[1:]}; drafted {name}: {relation['what']} ({citation.short}). "
                    f"{relation['management'][0].upper()}{relation['management'][1:]}.",
            suggestions=cancel(draft, reason=rule), inputs=(evidence,),
            assumptions=("the allergy is recorded as unconfirmed",) if allergy.verification_status == "unconfirmed"
            else (), method=relation["what"],
            strength="label" if "source" in relation else "practice parameter")


def relation_to_drug(ingredients, classes, allergy: AllergyEntry, data: Mapping[str, Any], *,
                     shared_class: bool = False) -> dict[str, Any] | None:
    """The strongest relation between an allergy and a drug (its ingredients and classes, parents included), or
    None. ``shared_class``: also report a drug of the allergy's own class where reactions are often shared but no
    graded rule covers it (data ``shared_class``; record questions do, the order check reports the graded rules)."""
    shared = sorted(set(ingredients) & set(allergy.ingredients))
    if shared:
        return {**data["same_ingredient"], "rule": f"same-ingredient:{shared[0]}",
                "what": f"the same drug ({shared[0]})"}
    same = data["same_class"]
    for cls in same["classes"]:
        if cls in classes and cls in allergy.classes:
            return {**same, "rule": f"same-class:{cls}",
                    "what": f"the same class ({data['class_names'].get(cls, cls.replace('_', ' '))})"}
    for group in data["side_chain_groups"]:
        members = set(group["members"])
        if members & set(ingredients) and members & set(allergy.ingredients):
            return {**data["side_chain"], "rule": f"side-chain:{group['name']}", "what": f"a shared {group['name']}"}
    names = data["class_names"]
    for cross in data["cross_class"]:
        if cross["allergy"] in allergy.classes and cross["drug"] in classes:
            allergic, drug = (names.get(c, c.replace("_", " ")) for c in (cross["allergy"], cross["drug"]))
            return {**cross, "rule": f"{cross['allergy']}->{cross['drug']}",
                    "what": f"{allergic} allergy and the {drug} class"}
    for rule in data["class_rules"]:
        cls = rule["class"]
        if cls in classes and cls in allergy.classes:
            return {**rule, "rule": f"class-rule:{cls}",
                    "what": f"the same class ({names.get(cls, cls.replace('_', ' '))})"}
    if shared_class:
        rule = data["shared_class"]
        for cls in _most_specific(allergy.classes):
            if cls in classes and cls in rule["classes"]:
                return {**rule, "rule": f"shared-class:{cls}",
                        "what": f"the same class ({data['class_names'].get(cls, cls.replace('_', ' '))})"}
    return None


def _most_specific(classes) -> list[str]:
    """The classes of an allergy that are no other listed class's parent (ace_inhibitor, not antihypertensive)."""
    parents = set()
    for cls in classes:
        try:
            parent = drugs.drug_class(cls).get("parent")
        except KeyError:
            continue
        if parent:
            parents.add(parent)
    return [c for c in classes if c not in parents]


def _severe(allergy: AllergyEntry, data: Mapping[str, Any]) -> bool:
    if allergy.criticality == "high":
        return True
    text = " ".join(allergy.reactions).lower()
    return any(word in text for word in data["severe_reaction_words"])


def _allergen(allergy: AllergyEntry, data: Mapping[str, Any]) -> str:
    """What the patient is allergic to, in a clinician's words: the ingredients, else the class the entry names
    ("penicillin" for SNOMED CT 373270004), else the recorded substance."""
    if allergy.ingredients:
        return " / ".join(allergy.ingredients)
    names = data["class_names"]
    return next((names[c] for c in names if c in allergy.classes), allergy.substance)


def _history(allergy: AllergyEntry, allergen: str, severe: bool) -> str:
    parts = [f"{allergen} {allergy.type or 'allergy'}"]
    if allergy.reactions:
        parts.append(f"reaction: {', '.join(allergy.reactions)}")
    if allergy.criticality:
        parts.append(f"criticality {allergy.criticality}")
    if allergy.verification_status == "unconfirmed":
        parts.append("unconfirmed")
    text = parts[0] + (f" ({'; '.join(parts[1:])})" if parts[1:] else "")
    return text + (" - a severe reaction" if severe else "")
