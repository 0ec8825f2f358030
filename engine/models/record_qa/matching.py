"""Which entries of the record a concept of the vocabulary stands for.

By code first (the terminology's value sets, then the codes the vocabulary lists); by name only when no code
matched (a locally coded entry whose display is exactly the test's name, or whose text names the problem), and then
the answer says it was recognised by name. An answer is built only from entries matched here, so a question about
one thing can never be answered with a value of another.
"""
from __future__ import annotations

import re
from datetime import date, datetime

from engine.clinical_record import AllergyEntry, MedicationEntry
from engine.models.record_qa.vocabulary import (
    ALLERGEN,
    DRUG,
    DRUG_CLASS,
    CodedConcept,
    ObservationConcept,
    Target,
    Vocabulary,
    normalised,
)
from engine.record_view import Measurement, RecordCode, RecordCondition, RecordImmunization, RecordProcedure

LOINC = "http://loinc.org"
BY_CODE, BY_NAME = "code", "name"
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
# FHIR clinical status of a condition the patient still has, though not active (not "resolved").
PRESENT_NOT_ACTIVE = frozenset({"remission", "inactive"})


def day(value: date | datetime | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def sort_key(value: date | datetime | None) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else ""


def _phrase_in(phrase: str, text: str) -> bool:
    return bool(phrase) and re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text) is not None


def names_in(names: tuple[str, ...], text: str, vocab: Vocabulary) -> bool:
    """A name of the concept appears as whole words in ``text``, which says nothing that makes the name not mean the
    patient has it ("family history of", "screening for", "no known": then no name counts)."""
    norm = normalised(text)
    if any(_phrase_in(phrase, norm) for phrase in vocab.name_exclusions):
        return False
    return any(_phrase_in(name, norm) for name in names)


# -- observations --------------------------------------------------------------------------------------------------
def measurement_matches(m: Measurement, concept: ObservationConcept) -> str | None:
    if concept.value_sets and set(m.concepts) & set(concept.value_sets):
        return BY_CODE
    if concept.loinc and any(c.system == LOINC and c.code in concept.loinc for c in m.codes):
        return BY_CODE
    if not m.concepts and not (concept.loinc and any(c.system == LOINC for c in m.codes)) and \
            normalised(m.name) in concept.names:
        return BY_NAME
    return None


def matching_measurements(measurements, concept: ObservationConcept) -> list[tuple[Measurement, str]]:
    """Observations (and panel components) of the concept that carry a value, newest first."""
    out = []
    for m in measurements:
        for part in (m, *m.components):
            how = measurement_matches(part, concept)
            if how and (part.value is not None or part.answer is not None):
                out.append((part, how))
    return sorted(out, key=lambda pair: sort_key(pair[0].effective), reverse=True)


# -- coded entries -------------------------------------------------------------------------------------------------
def codes_match(codes: tuple[RecordCode, ...], concept: CodedConcept) -> bool:
    for c in codes:
        if not c.code:
            continue
        if (c.system, c.code) in concept.codes:
            return True
        flat = c.code.replace(".", "").upper()
        if any(c.system == system and flat.startswith(prefix) for system, prefix in concept.prefixes):
            return True
    return False


def entry_matches(entry: RecordCondition | RecordProcedure | RecordImmunization, concept: CodedConcept,
                  vocab: Vocabulary) -> str | None:
    concepts = getattr(entry, "concepts", ())
    if concept.value_sets and set(concepts) & set(concept.value_sets):
        return BY_CODE
    if codes_match(entry.codes, concept):
        return BY_CODE
    texts = [entry.name, *(c.display for c in entry.codes if c.display)]
    if any(names_in(concept.names, t, vocab) for t in texts):
        return BY_NAME
    return None


def condition_is_current(c: RecordCondition) -> bool:
    if c.clinical_status is None:
        return not c.abated
    return c.clinical_status in ACTIVE_CLINICAL


# -- medications and allergies -------------------------------------------------------------------------------------
def _has_ingredient(med: MedicationEntry, ingredients: tuple[str, ...]) -> bool:
    name = normalised(med.name)
    return bool(set(med.ingredients) & set(ingredients)) or any(_phrase_in(normalised(i), name) for i in ingredients)


def medication_matches(med: MedicationEntry, target: Target | None, concept: CodedConcept | None,
                       free_term: str | None = None) -> bool:
    if target is not None and target.kind in (DRUG, DRUG_CLASS) and concept is not None:
        name = normalised(med.name)
        return (bool(set(med.classes) & set(concept.classes)) or _has_ingredient(med, concept.ingredients)
                or any(_phrase_in(n, name) for n in concept.names))
    if free_term:
        return _phrase_in(normalised(free_term), normalised(med.name))
    return target is None


def medication_treats(med: MedicationEntry, condition: CodedConcept, condition_sources: set[str],
                      vocab: Vocabulary) -> bool:
    """Given for the condition: its reasonReference is one of the patient's entries of it, its reason names it, or
    it is of a class (or has an ingredient) usually given for it."""
    if condition_sources & set(med.reasons) or any(names_in(condition.names, r, vocab) for r in med.reasons):
        return True
    return bool(set(med.classes) & set(condition.treated_by_classes)) or _has_ingredient(
        med, condition.treated_by_ingredients)


def allergy_matches(allergy: AllergyEntry, target: Target, concept: CodedConcept, vocab: Vocabulary) -> bool:
    if is_no_known_allergy(allergy, vocab):
        return False
    if target.kind == DRUG:
        return bool(set(allergy.ingredients) & set(concept.ingredients)) or names_in(concept.names, allergy.substance,
                                                                                       vocab)
    if target.kind == DRUG_CLASS:
        return bool(set(allergy.classes) & set(concept.classes))
    if target.kind == ALLERGEN:
        if set(allergy.ingredients) & set(concept.ingredients):
            return True
        if any((system, code) in concept.codes for system, code in allergy.codes):
            return True
        names = concept.names + tuple(normalised(i) for i in concept.ingredients)
        return names_in(names, allergy.substance, vocab)
    return False


def is_no_known_allergy(allergy: AllergyEntry, vocab: Vocabulary) -> bool:
    if any((system, code) in vocab.no_known_allergy_codes for system, code in allergy.codes):
        return True
    return normalised(allergy.substance) in vocab.no_known_allergy_texts


def allergy_is_current(allergy: AllergyEntry) -> bool:
    return allergy.clinical_status in (None, "active")
