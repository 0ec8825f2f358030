"""What every order-time check shares: the drafts it checks, the other drugs a draft meets, finding identity, dose
wording and the suggestions that change or cancel a drafted order.

An order check is an ``OrderCheck``: it reads ``FeatureSet.draft_orders`` and checks each *selected* drafted drug
(on order-select the selections, on order-sign every draft) against the record. It answers nothing when a draft is
fine, so that a clean order gives no card. Each finding is about one draft and one rule, and carries
``OrderCheckDetails`` (the draft's reference, the rule and the value that triggered it): the service uses them to
alert a problem once per draft, not again between order-select and order-sign.

Suggestions change the order, through typed proposals (engine/proposals.py) that cards/fhir.py turns into CDS Hooks
actions: ``ChangeDraftOrder`` (an update of the whole draft with the new dose and product) and ``CancelDraftOrder``
(a delete), optionally with a ``StartMedication`` of the alternative in the same suggestion.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.base import Engine
from engine.calculators.common import load_data
from engine.clinical_record import DraftOrder
from engine.finding import Citation, Details, Finding, Kind, Recommendation, Severity
from engine.inputs import FeatureSet
from engine.proposals import (
    RXNORM,
    CancelDraftOrder,
    ChangeDraftOrder,
    Coding,
    Dose,
    MedicationOption,
    SelectionBehavior,
    StartMedication,
    Suggestion,
    suggest,
)
from fhir_adapter.terminology import drugs

__all__ = ["OrderCheck", "OrderCheckDetails", "OtherDrug", "load_data"]

AF = "atrial_fibrillation"
_FREQUENCY = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}
_ROUTE_ADVERB = {"oral": "orally", "subcutaneous": "subcutaneously", "intravenous": "intravenously",
                 "intramuscular": "intramuscularly"}


@dataclass(frozen=True)
class OrderCheckDetails(Details):
    """Which drafted order a finding is about, which rule fired and on what value: the identity of an alert (the
    service shows the same alert for the same draft once) and the rationale the card names."""

    draft: str  # "MedicationRequest/draft-1"
    rule: str  # "dabigatran/af-crcl-15-30", "warfarin-nsaid", "penicillin->cephalosporin"
    trigger: str  # "CrCl 24 mL/min (Cockcroft-Gault, 2026-11-02)", "active warfarin", "penicillin allergy"
    # The other drafted orders in the problem (an interaction or duplicate between drafts): with ``draft``, what the
    # alert is about, whichever of the drafts reports it.
    drafted_partners: tuple[str, ...] = ()

    @property
    def drafts(self) -> tuple[str, ...]:
        """Every drafted order the problem involves, sorted: the same whichever draft reports it."""
        return tuple(sorted({self.draft, *self.drafted_partners}))


@dataclass(frozen=True)
class OtherDrug:
    """A drug the drafted one meets: an active medication or another drafted order."""

    name: str
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    source: str  # "MedicationStatement/12" or "MedicationRequest/draft-2"
    drafted: bool

    @property
    def described(self) -> str:
        return f"drafted {self.name}" if self.drafted else f"active {self.name}"


class OrderCheck(Engine):
    """An engine of the order-select / order-sign services: one pass over the selected drafted drugs."""

    kind: ClassVar[Kind] = Kind.TREATMENT

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        return [finding for draft in features.draft_orders if draft.selected and draft.is_medication
                for finding in self.check(draft, features)]

    def check(self, draft: DraftOrder, features: FeatureSet) -> list[Finding]:  # pragma: no cover - interface
        raise NotImplementedError

    # -- findings ----------------------------------------------------------------------------------------------------
    def order_finding(self, draft: DraftOrder, *, rule: str, trigger: str, title: str, verdict: str, severity: str,
                      message: str, citation: Citation, features: FeatureSet, category: str | None = None,
                      suggestions: Sequence[Suggestion] = (), inputs=(), thresholds: Sequence[str] = (),
                      assumptions: Sequence[str] = (), method: str | None = None,
                      strength: str = "label / guideline", drafted_partners: Sequence[str] = ()) -> Finding:
        """A computed finding about one draft and one rule (its id, details, recommendation line and suggestions);
        ``drafted_partners``: the other drafts of a problem between drafts (interaction, duplicate)."""
        choice = any(isinstance(p, StartMedication) for s in suggestions for p in s.proposals)
        return self.computed(
            features, finding_id=finding_id(self.id, rule, draft.reference), rule_id=rule_id(self.id, rule),
            title=title, value=verdict,
            category=category, severity=Severity(severity), message=message, citation=citation,
            inputs=tuple(inputs), thresholds=tuple(thresholds), assumptions=tuple(assumptions), method=method,
            suggestions=tuple(suggestions),
            selection=SelectionBehavior.AT_MOST_ONE if choice else SelectionBehavior.ANY,
            details=OrderCheckDetails(draft=draft.reference, rule=rule, trigger=trigger,
                                      drafted_partners=tuple(drafted_partners)),
            recommendation=Recommendation(text=verdict[0].upper() + verdict[1:], guideline=citation.short,
                                          strength=strength))

    def order_insufficient(self, draft: DraftOrder, *, rule: str, title: str, missing, message: str,
                           citation: Citation, features: FeatureSet, inputs=(),
                           suggestions: Sequence[Suggestion] = ()) -> Finding:
        return self.insufficient(features, inputs, missing, finding_id=finding_id(self.id, rule, draft.reference),
                                 rule_id=rule_id(self.id, rule), title=title, message=message, citation=citation, suggestions=tuple(suggestions),
                                 details=OrderCheckDetails(draft=draft.reference, rule=rule, trigger="missing data"))


def finding_id(engine_id: str, rule: str, draft_reference: str) -> str:
    """``<engine>:<rule>:<10 hex of the draft reference>``: stable per draft and rule, and naming no resource id (finding
    ids are audited; a draft's id is the EHR's). ``rule_of_finding_id`` takes the draft's part off again."""
    return f"{rule_id(engine_id, rule)}:{hashlib.sha256(draft_reference.encode('utf-8')).hexdigest()[:DRAFT_DIGEST_HEX]}"


