"""May a drug be given? "Can she take amoxicillin?", "Is it safe to give him aspirin?", "Any problem giving her
Augmentin?".

The recorded allergies are checked first and lead the answer: the same drug, the same class, a shared beta-lactam
side chain, a cross-reactive class (the order-time allergy check's rules and data,
engine/data/order_allergy_cross_reactivity.json, Khan 2022), an allergy group of the vocabulary ("sulfa", "opioids"),
or - with the reaction to check - the allergy's own class. Then whether the drug is on the medication list. This
service does not decide whether the drug may be given, and says so; a dose asked for is reported only as recorded.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.clinical_record import AllergyEntry
from engine.models.record_qa.facts import RecordAnswer, allergy_fact, iso, searched_counts
from engine.models.record_qa.intent import Intent
from engine.models.record_qa.matching import allergy_is_current, allergy_matches, is_no_known_allergy
from engine.models.record_qa.medications import answer_dose, answer_medication
from engine.models.record_qa.vocabulary import ALLERGEN, DRUG, RECORD_DRUG, CodedConcept, Target, Vocabulary
from engine.order_checks.allergy import knowledge, relation_to_drug
from engine.record_view import RecordView
from fhir_adapter.terminology import drugs

NOT_A_DECISION = "This service reads the record; it does not decide whether a drug may be given."


@dataclass(frozen=True)
class DrugAsked:
    label: str
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]  # parents included


@dataclass(frozen=True)
class Covered:
    allergy: AllergyEntry
    what: str  # "the same class (penicillin)"
    level: str  # "the same class", "low (about 1-2 %)"
    management: str | None


def drug_asked(target: Target, vocab: Vocabulary) -> DrugAsked:
    """The ingredients and classes a drug or class of the question stands for."""
    concept: CodedConcept = vocab.concept(target)  # type: ignore[assignment]
    if target.kind == DRUG:
        name = target.key[len(RECORD_DRUG):] if target.key.startswith(RECORD_DRUG) else target.key
        known = drugs.ingredients_by_text(name)
        classes = drugs.with_parents(c for i in known for c in i.classes)
        return DrugAsked(concept.label, (name,), classes)
    ingredients = tuple(concept.ingredients)
    known = drugs.ingredients_by_text(", ".join(ingredients)) if ingredients else ()
    classes = drugs.with_parents([*concept.classes, *(c for i in known for c in i.classes)])
    label = concept.label if concept.label != concept.id else concept.id.replace("_", " ")
    return DrugAsked(label.lower(), ingredients, classes)


def covering_allergies(view: RecordView, asked: DrugAsked, vocab: Vocabulary) -> list[Covered]:
    """The patient's current allergies that cover the drug, the strongest relation of each."""
    data = knowledge()
    groups = [g for i in asked.ingredients for g in vocab.allergen_groups_of(i)]
    out: list[Covered] = []
    for allergy in view.allergies:
        if not allergy_is_current(allergy) or is_no_known_allergy(allergy, vocab):
            continue
        relation = relation_to_drug(asked.ingredients, asked.classes, allergy, data, shared_class=True)
        if relation is not None:
            out.append(Covered(allergy, relation["what"], relation["level"], relation.get("management")))
            continue
        group = next((g for g in groups if allergy_matches(allergy, Target(ALLERGEN, g.id), g, vocab)), None)
        if group is not None:
            out.append(Covered(allergy, f"the same group ({group.label.lower()})", "the same group", None))
    return out


def _describe(c: Covered, asked: DrugAsked) -> str:
    a = c.allergy
    details = [a.source]
    if a.reactions:
        details.append("reaction: " + ", ".join(a.reactions))
    if a.criticality:
        details.append(f"criticality {a.criticality}")
    if a.verification_status and a.verification_status != "confirmed":
        details.append(a.verification_status)
    text = f"{a.substance} ({'; '.join(details)}): {asked.label} - {c.what}; cross-reactivity {c.level}"
    if c.management:
        text += f"; {c.management}"
    return text


def answer_drug_safety(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    asked = [drug_asked(t, vocab) for t in intent.targets]
    what = " or ".join(a.label for a in asked)
    covered = [(a, c) for a in asked for c in covering_allergies(view, a, vocab)]
    searched = searched_counts(view, "AllergyIntolerance", "MedicationRequest", "MedicationStatement")
    on_list = answer_medication(view, Intent("medication", intent.targets, past=True), vocab)
    listed = _on_list_sentence(on_list, what)
    if covered:
        citation = knowledge()["citation"]["short"]
        text = ("Allergy recorded - " + " | ".join(_describe(c, a) for a, c in covered) + f" [{citation}]. "
                + listed + " " + NOT_A_DECISION)
        if intent.asks_dose:
            text += " No dosing advice is given."
        allergies = tuple(dict.fromkeys(c.allergy for _, c in covered))
        return RecordAnswer("drug_safety", "allergy", text, what, facts=tuple(map(allergy_fact, allergies)),
                            context=on_list.facts + on_list.context, searched=searched)
    nka = [a for a in view.allergies if is_no_known_allergy(a, vocab)]
    others = [a for a in view.allergies if a not in nka and allergy_is_current(a)]
    if not view.allergies:
        head = (f"The record has no allergy entries (searched {view.searched_text('AllergyIntolerance')}): it does "
                f"not say whether the patient has allergies; check before giving {what}.")
        result = "not_found"
    else:
        head = f"No recorded allergy covers {what} or its class (searched {view.searched_text('AllergyIntolerance')}"
        if nka:
            head += "; recorded: " + "; ".join(f"{a.substance}, {a.source}"
                                               f"{', ' + iso(a.recorded) if a.recorded else ''}" for a in nka)
        if others:
            head += "; other allergies: " + "; ".join(f"{a.substance} ({a.source})" for a in others)
        head += ")."
        result = "no_allergy"
    if intent.asks_dose:
        dose = answer_dose(view, intent, vocab)
        return RecordAnswer("drug_safety", dose.result, f"{head} {dose.text}", what, value=dose.value,
                            facts=tuple(map(allergy_fact, nka)) + dose.facts, context=dose.context,
                            searched=searched)
    return RecordAnswer("drug_safety", result, f"{head} {listed} {NOT_A_DECISION}", what,
                        facts=tuple(map(allergy_fact, nka)), context=on_list.facts + on_list.context,
                        searched=searched)


def _on_list_sentence(found: RecordAnswer, what: str) -> str:
    if found.result != "yes":
        return f"{what[:1].upper()}{what[1:]} is not on the medication list."
    active = [f for f in found.facts if (f.note or "").startswith("active")]
    if active:
        return "Already on the active list: " + "; ".join(f"{f.label} ({f.source})" for f in active) + "."
    return "Not active, previously recorded: " + "; ".join(
        f"{f.label} ({f.source}, {(f.note or '').split(';')[0]})" for f in found.facts) + "."

