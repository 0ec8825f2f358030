"""Answers about the medication list: on a drug or class or not (and what is not active), which ones, at what dose,
and for what condition."""
from __future__ import annotations

from engine.models.record_qa.facts import RecordAnswer, iso, medication_fact, searched_counts
from engine.models.record_qa.intent import Intent
from engine.models.record_qa.matching import entry_matches, medication_matches, medication_treats
from engine.models.record_qa.vocabulary import DRUG, CodedConcept, Target, Vocabulary
from engine.record_view import RecordView

MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement")


def _concept_of(target: Target | None, vocab: Vocabulary) -> CodedConcept | None:
    return vocab.concept(target) if target is not None else None  # type: ignore[return-value]


def _what(intent: Intent, vocab: Vocabulary) -> str:
    if intent.target is not None:
        concept = vocab.concept(intent.target)
        return intent.target.key.replace("_", " ") if intent.target.kind != DRUG else concept.label
    return intent.free_term or "medication"


def answer_medication(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    target = intent.target
    concept = _concept_of(target, vocab)
    what = _what(intent, vocab)
    matched = [m for m in view.medications if medication_matches(m, target, concept, intent.free_term)]
    active = [m for m in matched if m.active]
    inactive = [m for m in matched if not m.active]
    searched = searched_counts(view, *MEDICATION_TYPES)
    where = f"searched {view.searched_text(*MEDICATION_TYPES)}"
    if intent.free_term and not matched:
        # A word the vocabulary does not know: without its codes a "no" would be a guess.
        return RecordAnswer("medication", "not_found", f"No medication named '{intent.free_term}' ({where}).", what,
                            searched=searched)
    if intent.past and inactive:  # "has she ever been on a statin?": a stopped one answers it
        listed = "; ".join(f"{m.name} ({m.source}, {medication_fact(m).note.split(';')[0]}"
                           f"{f', since {iso(m.start)}' if m.start else ''})" for m in active + inactive)
        return RecordAnswer("medication", "yes", f"Yes: {listed}.", what,
                            facts=tuple(map(medication_fact, active + inactive)), searched=searched)
    if active:
        listed = "; ".join(f"{m.name}{f', {m.dose}' if m.dose else ''} ({m.source}"
                           f"{f', since {iso(m.start)}' if m.start else ''})" for m in active)
        return RecordAnswer("medication", "yes", f"Yes: {listed}.", what, facts=tuple(map(medication_fact, active)),
                            context=tuple(map(medication_fact, inactive)), searched=searched)
    text = f"No {what} on the active medication list ({where})."
    if inactive:
        text += " Not active: " + "; ".join(f"{m.name} ({m.source}, {medication_fact(m).note.split(';')[0]})"
                                            for m in inactive) + "."
    return RecordAnswer("medication", "no", text, what, context=tuple(map(medication_fact, inactive)),
                        searched=searched)


def answer_medication_list(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    if intent.indication is not None:
        return answer_medication_for(view, intent, vocab)
    target = intent.target
    concept = _concept_of(target, vocab)
    what = _what(intent, vocab) if target or intent.free_term else "medication"
    active = [m for m in view.medications if m.active and medication_matches(m, target, concept, intent.free_term)]
    searched = searched_counts(view, *MEDICATION_TYPES)
    if intent.free_term and not active:
        return RecordAnswer("medication_list", "not_found", f"No active medication named '{intent.free_term}' "
                            f"(searched {view.searched_text(*MEDICATION_TYPES)}).", what, searched=searched)
    if not active:
        return RecordAnswer("medication_list", "no", f"No active {what} on the medication list (searched "
                            f"{view.searched_text(*MEDICATION_TYPES)}).", what, searched=searched)
    listed = "; ".join(f"{m.name}{f', {m.dose}' if m.dose else ''} ({m.source})" for m in active)
    return RecordAnswer("medication_list", "list", f"Active {what}s: {listed}.", what,
                        facts=tuple(map(medication_fact, active)), searched=searched)


def answer_medication_for(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    """"What is he taking for gout?": medications given for the condition (by their recorded reason, else by the
    drug classes and ingredients usually given for it, qa_vocabulary.json ``treated_by``)."""
    condition: CodedConcept = vocab.concept(intent.indication)  # type: ignore[assignment]
    sources = {c.source for c in view.conditions if entry_matches(c, condition, vocab)}
    active = [m for m in view.medications if m.active and medication_treats(m, condition, sources, vocab)]
    searched = searched_counts(view, *MEDICATION_TYPES)
    label = condition.label.lower()
    if not active:
        return RecordAnswer("medication_list", "no", f"No active medication for {label} on the medication list "
                            f"(searched {view.searched_text(*MEDICATION_TYPES)}; by recorded reason and by the drugs "
                            f"usually given for it).", condition.label, searched=searched)
    listed = "; ".join(f"{m.name}{f', {m.dose}' if m.dose else ''} ({m.source})" for m in active)
    return RecordAnswer("medication_list", "list", f"Active medications for {label}: {listed}.", condition.label,
                        facts=tuple(map(medication_fact, active)), searched=searched)


NO_DOSING_ADVICE = "This service reports doses recorded for this patient; it does not give dosing advice."


def answer_dose(view: RecordView, intent: Intent, vocab: Vocabulary) -> RecordAnswer:
    """The dose as recorded for a drug the patient takes; dosing advice is not given ("Prednisone dose for a gout
    flare?" about a drug not on the list is refused; "Should I increase her lisinopril dose?" gives the current dose
    and says no advice is given)."""
    current = Intent("medication", intent.targets, free_term=intent.free_term)
    found = answer_medication(view, current, vocab)
    if found.result != "yes":
        what = found.text.rstrip(".") if found.result != "not_found" else (
            f"No medication named '{intent.free_term}' on the list (searched "
            f"{view.searched_text(*MEDICATION_TYPES)})")
        return RecordAnswer("dose", "refused", f"{what}. {NO_DOSING_ADVICE}", found.concept, context=found.context,
                            searched=found.searched)
    active = [m for m in view.medications if m.active and m.source in {f.source for f in found.facts}]
    doses = "; ".join(f"{m.name}: {m.dose or 'dose not recorded'} ({m.source}"
                      f"{f', since {iso(m.start)}' if m.start else ''})" for m in active)
    value = active[0].dose if len(active) == 1 else None
    text = f"Recorded dose - {doses}."
    if intent.dose_advice or intent.judgement:
        text += f" {NO_DOSING_ADVICE}"
    return RecordAnswer("dose", "yes", text, found.concept, value=value, facts=found.facts,
                        searched=found.searched)


# -- problems, procedures, immunizations ---------------------------------------------------------------------------