def rule_id(engine_id: str, rule: str) -> str:
    """``<engine>:<rule>``: the same for every patient and every drafted order (``Finding.rule_id``)."""
    return f"{engine_id}:{rule}"


DRAFT_DIGEST_HEX = 10
_DRAFT_DIGEST = re.compile(rf":[0-9a-f]{{{DRAFT_DIGEST_HEX}}}$")


def rule_of_finding_id(finding_id: str) -> str | None:
    """The rule of a stored order-check finding id (``finding_id`` without the draft's digest); None for a finding id
    that is not an order check's. For feedback stored with finding ids only: the report counts per rule."""
    from engine.registry import order_checks

    engine_id = finding_id.split(":", 1)[0]
    if engine_id not in order_checks or not _DRAFT_DIGEST.search(finding_id) or finding_id.count(":") < 2:
        return None
    return _DRAFT_DIGEST.sub("", finding_id)


def citation_of(entry: Mapping[str, Any]) -> Citation:
    return Citation(short=entry["short"], full=entry["full"], url=entry.get("url"), doi=entry.get("doi"),
                    topic=entry.get("topic"))


# -- the indication of a draft ----------------------------------------------------------------------------------------
def indication_of(draft: DraftOrder, features: FeatureSet) -> tuple[str, str | None]:
    """Atrial fibrillation or 'other', and how it was decided (None when the order says)."""
    if draft.has_reason:  # the order says what it is for
        return (AF if AF in draft.reason_concepts else "other"), None
    af = features.get(AF)
    if af is not None and af.value is True:
        return AF, "indication taken as atrial fibrillation (on the problem list; the order names no reason)"
    return "other", ("indication taken as venous thromboembolism (no atrial fibrillation recorded; the order names "
                     "no reason)")


