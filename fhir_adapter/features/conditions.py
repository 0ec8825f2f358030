"""Problem-list features: True from a qualifying Condition, otherwise False with a note."""
from __future__ import annotations

from dataclasses import dataclass

from engine.finding import Evidence
from engine.inputs import feature_label
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key, day_of
from fhir_adapter.features.evidence import absent_evidence, matching_coding
from fhir_adapter.parse import ACTIVE_CLINICAL_STATUS, DROPPED_VERIFICATION_STATUS, ConditionRecord

_UNCONFIRMED_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential"})


@dataclass(frozen=True)
class _ConditionRule:
    concepts: tuple[str, ...]
    history_counts: bool  # a resolved / inactive entry still counts (a lifetime history)
    words: str  # for "no ... on the problem list"
    procedures: tuple[str, ...] = ()  # Procedure value sets that also make the feature true (a lifetime history)


CONDITION_RULES: dict[str, _ConditionRule] = {
    "diabetes": _ConditionRule(("diabetes",), False, "diabetes"),
    "hypertension": _ConditionRule(("hypertension",), False, "hypertension"),
    # 2018 AHA/ACC: clinical ASCVD includes coronary or other arterial revascularisation, which EHRs often record
    # only as a Procedure (CABG, PCI, carotid intervention).
    "ascvd": _ConditionRule(("ascvd",), True, "ASCVD condition (MI, ACS, angina, stroke/TIA, PAD)",
                            procedures=("ascvd_procedure",)),
    # CHA2DS2-VASc items count a history (Lip 2010); AF that was cardioverted or ablated still counts
    # (ESC 2020: anticoagulation follows stroke risk, not rhythm).
    "atrial_fibrillation": _ConditionRule(("atrial_fibrillation",), True, "atrial fibrillation or flutter"),
    "heart_failure": _ConditionRule(("heart_failure",), True, "heart failure or LV systolic dysfunction"),
    "stroke_tia_thromboembolism": _ConditionRule(("stroke_tia_thromboembolism",), True,
                                                 "stroke, TIA or systemic thromboembolism"),
    "vascular_disease": _ConditionRule(("vascular_disease",), True,
                                       "vascular disease (MI, PAD, aortic plaque, coronary disease)"),
    "chronic_kidney_disease": _ConditionRule(("chronic_kidney_disease",), False, "chronic kidney disease"),
    "liver_disease": _ConditionRule(("liver_disease",), False, "chronic liver disease or cirrhosis"),
    "decompensated_liver_disease": _ConditionRule(("decompensated_liver_disease",), False,
                                                  "decompensated cirrhosis or hepatic failure"),
    # A mechanical valve stays in place whatever the entry's clinical status says; a mitral stenosis that was
    # repaired (valvotomy, replacement) is resolved, and the valve, if mechanical, is its own entry.
    "mechanical_heart_valve": _ConditionRule(("mechanical_heart_valve",), True, "mechanical heart valve"),
    "mitral_stenosis": _ConditionRule(("mitral_stenosis",), False, "mitral stenosis"),
    # HAS-BLED "B": previous major bleeding (a history) or predisposition (Pisters 2010).
    "bleeding_history": _ConditionRule(("bleeding_history",), True, "bleeding history or bleeding disorder"),
    "alcohol_excess": _ConditionRule(("alcohol_excess",), False, "alcohol use disorder"),
    "obesity": _ConditionRule(("obesity",), False, "obesity"),
    "familial_hypercholesterolemia": _ConditionRule(("familial_hypercholesterolemia",), True,
                                                    "familial hypercholesterolaemia"),
    "anemia": _ConditionRule(("anemia",), False, "anaemia"),
    "prediabetes": _ConditionRule(("prediabetes",), False, "prediabetes"),
    "gestational_diabetes_history": _ConditionRule(("gestational_diabetes",), True, "gestational diabetes"),
    "breastfeeding": _ConditionRule(("breastfeeding",), False, "breastfeeding"),
}

_DONE_PROCEDURE = frozenset({"completed", "in-progress"})


