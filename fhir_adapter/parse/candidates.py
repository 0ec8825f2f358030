"""parse_resources: read the candidate records of one patient from the input (stage 1, see the package doc)."""
from __future__ import annotations

from typing import Mapping

from engine.finding import InputProblem
from fhir_adapter import codes
from fhir_adapter.parse.concept_features import features_of
from fhir_adapter.parse.entries import iter_entries
from fhir_adapter.parse.json_values import dict_or_empty, list_or_empty
from fhir_adapter.parse.parsed_record import ParsedRecord
from fhir_adapter.parse.patient_scope import choose_patient, subject_problem
from fhir_adapter.parse.problem_list import on_problem_list
from fhir_adapter.parse.records import (
    AllergyRecord,
    ConditionRecord,
    FamilyHistoryRecord,
    GoalRecord,
    MedicationRecord,
    ObservationRecord,
    ProcedureRecord,
    Record,
)
from fhir_adapter.parse.references import resource_ref, subject_ref
from fhir_adapter.parse.resources import (
    parse_allergy,
    parse_condition,
    parse_family_history,
    parse_goal,
    parse_medication,
    parse_observation,
    parse_procedure,
)

CANDIDATE_TYPES = ("Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement", "Procedure",
                   "FamilyMemberHistory", "Goal", "AllergyIntolerance")

_OBSERVATION_CONCEPTS = frozenset(codes.OBSERVATION_CONCEPTS)
_CONDITION_CONCEPTS = frozenset(codes.CONDITION_CONCEPTS)
_PROCEDURE_CONCEPTS = frozenset(codes.PROCEDURE_CONCEPTS)
_MEDICATION_FEATURES = features_of(codes.MEDICATION_CONCEPTS)
# Concepts an unrecognised Condition / Procedure code is checked for by its text (see report_unrecognised).
_NAMED_CONCEPTS = {"Condition": tuple(codes.CONDITION_CONCEPTS) + ("ascvd_procedure",),
                   "Procedure": tuple(codes.PROCEDURE_CONCEPTS) + ("ascvd",)}
_SHORT_SYSTEM = {codes.SNOMED: "SNOMED", codes.ICD10CM: "ICD-10-CM", codes.ICD10: "ICD-10", codes.LOINC: "LOINC",
                 codes.RXNORM: "RxNorm", codes.ICD10PCS: "ICD-10-PCS"}


def observation_concepts(resource: Mapping) -> tuple[str, ...]:
    """The Observation concepts of a resource's code, read cheaply (no record built): empty when none is ours."""
    codings = list_or_empty(dict_or_empty(resource.get("code")).get("coding"))
    if len(codings) == 1 and type(codings[0]) is dict:  # the usual shape: one LOINC coding
        coding = codings[0]
        found = codes.concepts_of_coding(coding.get("system"), coding.get("code"))
        if len(found) <= 1:
            return found if not found or found[0] in _OBSERVATION_CONCEPTS else ()
    else:
        found = codes.concepts_of_codings(codings)
    return tuple(c for c in found if c in _OBSERVATION_CONCEPTS)


def parse_resources(data: object, *, patient_id: str | None = None, validate: str = "lazy",
                    observation_reads=None) -> ParsedRecord:
    """Read the candidate records of one patient from ``data`` (resource, Bundle or iterable).

    ``patient_id``: the id the request is about (CDS Hooks ``context.patientId``); when given,
    or when the input holds a Patient, resources whose subject is another patient are skipped.
    ``validate``: "lazy" (validate on :meth:`ParsedRecord.check`), "eager" (validate every
    candidate now and drop the invalid ones) or "none".
    ``observation_reads``: the Observations the caller's features read
    (fhir_adapter.features.observation_reads.ObservationReads); the others are not parsed. Its ``plan(entries)``
    names them by index in the candidate entries (``skip``), and the Observations that are none of ours
    (``not_ours``). A skipped Observation still counts as seen (a later copy with the same reference is a duplicate,
    as before), and one about another patient is read and reported as before.
    """
    parsed = ParsedRecord(observation_reads=observation_reads)
    problems = parsed.problems
    entries: list[tuple[Mapping, str | None]] = []
    medications: dict[str, Mapping] = {}
    patients: list[tuple[Mapping, str | None]] = []
    try:
        for res, full_url in iter_entries(data, problems):
            rtype = res.get("resourceType")
            if rtype == "Patient":
                patients.append((res, full_url))
            elif rtype == "Medication":
                ref = resource_ref(res, full_url)
                medications[ref] = res
                if full_url:
                    medications[full_url] = res
            elif rtype in CANDIDATE_TYPES:
                entries.append((res, full_url))
    except Exception as exc:  # noqa: BLE001 - a broken iterable must not fail the hook
        problems.append(InputProblem(None, None, f"input could not be read completely ({type(exc).__name__})"))

    allowed_refs = choose_patient(parsed, patients, patient_id, validate)
    plan = observation_reads.plan(entries) if observation_reads is not None and validate != "eager" else None
    seen: set[str] = set()
    for index, (res, full_url) in enumerate(entries):
        if plan is not None:
            if index in plan.not_ours:
                continue
            if index in plan.skip:
                ref = resource_ref(res, full_url)
                if ref in seen:
                    continue
                if allowed_refs is None or subject_problem(subject_ref(res), allowed_refs) is None:
                    seen.add(ref)
                    continue
                # About someone else: read as before, so that the problem is reported with the same features.
        try:
            record = _parse_candidate(res, full_url, medications, ours=plan is not None)
        except Exception as exc:  # noqa: BLE001 - malformed shapes the readers did not foresee
            problems.append(InputProblem(resource_ref(res, full_url), None,
                                         f"resource could not be read ({type(exc).__name__}); skipped"))
            continue
        if record is None or record.ref in seen:
            continue  # not a candidate, or the same resource twice (e.g. in two prefetch bundles)
        seen.add(record.ref)
        concepts = (record.matched_concepts() if isinstance(record, MedicationRecord)
                    else _record_concepts(record))
        features = features_of(concepts)
        # Conditions and Procedures are read even when no concept of ours matches (for the problem-list codes and
        # the unrecognised-code report); only the ones we use become candidates (validated, attributed to features).
        candidate = ((not isinstance(record, (ConditionRecord, ProcedureRecord)) or bool(concepts))
                     and (not isinstance(record, ConditionRecord) or any(c in _CONDITION_CONCEPTS for c in concepts)))
        if allowed_refs is not None:
            reason = subject_problem(record.subject, allowed_refs)
            if reason:
                if candidate:
                    for f in features or (None,):
                        problems.append(InputProblem(record.ref, f, reason))
                continue
        if not candidate and isinstance(record, (ConditionRecord, ProcedureRecord)):
            report_unrecognised(parsed, record)
            if isinstance(record, ProcedureRecord):
                continue
        if validate == "eager" and candidate:
            problem = parsed.check(record)
            if problem is not None:
                for f in features or (None,):
                    problems.append(InputProblem(problem.source, f, problem.reason))
                continue
        if isinstance(record, MedicationRecord) and record.unresolved_reference and not record.matched_concepts():
            for feature in _MEDICATION_FEATURES:
                problems.append(InputProblem(record.ref, feature, (
                    f"refers to {record.unresolved_reference}, which is not in the data (prefetch without "
                    f"_include?): the drug is unknown, so it is not counted")))
            if not record.ingredients:
                continue
        if isinstance(record, ConditionRecord):
            if on_problem_list(record):
                parsed.condition_codes.update((c.system, c.code.strip()) for c in record.codes
                                              if c.system and c.code and c.code.strip())
            if candidate:
                parsed.conditions.append(record)
        else:
            _RECORD_LISTS[type(record)](parsed).append(record)
    return parsed