# -- the drugs a draft meets -------------------------------------------------------------------------------------------
def other_drugs(features: FeatureSet, draft: DraftOrder) -> list[OtherDrug]:
    """Active medications, then the other drafted drugs (selected or not), the draft itself left out. A medication-list
    entry that is this very draft (the EHR listed it too) is left out."""
    out = [OtherDrug(m.name, m.ingredients, m.classes, m.source, drafted=False)
           for m in features.medications if m.active and m.ingredients and m.source != draft.reference]
    out += [OtherDrug(d.name, d.ingredients, d.classes, d.reference, drafted=True)
            for d in features.draft_orders if d.reference != draft.reference and d.is_medication]
    return out


def member(ingredients: Iterable[str], classes: Iterable[str], group: Mapping[str, Any]) -> bool:
    """Whether a drug (its ingredients and classes, parents included) belongs to a knowledge group."""
    return bool(set(ingredients) & set(group.get("ingredients", ())) or set(classes) & set(group.get("classes", ())))


# -- doses -------------------------------------------------------------------------------------------------------------
def number(value: float) -> str:
    return f"{value:g}"


def frequency_text(per_day: float | None) -> str:
    if per_day is None:
        return "frequency not stated"
    if per_day in _FREQUENCY:
        return _FREQUENCY[int(per_day)]
    if per_day < 1:
        return f"every {number(1 / per_day)} days"
    return f"{number(per_day)} times daily"


def route_adverb(draft: DraftOrder, default: str | None = None) -> str | None:
    if draft.route:
        for word, adverb in _ROUTE_ADVERB.items():
            if word in draft.route:
                return adverb
    return default


def dose_text(amount_mg: float, per_day: int, route: str | None = None, *, as_needed: bool = False) -> str:
    """'75 mg orally twice daily'."""
    parts = [f"{number(amount_mg)} mg"]
    if route:
        parts.append(route)
    parts.append(frequency_text(per_day))
    if as_needed:
        parts.append("as needed")
    return " ".join(parts)


def drafted_dose(draft: DraftOrder) -> str:
    """The drafted dose as the card states it: '150 mg twice daily (300 mg/day)', else the dosage text."""
    dose = draft.dose
    if dose is None:
        return "no dose stated"
    if dose.amount_mg is not None:
        text = f"{number(dose.amount_mg)} mg {frequency_text(dose.per_day)}"
        if dose.daily_mg is not None and dose.per_day not in (None, 1):
            text += f" ({number(dose.daily_mg)} mg/day)"
        return text
    return dose.text or "dose not readable"


def drug_name(draft: DraftOrder) -> str:
    return " / ".join(draft.ingredients) if draft.ingredients else draft.name


# -- suggestions -------------------------------------------------------------------------------------------------------
def change_dose(draft: DraftOrder, *, amount_mg: float, per_day: int, reason: str, route: str | None = None,
                product: Mapping[str, str] | None = None) -> Suggestion:
    """Update the drafted order to ``amount_mg`` ``per_day`` times a day (and to the product of that strength).

    A drafted product whose strength cannot give the new dose (a 300 mg capsule for 200 mg) is switched to a product
    of the same ingredient whose strength divides the dose; when the knowledge has none, the dose is stated in text
    only, with no structured quantity that the drafted product could not give."""
    text = dose_text(amount_mg, per_day, route_adverb(draft, route))
    if product is None and not _strength_gives(draft.strength_mg, amount_mg):
        product = product_for_dose(draft, amount_mg)
        if product is None:
            name = drug_name(draft)
            note = (f"whole {number(draft.strength_mg)} mg units do not make {number(amount_mg)} mg: choose the "
                    f"products that do")
            return suggest(f"Change {name} to {text}",
                           ChangeDraftOrder(draft=draft.reference, reason=reason,
                                            description=f"Change the drafted {name} to {text} ({note}): {reason}",
                                            dose=Dose(text=f"{text} ({note})", times_per_day=per_day)),
                           recommended=True)
    code = Coding(RXNORM, product["code"], product["display"]) if product else None
    name = drug_name(draft)
    return suggest(f"Change {name} to {text}",
                   ChangeDraftOrder(draft=draft.reference, description=f"Change the drafted {name} to {text}: {reason}",
                                    reason=reason, code=code,
                                    dose=Dose(text=text, quantity=amount_mg, unit="mg", times_per_day=per_day)),
                   recommended=True)


