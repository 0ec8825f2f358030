"""Answers about problems, procedures, immunizations and allergies; and about words the vocabulary does not know,
searched by name in the record."""
from __future__ import annotations

from engine.clinical_record import AllergyEntry
from engine.models.record_qa.facts import (
    RecordAnswer,
    allergy_fact,
    code_label,
    condition_fact,
    dated_fact,
    iso,
    measurement_fact,
    searched_counts,
    window_of,
)
from engine.models.record_qa.intent import Intent
from engine.models.record_qa.matching import (
    BY_NAME,
    PRESENT_NOT_ACTIVE,
    allergy_is_current,
    allergy_matches,
    condition_is_current,
    entry_matches,
    is_no_known_allergy,
    names_in,
    sort_key,
)
from engine.models.record_qa.vocabulary import ALLERGEN, DRUG, CodedConcept, Target, Vocabulary, normalised
from engine.record_view import RecordView


def answer_problem(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    concept: CodedConcept = vocab.concept(intent.target)  # type: ignore[assignment]
    found = [(c, how) for c in view.conditions if (how := entry_matches(c, concept, vocab))]
    current = [(c, how) for c, how in found if condition_is_current(c)]
    # In remission or inactive: the patient still has it, not active ("Does she have cancer?" - breast cancer in
    # remission is a yes that says so).
    quiet = [(c, how) for c, how in found if c.clinical_status in PRESENT_NOT_ACTIVE]
    # "Has he had a heart attack?" / "history of" / "did he have": a resolved entry answers it too.
    answering = found if intent.past else current + quiet
    others = [(c, how) for c, how in found if (c, how) not in answering]
    searched = searched_counts(view, "Condition")
    if answering:
        listed = "; ".join(f"{c.name} ({c.source}{', ' + code_label(c.codes) if code_label(c.codes) else ''}, "
                           f"{c.clinical_status or 'status not recorded'}"
                           f"{', since ' + iso(c.onset) if c.onset else ''})" for c, _ in answering)
        states = {c.clinical_status for c, _ in answering}
        lead = "Yes"
        if not intent.past and states <= PRESENT_NOT_ACTIVE:
            lead = f"Yes, not active ({' / '.join(sorted(states))})"
        elif intent.past and not any(condition_is_current(c) for c, _ in answering):
            lead = "Yes, in the past"
        return RecordAnswer("problem", "yes", f"{lead}: {listed}.", concept.label,
                            facts=tuple(condition_fact(c, how) for c, how in answering),
                            context=tuple(condition_fact(c, how) for c, how in others), searched=searched)
    text = f"No {concept.label.lower()} on the problem list (searched {view.searched_text('Condition')})."
    if others:
        text += " Not current: " + "; ".join(f"{c.name} ({c.source}, {c.clinical_status})" for c, _ in others) + "."
    return RecordAnswer("problem", "no", text, concept.label,
                        context=tuple(condition_fact(c, how) for c, how in others), searched=searched)


def answer_problem_list(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    current = [c for c in view.conditions if condition_is_current(c)]
    searched = searched_counts(view, "Condition")
    if not current:
        return RecordAnswer("problem_list", "no", f"No current problems recorded (searched "
                            f"{view.searched_text('Condition')}).", searched=searched)
    return RecordAnswer("problem_list", "list", "Current problems: " + "; ".join(
        f"{c.name} ({c.source})" for c in current) + ".", facts=tuple(condition_fact(c, "code") for c in current),
        searched=searched)


def _done(entries, concept: CodedConcept, vocab: Vocabulary, when_of) -> list[tuple[object, str]]:
    found = [(e, how) for e in entries if e.status not in ("not-done", "entered-in-error")
             and (how := entry_matches(e, concept, vocab))]
    return sorted(found, key=lambda pair: sort_key(when_of(pair[0])), reverse=True)


def answer_procedure(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    concept: CodedConcept = vocab.concept(intent.target)  # type: ignore[assignment]
    everything = _done(view.procedures, concept, vocab, lambda p: p.performed)
    window = window_of(intent, view)
    found = [(p, how) for p, how in everything if window.holds(p.performed)]
    searched = searched_counts(view, "Procedure")
    if not found:
        text = f"No {concept.label.lower()}{window.words} in the record (searched {view.searched_text('Procedure')})."
        if everything:
            last = everything[0][0]
            text += f" Last: {last.name} on {iso(last.performed)} ({last.source})."
        return RecordAnswer("procedure", "no", text, concept.label,
                            context=tuple(dated_fact(p, how) for p, how in everything), searched=searched)
    listed = "; ".join(f"{p.name} on {iso(p.performed) or 'an unrecorded date'} ({p.source})" for p, _ in found)
    return RecordAnswer("procedure", "yes", f"Yes: {listed}.", concept.label, date=iso(found[0][0].performed),
                        facts=tuple(dated_fact(p, how) for p, how in found), searched=searched)


def answer_procedure_list(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    done = sorted((p for p in view.procedures if p.status not in ("not-done", "entered-in-error")),
                  key=lambda p: sort_key(p.performed), reverse=True)
    searched = searched_counts(view, "Procedure")
    if not done:
        return RecordAnswer("procedure_list", "no", f"No procedures recorded (searched "
                            f"{view.searched_text('Procedure')}).", searched=searched)
    return RecordAnswer("procedure_list", "list", "Procedures: " + "; ".join(
        f"{p.name} on {iso(p.performed)} ({p.source})" for p in done) + ".",
        facts=tuple(dated_fact(p, "code") for p in done), searched=searched)


# -- allergies and smoking -----------------------------------------------------------------------------------------


def answer_immunization(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    concept: CodedConcept = vocab.concept(intent.target)  # type: ignore[assignment]
    found = _done(view.immunizations, concept, vocab, lambda i: i.occurred)
    window = window_of(intent, view, concept.season_start)
    searched = searched_counts(view, "Immunization")
    inside = [(i, how) for i, how in found if window.holds(i.occurred)]
    since = window.words
    if not inside:
        text = f"No {concept.label.lower()}{since} in the record (searched {view.searched_text('Immunization')})."
        not_done = [i for i in view.immunizations if i.status == "not-done" and window.holds(i.occurred)
                    and entry_matches(i, concept, vocab)]
        if not_done:
            text += " Recorded as not done: " + "; ".join(f"{i.name} on {iso(i.occurred)} ({i.source})"
                                                          for i in not_done) + "."
        if found:
            last, _ = found[0]
            text += f" Last: {last.name} on {iso(last.occurred)} ({last.source})."
        return RecordAnswer("immunization", "no", text, concept.label,
                            context=tuple(dated_fact(i, how) for i, how in found), searched=searched)
    listed = "; ".join(f"{i.name} on {iso(i.occurred) or 'an unrecorded date'} ({i.source})" for i, _ in inside)
    # "When was her last tetanus shot?" is answered by the latest dose; "has he had the series?" by every dose.
    answering = inside[:1] if intent.latest else inside
    return RecordAnswer("immunization", "yes", f"Yes{since}: {listed}.", concept.label,
                        date=iso(inside[0][0].occurred), facts=tuple(dated_fact(i, how) for i, how in answering),
                        context=tuple(dated_fact(i, how) for i, how in inside[len(answering):]), searched=searched)


def answer_immunization_list(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    done = sorted((i for i in view.immunizations if i.status not in ("not-done", "entered-in-error")),
                  key=lambda i: sort_key(i.occurred), reverse=True)
    searched = searched_counts(view, "Immunization")
    if not done:
        return RecordAnswer("immunization_list", "no", f"No immunizations recorded (searched "
                            f"{view.searched_text('Immunization')}).", searched=searched)
    return RecordAnswer("immunization_list", "list", "Immunizations: " + "; ".join(
        f"{i.name} on {iso(i.occurred)} ({i.source})" for i in done) + ".",
        facts=tuple(dated_fact(i, "code") for i in done), searched=searched)


def answer_allergy(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    searched = searched_counts(view, "AllergyIntolerance")
    found: list[AllergyEntry] = []
    labels = []
    groups: dict[str, str] = {}  # allergy source -> the group through which it covers the drug asked about
    for target in intent.targets:
        concept: CodedConcept = vocab.concept(target)  # type: ignore[assignment]
        labels.append(concept.label)
        found += [a for a in view.allergies if a not in found and allergy_matches(a, target, concept, vocab)]
        if target.kind == DRUG:
            # Amoxicillin is a penicillin: an allergy to the group covers it.
            for group in vocab.allergen_groups_of(concept.label):
                for a in view.allergies:
                    if a not in found and allergy_matches(a, Target(ALLERGEN, group.id), group, vocab):
                        found.append(a)
                        groups[a.source] = f"{concept.label} is one of the {group.label.lower()}"
    current = [a for a in found if allergy_is_current(a)]
    what = " or ".join(labels)
    if current:
        listed = "; ".join(f"{a.substance} ({a.source}{', reaction: ' + ', '.join(a.reactions) if a.reactions else ''}"
                           f"{', criticality ' + a.criticality if a.criticality else ''}"
                           f"{'; ' + groups[a.source] if a.source in groups else ''})" for a in current)
        return RecordAnswer("allergy", "yes", f"Yes: {listed}.", what, facts=tuple(map(allergy_fact, current)),
                            searched=searched)
    nka = [a for a in view.allergies if is_no_known_allergy(a, vocab)]
    text = f"No allergy or intolerance to {what} recorded (searched {view.searched_text('AllergyIntolerance')})."
    if nka:
        text += " Recorded: " + "; ".join(f"{a.substance} ({a.source})" for a in nka) + "."
    return RecordAnswer("allergy", "no", text, what, facts=tuple(map(allergy_fact, nka)), searched=searched)


def answer_allergy_list(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    searched = searched_counts(view, "AllergyIntolerance")
    nka = [a for a in view.allergies if is_no_known_allergy(a, vocab)]
    current = [a for a in view.allergies if allergy_is_current(a) and a not in nka]
    if intent.category == "medication":
        current = [a for a in current if a.ingredients or a.classes or _category(a) == "medication"]
    elif intent.category == "food":
        current = [a for a in current if _category(a) == "food"]
    kind = f"{intent.category} " if intent.category else ""
    if current:
        return RecordAnswer("allergy_list", "list", f"Recorded {kind}allergies: " + "; ".join(
            f"{a.substance} ({a.source}{', reaction: ' + ', '.join(a.reactions) if a.reactions else ''})"
            for a in current) + ".", facts=tuple(map(allergy_fact, current)), searched=searched)
    if nka:
        return RecordAnswer("allergy_list", "no", f"No {kind}allergies: " + "; ".join(
            f"{a.substance} recorded ({a.source}{', ' + iso(a.recorded) if a.recorded else ''})" for a in nka) + ".",
            facts=tuple(map(allergy_fact, nka)), searched=searched)
    return RecordAnswer("allergy_list", "not_found", f"No {kind}allergies recorded, and no 'no known allergies' entry "
                        f"either (searched {view.searched_text('AllergyIntolerance')}).", searched=searched)


def _category(a: AllergyEntry) -> str | None:
    return a.category[0] if a.category else None


def answer_free_text(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    """A word the vocabulary does not know ("NT-proBNP", "pneumonia"): searched by name in the record's results,
    problems and procedures. Nothing found is "not_found" (the caller then refuses): without the word's codes, a
    "no" would be a guess."""
    term = (normalised(intent.free_term or ""),)

    def named(entry) -> bool:
        return names_in(term, " ".join([entry.name, *(c.display or "" for c in entry.codes)]), vocab)

    if intent.type == "value":
        parts = [(part, BY_NAME) for m in view.measurements for part in (m, *m.components)
                 if named(part) and (part.value is not None or part.answer is not None)]
        if parts:
            parts.sort(key=lambda pair: sort_key(pair[0].effective), reverse=True)
            fact = measurement_fact(*parts[0])
            return RecordAnswer("value", "value", f"{fact.label}: {fact.value}{f' {fact.unit}' if fact.unit else ''}"
                                f" on {fact.date} ({fact.source}; recognised by its name).", intent.free_term,
                                fact.value, fact.unit, fact.date, (fact,),
                                searched=searched_counts(view, "Observation"))
    conditions = [c for c in view.conditions if named(c)]
    procedures = [p for p in view.procedures if named(p) and p.status not in ("not-done", "entered-in-error")]
    searched = searched_counts(view, "Observation", "Condition", "Procedure")
    if not conditions and not procedures:
        return RecordAnswer(intent.type, "not_found", f"Nothing in the record names '{intent.free_term}' (searched "
                            f"{view.searched_text('Observation', 'Condition', 'Procedure')}).", intent.free_term,
                            searched=searched)
    current = [c for c in conditions if intent.past or condition_is_current(c)
               or c.clinical_status in PRESENT_NOT_ACTIVE]
    facts = tuple(condition_fact(c, BY_NAME) for c in current) + tuple(dated_fact(p, BY_NAME) for p in procedures)
    context = tuple(condition_fact(c, BY_NAME) for c in conditions if c not in current)
    # The question is about what was found: a problem-list entry makes it a problem question, whatever its verb.
    kind = "problem" if conditions else "procedure"
    if not facts:
        return RecordAnswer(kind, "no", "Not current: " + "; ".join(f.describe() for f in context) + ".",
                            intent.free_term, context=context, searched=searched)
    return RecordAnswer(kind, "yes", "Yes: " + "; ".join(f.describe() for f in facts) + ".", intent.free_term,
                        facts=facts, context=context, searched=searched)