_RECORD_LISTS = {
    AllergyRecord: lambda p: p.allergies,
    ObservationRecord: lambda p: p.observations,
    MedicationRecord: lambda p: p.medications,
    ProcedureRecord: lambda p: p.procedures,
    FamilyHistoryRecord: lambda p: p.family_history,
    GoalRecord: lambda p: p.goals,
}


def _record_concepts(record: Record) -> tuple[str, ...]:
    if isinstance(record, ObservationRecord):
        out = list(record.concepts)
        for comp in record.components:
            out.extend(c for c in comp.concepts if c not in out)
        return tuple(out)
    if isinstance(record, FamilyHistoryRecord):
        return ("family_history",) if record.concepts else ()
    return getattr(record, "concepts", ())


def _parse_candidate(res: Mapping, full_url: str | None, medications: Mapping[str, Mapping],
                     ours: bool = False) -> Record | None:
    """``ours``: an Observation already known to carry one of our concepts (the read plan looked)."""
    rtype = res.get("resourceType")
    if rtype == "Observation":
        if not ours and not observation_concepts(res):
            return None
        return parse_observation(res, full_url)
    if rtype == "Condition":
        return parse_condition(res, full_url)  # every Condition: see ParsedRecord.condition_codes
    if rtype in ("MedicationRequest", "MedicationStatement"):
        # Every medication whose ingredients are known is kept (the medication list), not only the classes the
        # scores read today.
        record = parse_medication(res, full_url, medications)
        # An unresolved medicationReference is kept so that it can be reported (never silently "not on a drug").
        return record if record.matched_concepts() or record.ingredients or record.unresolved_reference else None
    if rtype == "Procedure":
        return parse_procedure(res, full_url)  # every Procedure: see report_unrecognised
    if rtype == "AllergyIntolerance":
        allergy = parse_allergy(res, full_url)
        return allergy if allergy.concepts or allergy.ingredients or allergy.classes else None
    if rtype == "FamilyMemberHistory":
        fmh = parse_family_history(res, full_url)
        return fmh if fmh.concepts else None
    if rtype == "Goal":
        goal = parse_goal(res, full_url)
        return goal if goal.concepts else None
    return None


def report_unrecognised(parsed: ParsedRecord, record: ConditionRecord | ProcedureRecord) -> None:
    """A coded entry in none of our value sets whose text names a concept we read: reported, never counted.

    Real records carry SNOMED CT descendants and local codes that no enumerated list has; silently reading them as
    "absent" would, e.g., score a diabetic patient as non-diabetic. The problem names the resource, the codes and
    the concept, so that the card can say why the entry was not used (and a terminologist can add the code)."""
    if isinstance(record, ConditionRecord) and not on_problem_list(record) and record.clinical_status is not None:
        return  # resolved / inactive entries would not have counted anyway
    text = " ".join(filter(None, [dict_or_empty(record.raw.get("code")).get("text"),
                                  *(c.display for c in record.codes)]))
    kind = "Condition" if isinstance(record, ConditionRecord) else "Procedure"
    named = codes.concepts_named_in(text if isinstance(text, str) else None, _NAMED_CONCEPTS[kind])
    if not named:
        return
    coded = ", ".join(f"{_SHORT_SYSTEM.get(c.system or '', c.system or 'no system')} {c.code}"
                      for c in record.codes if c.code) or "no code"
    for concept, words in named.items():
        parsed.unrecognised.append((record.ref, concept, words, coded))
        for feature in features_of((concept,)) or (None,):
            parsed.problems.append(InputProblem(
                record.ref, feature,
                f"unrecognised code ({coded}): the entry names '{words}', but its code is in no value set "
                f"this service reads; not counted"))