def _strength_gives(strength_mg: float | None, amount_mg: float) -> bool:
    """Whether whole units of this strength make the dose (an unknown strength is not second-guessed)."""
    if not strength_mg:
        return True
    units = amount_mg / strength_mg
    return units >= 1 - 1e-9 and abs(units - round(units)) < 1e-6


def product_for_dose(draft: DraftOrder, amount_mg: float) -> dict[str, str] | None:
    """A product of the draft's one ingredient named as the drafted product but for its strength (the same dose form
    and release: '24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet' for the 750 MG one) whose
    strength makes the dose in whole units; the largest such strength (fewest units)."""
    if len(draft.ingredients) != 1:
        return None
    template = _without_strength(draft.name)
    if template is None:
        return None
    candidates = [(strength, code, name) for code, name, strength in drugs.single_ingredient_products(draft.ingredients[0])
                  if _strength_gives(strength, amount_mg) and _without_strength(name) == template]
    if not candidates:
        return None
    _, code, name = max(candidates)
    return {"code": code, "display": name}


_STRENGTH_IN_NAME = re.compile(r"\b\d+(?:\.\d+)?\s*MG\b", re.IGNORECASE)


def _without_strength(product_name: str) -> str | None:
    """The product name with its one mg strength taken out ('gabapentin # oral capsule'), None without exactly one."""
    if len(_STRENGTH_IN_NAME.findall(product_name)) != 1:
        return None
    return " ".join(_STRENGTH_IN_NAME.sub("#", product_name).lower().split())


def is_combination(draft: DraftOrder) -> bool:
    return len(draft.ingredients) > 1


def dose_suggestions(draft: DraftOrder, *, ingredient: str, amount_mg: float, per_day: int, reason: str,
                     route: str | None = None, product: Mapping[str, str] | None = None) -> list[Suggestion]:
    """Change the draft to the dose, or, when the draft is a combination product, only cancel it: a dose in mg or a
    single-ingredient product would drop or misdose the other ingredients, so the new dose is named in the reason
    for the clinician to order it."""
    if not is_combination(draft):
        return [change_dose(draft, amount_mg=amount_mg, per_day=per_day, reason=reason, route=route, product=product)]
    text = dose_text(amount_mg, per_day, route_adverb(draft, route))
    return cancel(draft, reason=f"{reason}; {drug_name(draft)} is a combination product whose dose cannot be changed "
                                f"for {ingredient} alone: if still needed, order {ingredient} {text} and the other "
                                f"ingredients separately")


def cancel(draft: DraftOrder, *, reason: str, alternatives: Sequence[Mapping[str, Any]] = ()) -> list[Suggestion]:
    """Cancel the drafted order; with alternatives, also one suggestion per alternative that cancels the draft and
    starts it (the card is then at-most-one)."""
    name = drug_name(draft)
    remove = CancelDraftOrder(draft=draft.reference, description=f"Cancel the drafted {name}: {reason}", reason=reason)
    out = [suggest(f"Cancel the {name} order", remove, recommended=not alternatives)]
    for i, alternative in enumerate(alternatives):
        dose = Dose(text=alternative["text"], quantity=float(alternative["amount_mg"]), unit="mg",
                    times_per_day=int(alternative["per_day"]))
        option = MedicationOption(medication=Coding(RXNORM, alternative["code"], alternative["display"]), dose=dose,
                                  label=alternative["text"])
        start = StartMedication(options=(option,), reason=f"Instead of {name}: {alternative['why']}",
                                description=f"Start {alternative['text']} instead of {name} ({alternative['why']})")
        out.append(suggest(f"Cancel {name}; start {alternative['text']}", remove, start, recommended=i == 0))
    return out
