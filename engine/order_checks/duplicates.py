"""Duplicate therapy: a drafted drug in the same therapeutic group as an active medication or another drafted order
(engine/data/order_duplicate_therapy.json: a second statin, a second anticoagulant, dual RAAS blockade, ...). The
same ingredient already active is a renewal or a dose change more often than a duplicate, and is said so (info).
The suggestion cancels the draft.
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
    citation_of,
    drafted_dose,
    drug_name,
    load_data,
    other_drugs,
)
from engine.registry import order_check

DATA_FILE = "order_duplicate_therapy.json"


def knowledge() -> dict[str, Any]:
    return load_data(DATA_FILE)


@order_check
class DuplicateTherapy(OrderCheck):
    id = "duplicate-therapy"
    version = "1.0.0"
    title = "Duplicate therapy"
    citation = Citation(short="Duplicate therapy (labels and guidelines)",
                        full="The guidelines and labels named per group in engine/data/order_duplicate_therapy.json.",
                        topic="Duplicate therapy")
    reads_records = ("MedicationRequest", "MedicationStatement")

    def check(self, draft: DraftOrder, features: FeatureSet) -> list[Finding]:
        data = knowledge()
        selected = {d.reference for d in features.draft_orders if d.selected}
        others = [o for o in other_drugs(features, draft)
                  if not (o.drafted and o.source in selected and o.source < draft.reference)]  # two drafts: once
        out = []
        same = [o for o in others if set(o.ingredients) & set(draft.ingredients)]
        for group in data["groups"]:
            if not set(draft.classes) & set(group["classes"]):
                continue
            partners = [o for o in others if o not in same and set(o.classes) & set(group["classes"])
                        and not _allowed(draft.classes, o.classes, group)]
            if partners:
                out.append(self._finding(draft, group, partners, features))
        if same:
            out.append(self._same_ingredient(draft, same, data["same_ingredient"], features))
        return out

    def _finding(self, draft: DraftOrder, group: Mapping[str, Any], partners: list[OtherDrug],
                 features: FeatureSet) -> Finding:
        citation = citation_of(group["citation"])
        name = drug_name(draft)
        partner_text = _listing([o.described for o in partners])
        reason = f"{citation.short}: {group['title']} - drafted {name} with {partner_text}; {group['management']}"
        return self.order_finding(
            draft, rule=f"group:{group['id']}", trigger=partner_text, title=f"Duplicate therapy: {name}",
            verdict=group["title"], category=_listing([" / ".join(o.ingredients) for o in partners]),
            severity=group["severity"], citation=citation, features=features,
            message=f"Drafted {name} {drafted_dose(draft)} with {partner_text}. "
                    f"{group['management'][0].upper()}{group['management'][1:]}.", suggestions=cancel(draft, reason=reason),
            inputs=_inputs(partners), method=f"duplicate group '{group['id']}'", strength="label / guideline",
            drafted_partners=[o.source for o in partners if o.drafted])

    def _same_ingredient(self, draft: DraftOrder, same: list[OtherDrug], spec: Mapping[str, Any],
                         features: FeatureSet) -> Finding:
        name = drug_name(draft)
        partner_text = _listing([o.described for o in same])
        reason = f"{name} is already ordered: {partner_text}; {spec['management']}"
        return self.order_finding(
            draft, rule="same-ingredient", trigger=partner_text, title=f"Duplicate therapy: {name}",
            verdict=f"{name} already ordered", severity=spec["severity"], citation=self.citation, features=features,
            message=f"{reason[0].upper()}{reason[1:]}. Drafted: {drafted_dose(draft)}.",
            suggestions=cancel(draft, reason=reason), inputs=_inputs(same), method="same ingredient",
            strength="medication reconciliation", drafted_partners=[o.source for o in same if o.drafted])


def _allowed(draft_classes, other_classes, group: Mapping[str, Any]) -> bool:
    for first, second in group.get("allowed_pairs", ()):
        if (first in draft_classes and second in other_classes) or (second in draft_classes and first in other_classes):
            return True
    return False


def _inputs(partners: list[OtherDrug]) -> tuple[Evidence, ...]:
    return tuple(Evidence(name="same_group_drug", label="Already ordered", value=o.name, source=o.source,
                          note="another drafted order" if o.drafted else "active medication") for o in partners)


def _listing(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
