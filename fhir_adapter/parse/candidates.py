"""parse_resources: read the candidate records of one patient from the input (stage 1, see the package doc)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, NamedTuple

from engine.finding import InputProblem
from engine.pharmacogenomics.drugs import drugs_in
from fhir_adapter import codes
from fhir_adapter.parse.concept_features import features_of
from fhir_adapter.parse.dates import chronological_key
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
    observation_record,
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
        return one_coding_concepts(coding.get("system"), coding.get("code"))
    return tuple(c for c in codes.concepts_of_codings(codings) if c in _OBSERVATION_CONCEPTS)


def one_coding_concepts(system: Any, code: Any) -> tuple[str, ...]:
    """``observation_concepts`` of a code of one coding."""
    found = codes.concepts_of_coding(system, code)
    if len(found) <= 1:
        return found if not found or found[0] in _OBSERVATION_CONCEPTS else ()
    return tuple(c for c in found if c in _OBSERVATION_CONCEPTS)


# What the caller's read plan (``observation_reads.look``) says of an Observation: none of our concepts (dropped, as
# always), ours but of no use to this extraction, to read, or older than every window that reads it (read only if
# ``observation_reads.stale_kept`` keeps it).
NOT_OURS, SKIP, READ, STALE = range(4)


class Stale(NamedTuple):
    """A stale Observation: its index in the candidate entries, its concepts and its moment (UTC sort key)."""

    index: int
    resource: Mapping
    concepts: tuple[str, ...]
    moment: datetime


def parse_resources(data: object, *, patient_id: str | None = None, validate: str = "lazy",
                    observation_reads=None) -> ParsedRecord:
    """Read the candidate records of one patient from ``data`` (resource, Bundle or iterable).

    ``patient_id``: the id the request is about (CDS Hooks ``context.patientId``); when given,
    or when the input holds a Patient, resources whose subject is another patient are skipped.
    ``validate``: "lazy" (validate on :meth:`ParsedRecord.check`), "eager" (validate every
    candidate now and drop the invalid ones) or "none".
    ``observation_reads``: the Observations the caller's features read
    (fhir_adapter.features.observation_reads.ObservationReads); the others are not parsed. Its ``look(resource)``
    says what to do with each Observation (NOT_OURS, SKIP, READ or STALE above), and ``stale_kept(stale)`` which of
    the stale ones are read all the same. A skipped Observation still counts as seen (a later copy with the same
    reference is a duplicate, as before), and one about another patient is read and reported as before.

    Each Observation is looked at, and read when the plan says so, as the walk meets it: one visit per resource,
    while it is still in the processor's cache. What depends on the whole input (the patient, duplicates, the stale
    readings kept) is settled afterwards, over the entries in order, so the result is that of separate passes.
    """
    # Imported here: fhir_adapter.genomics reads with this package's readers, so it imports fhir_adapter.parse.
    from fhir_adapter.genomics.reader import PROBLEM_NAME as GENOMIC_PROBLEM_NAME
    from fhir_adapter.genomics.scan import is_genomic, scan_observation

    parsed = ParsedRecord(observation_reads=observation_reads)
    problems = parsed.problems
    entries: list[tuple[Mapping, str | None]] = []
    medications: dict[str, Mapping] = {}
    patients: list[tuple[Mapping, str | None]] = []
    genomic: list[tuple[Mapping, str | None]] = []
    observations: list[tuple[Mapping, str | None]] = []  # every Observation, for a genomic report's results
    reads = observation_reads if validate != "eager" else None
    # Per candidate entry, what the read plan said of an Observation (see _look); None for the other entries.
    planned: list[tuple[int, Any] | None] = []
    stale: list[Stale] = []
    walk = iter_entries(data, problems)
    while True:
        try:
            res, full_url = next(walk)
        except StopIteration:
            break
        except Exception as exc:  # noqa: BLE001 - a broken iterable must not fail the hook
            problems.append(InputProblem(None, None, f"input could not be read completely ({type(exc).__name__})"))
            break
        scanned_concepts = None  # an Observation's concepts, when its scan worked them out
        try:
            rtype = res.get("resourceType")
            if rtype == "Observation":  # the usual entry, by far
                is_gene_result, scanned_concepts = scan_observation(res)
                entry = (res, full_url)
                if is_gene_result:
                    genomic.append(entry)
                    continue
                observations.append(entry)
                entries.append(entry)
            else:
                if rtype == "DiagnosticReport" and is_genomic(res):
                    genomic.append((res, full_url))
                    continue
                if rtype == "Patient":
                    patients.append((res, full_url))
                    continue
                if rtype == "Medication":
                    ref = resource_ref(res, full_url)
                    medications[ref] = res
                    if full_url:
                        medications[full_url] = res
                    continue
                if rtype not in CANDIDATE_TYPES:
                    continue
                entries.append((res, full_url))
        except Exception as exc:  # noqa: BLE001 - as for a broken iterable
            problems.append(InputProblem(None, None, f"input could not be read completely ({type(exc).__name__})"))
            break
        # Outside the walk's guard: a read plan that fails fails the extraction, as it always did.
        planned.append(_look(reads, res, full_url, len(entries) - 1, stale, scanned_concepts)
                       if reads is not None and rtype == "Observation" else None)

    allowed_refs = choose_patient(parsed, patients, patient_id, validate)
    genomic += report_results(genomic, observations)
    for res, full_url in genomic:
        reason = None if allowed_refs is None else subject_problem(subject_ref(res), allowed_refs)
        if reason is None:
            parsed.genomic.append((res, full_url))
        else:
            problems.append(InputProblem(resource_ref(res, full_url), GENOMIC_PROBLEM_NAME, reason))
    stale_kept = reads.stale_kept(stale) if stale else set()
    seen: set[str] = set()
    for index, (res, full_url) in enumerate(entries):
        look = planned[index]
        record: Any = _UNREAD
        if look is not None:
            kind, found = look
            if kind == NOT_OURS:
                continue
            if kind == READ:
                record = found
            elif kind == SKIP or index not in stale_kept:
                ref, subject = found
                if ref in seen:
                    continue
                if allowed_refs is None or subject in allowed_refs or subject_problem(subject, allowed_refs) is None:
                    seen.add(ref)
                    continue
                # About someone else: read as before, so that the problem is reported with the same features.
        if record is _UNREAD:
            try:
                record = _parse_candidate(res, full_url, medications, ours=reads is not None)
            except Exception as exc:  # noqa: BLE001 - malformed shapes the readers did not foresee
                record = exc
        if isinstance(record, Exception):
            problems.append(InputProblem(resource_ref(res, full_url), None,
                                         f"resource could not be read ({type(record).__name__}); skipped"))
            continue
        if record is None or record.ref in seen:
            continue  # not a candidate, or the same resource twice (e.g. in two prefetch bundles)
        seen.add(record.ref)
        if type(record) is ObservationRecord:
            record_concepts: tuple[str, ...] | None = None  # worked out only if a problem names the features
            candidate = True
        else:
            record_concepts = (record.matched_concepts() if isinstance(record, MedicationRecord)
                               else _record_concepts(record))
            # Conditions and Procedures are read even when no concept of ours matches (for the problem-list codes
            # and the unrecognised-code report); only the ones we use become candidates (validated, attributed to
            # features).
            candidate = ((not isinstance(record, (ConditionRecord, ProcedureRecord)) or bool(record_concepts))
                         and (not isinstance(record, ConditionRecord)
                              or any(c in _CONDITION_CONCEPTS for c in record_concepts)))
        if allowed_refs is not None and record.subject not in allowed_refs:  # in the set: no problem, as below
            reason = subject_problem(record.subject, allowed_refs)
            if reason:
                if candidate:
                    for f in _features(record, record_concepts) or (None,):
                        problems.append(InputProblem(record.ref, f, reason))
                continue
        if type(record) is ObservationRecord and validate != "eager":  # none of the steps below but the last
            parsed.observations.append(record)
            continue
        if not candidate and isinstance(record, (ConditionRecord, ProcedureRecord)):
            report_unrecognised(parsed, record)
            if isinstance(record, ProcedureRecord):
                continue
        if validate == "eager" and candidate:
            problem = parsed.check(record)
            if problem is not None:
                for f in _features(record, record_concepts) or (None,):
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


_UNREAD = object()  # an entry whose record is still to be read (None: read, and not a candidate)


def _look(reads, res: Mapping, full_url: str | None, index: int, stale: list[Stale],
          concepts: tuple[str, ...] | None = None) -> tuple[int, Any]:
    """The read plan's answer for one Observation, with what the later steps need: (NOT_OURS, None), (SKIP or STALE,
    (reference, subject)), or (READ, the record, or the exception its reader raised: reported in its turn).
    ``concepts``: its ``observation_concepts``, when already worked out."""
    kind, concepts, effective = reads.look(res, concepts)
    if kind == READ:
        try:
            return READ, observation_record(res, full_url, effective)
        except Exception as exc:  # noqa: BLE001 - reported where the entry's turn comes (parse_resources)
            return READ, exc
    if kind == NOT_OURS:
        return _NOT_OURS
    if kind == STALE:
        stale.append(_new_tuple(Stale, (index, res, concepts, chronological_key(effective))))
    rid = res.get("id")  # resource_ref of an Observation with an id, the usual one, written out
    if type(rid) is str and (rid := rid.strip()):
        return kind, ("Observation/" + rid, subject_ref(res))
    return kind, (resource_ref(res, full_url), subject_ref(res))


_NOT_OURS = (NOT_OURS, None)
# Stale(...) without the Python-level __new__ a NamedTuple has: a long record has hundreds of stale readings.
_new_tuple = tuple.__new__


def _features(record: Record, concepts: tuple[str, ...] | None) -> tuple[str, ...]:
    return features_of(_record_concepts(record) if concepts is None else concepts)


def report_results(genomic: list[tuple[Mapping, str | None]],
                   observations: list[tuple[Mapping, str | None]]) -> list[tuple[Mapping, str | None]]:
    """The Observations a genomic report lists as results that are not genomic by their own code (a laboratory's local
    or gene-specific code): read as the report's results. Indexed only when there is a genomic report."""
    references = {dict_or_empty(result).get("reference") for res, _ in genomic
                  if res.get("resourceType") == "DiagnosticReport" for result in list_or_empty(res.get("result"))}
    references.discard(None)
    if not references:
        return []
    return [(res, full_url) for res, full_url in observations
            if resource_ref(res, full_url) in references or (full_url and full_url in references)]


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
        # A drug of the pharmacogenomic tables the drug knowledge does not list is kept by its name (the
        # pharmacogenomics engine reads it; engine.pharmacogenomics.drugs).
        return record if (record.matched_concepts() or record.ingredients or record.unresolved_reference
                          or drugs_in(record.name)) else None
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
