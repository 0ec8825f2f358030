"""Drug-drug interactions of a drafted drug with the active medications and the other drafted orders
(engine/data/order_drug_interactions.json: the ONC high-priority list of Phansalkar 2012, and warfarin with a systemic
NSAID). The pair's severity sets the card indicator; suggestions cancel the draft (for an alternative where the data
names one) or lower its dose to the label's limit.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.clinical_record import DraftOrder
from engine.finding import Citation, Evidence, Finding
from engine.inputs import FeatureSet
from engine.order_checks.common import (
    OrderCheck,
    OtherDrug,
    cancel,
    change_dose,
    citation_of,
    drafted_dose,
    drug_name,
    is_combination,
    load_data,
    member,
    other_drugs,
)
from engine.registry import order_check

DATA_FILE = "order_drug_interactions.json"


def knowledge() -> dict[str, Any]:
    return load_data(DATA_FILE)


@order_check
class DrugInteractions(OrderCheck):
    id = "drug-interactions"
    version = "1.0.0"
    title = "Drug interactions of the drafted drug"
    citation = Citation(short="ONC high-priority DDI list (Phansalkar 2012)",
                        full="Phansalkar S, et al. High-priority drug-drug interactions for use in electronic health "
                             "records. J Am Med Inform Assoc 2012;19(5):735-743; and the labels named per pair in "
                             "engine/data/order_drug_interactions.json.", doi="10.1136/amiajnl-2011-000612",
                        topic="Drug interactions")
    reads_records = ("MedicationRequest", "MedicationStatement")

    def check(self, draft: DraftOrder, features: FeatureSet) -> list[Finding]:
        data = knowledge()
        groups, words = data["groups"], tuple(data["non_systemic_words"])
        others = other_drugs(features, draft)
        selected = {d.reference for d in features.draft_orders if d.selected}
        out = []
        for pair in data["pairs"]:
            for side, other_side in (("a", "b"), ("b", "a")):
                if side == "b" and pair["a"] == pair["b"]:
                    break  # one group on both sides (QT prolongation): checked once
                if not _belongs(draft.ingredients, draft.classes, f"{draft.name} {draft.route or ''}",
                                groups[pair[side]], words):
                    continue
                partners = [o for o in others
                            if _belongs(o.ingredients, o.classes, o.name, groups[pair[other_side]], words)
                            and not set(o.ingredients) & set(draft.ingredients)
                            and not _reported_by_partner(draft, o, pair, side, selected)]
                if partners:
                    finding = self._finding(draft, pair, side, partners, data, features)
                    if finding is not None:
                        out.append(finding)
                    break  # a drug on both sides of a pair is reported once
        return out

    def _finding(self, draft: DraftOrder, pair: Mapping[str, Any], side: str, partners: list[OtherDrug],
                 data: Mapping[str, Any], features: FeatureSet) -> Finding | None:
        citation = citation_of(data["sources"][pair["source"]])
        name = drug_name(draft)
        partner_text = _listing([o.described for o in partners])
        rule = f"{citation.short}: {name} with {partner_text}: {pair['effect']}"
        suggestions = []
        limit = pair.get("dose_limit")
        if limit is not None and limit["for"] == side:
            dose = draft.dose
            if dose is not None and dose.daily_mg is not None and dose.daily_mg <= limit["daily_mg"] + 1e-9:
                return None  # already within the label's limit for this combination
            per_day = int(limit["per_day"])
            if not is_combination(draft):  # a combination is only cancelled: the limit names one ingredient
                    suggestions.append(change_dose(draft, amount_mg=float(limit["daily_mg"]) / per_day, per_day=per_day,
                                               reason=f"{rule}; {pair['management']}",
                                               product={"code": limit["code"], "display": limit["display"]}))
        alternatives = pair.get("alternatives")
        options = alternatives["options"] if alternatives and alternatives["for"] == side else ()
        suggestions += cancel(draft, reason=f"{rule}; {pair['management']}", alternatives=options)
        inputs = tuple(Evidence(name="interacting_drug", label="Interacting drug", value=o.name, source=o.source,
                                note="another drafted order" if o.drafted else "active medication")
                       for o in partners)
        return self.order_finding(
            draft, rule=pair["id"], trigger=partner_text, title=f"{name.capitalize()} with {_names(partners)}",
            verdict=pair["effect"], severity=pair["severity"], citation=citation, features=features,
            message=f"Drafted {name} {drafted_dose(draft)} with {partner_text} ({citation.short}). "
                    f"{_sentence(pair['management'])}",
            suggestions=suggestions, inputs=inputs, method=f"interaction pair '{pair['id']}' ({citation.short})",
            strength="high-priority interaction" if pair["source"] == "onc-2012" else "label",
            drafted_partners=[o.source for o in partners if o.drafted])


def _belongs(ingredients, classes, name: str, group: Mapping[str, Any], words: tuple[str, ...]) -> bool:
    if not member(ingredients, classes, group):
        return False
    if group.get("systemic_only"):
        lowered = name.lower()
        return not any(word in lowered for word in words)
    return True


def _reported_by_partner(draft: DraftOrder, partner: OtherDrug, pair: Mapping[str, Any], side: str,
                         selected: set[str]) -> bool:
    """Two drafts checked in the same call interact once: the interaction is reported from the draft a suggestion
    is for (the side with an alternative or a dose limit), else from the first by reference."""
    if not (partner.drafted and partner.source in selected):
        return False
    owner = (pair.get("alternatives") or pair.get("dose_limit") or {}).get("for")
    if owner is not None and pair["a"] != pair["b"]:
        return side != owner
    return partner.source < draft.reference


def _sentence(text: str) -> str:
    return f"{text[0].upper()}{text[1:]}."


def _listing(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _names(partners: list[OtherDrug]) -> str:
    return _listing([" / ".join(o.ingredients) for o in partners])