def qualifying_conditions(ctx: ExtractionContext, name: str, concepts: tuple[str, ...],
                          history_counts: bool) -> tuple[list[ConditionRecord], int]:
    """Confirmed, validated Conditions of ``concepts`` (newest onset first) and how many were inactive."""
    found: list[ConditionRecord] = []
    inactive = 0
    for cond in ctx.parsed.conditions:
        if not any(c in cond.concepts for c in concepts):
            continue
        if cond.verification_status in DROPPED_VERIFICATION_STATUS:
            continue  # refuted / entered in error: as if never recorded
        invalid = ctx.parsed.check(cond, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        if cond.verification_status in _UNCONFIRMED_VERIFICATION:
            ctx.problem(cond.ref, name, f"verification status '{cond.verification_status}' is not confirmed; "
                                        f"not counted")
            continue
        onset_day = day_of(cond.onset)
        if onset_day is not None and onset_day > ctx.as_of:
            ctx.problem(cond.ref, name, f"onset dated in the future ({onset_day.isoformat()}); not counted")
            continue
        current = (cond.clinical_status in ACTIVE_CLINICAL_STATUS
                   or (cond.clinical_status is None and not cond.abated))
        if not (current or history_counts):
            inactive += 1
            continue
        found.append(cond)
    found.sort(key=lambda c: chronological_key(c.onset), reverse=True)
    return found, inactive


def condition_evidence(name: str, cond: ConditionRecord, concepts: tuple[str, ...],
                       history_counts: bool) -> Evidence:
    coding = matching_coding(cond.codes, concepts)
    note = coding.label() if coding else None
    if cond.clinical_status is None:
        note = f"{note}; clinical status not recorded, taken as active" if note else \
            "clinical status not recorded, taken as active"
    elif history_counts and cond.clinical_status not in ACTIVE_CLINICAL_STATUS:
        note = f"{note}; clinical status '{cond.clinical_status}' (history counts)"
    return Evidence(name=name, label=feature_label(name), value=True, unit=None, effective=cond.onset,
                    source=cond.ref, note=note)


def condition_feature(ctx: ExtractionContext, name: str) -> None:
    """True from a qualifying Condition (or Procedure, where the rule names one); otherwise False with a note
    (absence on the problem list) that counts inactive entries and entries with an unrecognised code."""
    rule = CONDITION_RULES[name]
    found, inactive = qualifying_conditions(ctx, name, rule.concepts, rule.history_counts)
    if found:
        ctx.fs.put(condition_evidence(name, found[0], rule.concepts, rule.history_counts))
        return
    if rule.procedures and procedure_feature(ctx, name, rule.procedures):
        return
    words = f"no {'active ' if not rule.history_counts else ''}{rule.words} on the problem list"
    if rule.procedures:
        words += " and no qualifying procedure"
    words += unrecognised_note(ctx, rule.concepts + rule.procedures)
    ctx.fs.put(absent_evidence(name, words, inactive))


def procedure_feature(ctx: ExtractionContext, name: str, concepts: tuple[str, ...]) -> bool:
    """Put True from the newest performed Procedure of ``concepts``; False when there is none."""
    # Those of the concepts and performed (not not-done / entered-in-error / preparation / stopped-before-start),
    # newest first: picked before the sort, which keeps their order as sorting them all would.
    done = [proc for proc in ctx.parsed.procedures
            if proc.status in _DONE_PROCEDURE and any(c in proc.concepts for c in concepts)]
    for proc in sorted(done, key=lambda p: chronological_key(p.performed), reverse=True):
        day = day_of(proc.performed)
        if day is not None and day > ctx.as_of:
            ctx.problem(proc.ref, name, f"procedure dated in the future ({day.isoformat()}); not counted")
            continue
        invalid = ctx.parsed.check(proc, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        coding = matching_coding(proc.codes, concepts)
        note = f"procedure: {coding.label()}" if coding else "procedure"
        if day is None:
            note += "; performed date not recorded"
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, unit=None, effective=proc.performed,
                            source=proc.ref, note=note))
        return True
    return False


def unrecognised_note(ctx: ExtractionContext, concepts: tuple[str, ...]) -> str:
    """" (1 entry with an unrecognised code names 'diabetes': see input problems)", or ""."""
    refs = sorted({ref for ref, concept, _, _ in ctx.parsed.unrecognised if concept in concepts})
    if not refs:
        return ""
    words = sorted({w for ref, concept, w, _ in ctx.parsed.unrecognised if concept in concepts})
    plural = "entries" if len(refs) > 1 else "entry"
    return (f" ({len(refs)} {plural} with an unrecognised code name{'' if len(refs) > 1 else 's'} "
            f"'{', '.join(words)}': see input problems)")
