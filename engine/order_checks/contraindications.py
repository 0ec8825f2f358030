"""Drugs contraindicated, or not preferred, for a condition on the record, checked when they are ordered
(engine/data/order_contraindications.json): a DOAC with a mechanical heart valve (contraindicated; a prosthetic valve
whose type is not coded is a warning to confirm it) and a DOAC in atrial fibrillation with rheumatic mitral stenosis
(warfarin recommended instead; a mitral stenosis of uncoded type is a warning to confirm its type and severity, a
non-rheumatic one gives nothing). The conditions are the project's
problem-list features (``mechanical_heart_valve``, ``mitral_stenosis``, read as the AF anticoagulation rule reads
them); the drugs are classes of the drug knowledge, so no drug list is kept here. The suggestions cancel the draft,
or cancel it and start the regimen the data names (warfarin).
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from engine.clinical_record import DraftOrder
from engine.finding import Citation, Evidence, Finding
from engine.inputs import FeatureSet
from engine.order_checks.common import (
    OrderCheck,
    cancel,
    citation_of,
    drafted_dose,
    drug_name,
    indication_of,
    load_data,
)
from engine.registry import order_check
from engine.valve_disease import QUALIFIERS

DATA_FILE = "order_contraindications.json"
REGIMENS_FILE = "treatment_regimens.json"


def knowledge() -> dict[str, Any]:
    return load_data(DATA_FILE)


@cache  # package data: the alternatives of a rule are built once
def _alternatives(rule_id: str) -> tuple[dict[str, Any], ...]:
    """A rule's alternatives as ``cancel`` takes them, their drug and dose from the named treatment regimen."""
    rule = next(r for r in knowledge()["rules"] if r["id"] == rule_id)
    regimens = load_data(REGIMENS_FILE)["medications"]
    out = []
    for alternative in rule.get("alternatives", ()):
        regimen = regimens[alternative["regimen"]]
        out.append({"code": regimen["rxnorm"], "display": regimen["display"],
                    "amount_mg": regimen["dose"]["quantity"], "per_day": regimen["dose"]["times_per_day"],
                    "text": alternative["text"], "why": alternative["why"]})
    return tuple(out)


def _features() -> tuple[str, ...]:
    return tuple(dict.fromkeys(r["feature"] for r in knowledge()["rules"]))


@order_check
class ConditionContraindication(OrderCheck):
    id = "condition-contraindication"
    version = "1.0.0"
    title = "Drafted drug contraindicated by a condition"
    citation = Citation(short="Guidelines and drug labels (contraindications by condition)",
                        full="The guidelines and labels named per rule in engine/data/order_contraindications.json.",
                        topic="Contraindications")
    optional = (*_features(), "atrial_fibrillation")

    def check(self, draft: DraftOrder, features: FeatureSet) -> list[Finding]:
        out = []
        for entry in knowledge()["rules"]:
            if not set(draft.classes) & set(entry["classes"]):
                continue
            condition = features.get(entry["feature"])
            if condition is None or condition.value is not True:
                continue
            indication_note = None
            if "indication" in entry:
                indication, indication_note = indication_of(draft, features)
                if indication != entry["indication"]:
                    continue
            if "ruled_out_by" in entry and QUALIFIERS[entry["ruled_out_by"]](condition):
                continue
            if "qualifier" in entry and not QUALIFIERS[entry["qualifier"]](condition):
                if "unqualified" not in entry:
                    continue
                entry = {**entry, **entry["unqualified"]}
            out.append(self._finding(draft, entry, condition, indication_note, features))
        return out

    def _finding(self, draft: DraftOrder, entry: Mapping[str, Any], condition: Evidence, indication_note: str | None,
                 features: FeatureSet) -> Finding:
        citation = citation_of(entry["citation"])
        name = drug_name(draft)
        day = f", {str(condition.effective)[:10]}" if condition.effective else ""
        label = entry.get("label", condition.label.lower())
        trigger = f"{label} ({condition.note or 'recorded'}{day})"
        strength = _strength(entry, draft)
        reason = f"{citation.short}: {entry['title']} - {entry['effect']}; {entry['management']}"
        drafted = Evidence(name="drafted_drug", label="Drafted drug", value=draft.name, source=draft.reference,
                           note=drafted_dose(draft))
        return self.order_finding(
            draft, rule=f"condition:{entry['id']}", trigger=trigger,
            title=f"{name.capitalize()} with {label}", verdict=entry["verdict"],
            severity=entry["severity"], citation=citation, features=features, category=strength,
            # The management first: a card shows the sentences that fit its line, the explainer page all of them.
            # The dose is the draft's own (its input line shows it), so the first sentence fits a card line.
            message=f"Drafted {name} with {trigger}: {entry['management']}. "
                    f"{entry['effect'][0].upper()}{entry['effect'][1:]}.",
            suggestions=cancel(draft, reason=reason, alternatives=_alternatives(entry["id"])),
            inputs=(condition, drafted), assumptions=(indication_note,) if indication_note else (),
            method=f"condition rule '{entry['id']}'", strength=strength)


def _strength(entry: Mapping[str, Any], draft: DraftOrder) -> str:
    """The rule's strength for the drafted ingredient where the guideline grades ingredients apart, else its own."""
    by_ingredient = entry.get("strength_by_ingredient", {})
    return next((by_ingredient[i] for i in draft.ingredients if i in by_ingredient), entry["strength"])
