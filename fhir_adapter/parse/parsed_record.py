"""ParsedRecord: the candidate records of one patient, validated on demand."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.finding import InputProblem
from fhir_adapter.parse import validation
from fhir_adapter.parse.records import (
    AllergyRecord,
    ConditionRecord,
    FamilyHistoryRecord,
    GoalRecord,
    MedicationRecord,
    ObservationRecord,
    PatientRecord,
    ProcedureRecord,
    Record,
)


@dataclass
class ParsedRecord:
    """The candidate records of one patient plus the problems met while reading them."""

    patient: PatientRecord | None = None
    observations: list[ObservationRecord] = field(default_factory=list)
    conditions: list[ConditionRecord] = field(default_factory=list)
    medications: list[MedicationRecord] = field(default_factory=list)
    procedures: list[ProcedureRecord] = field(default_factory=list)
    family_history: list[FamilyHistoryRecord] = field(default_factory=list)
    goals: list[GoalRecord] = field(default_factory=list)
    allergies: list[AllergyRecord] = field(default_factory=list)
    # Genomic Observations and DiagnosticReports of the patient, as (resource, fullUrl): read by
    # fhir_adapter.genomics (a report's results may be contained in it or be other entries).
    genomic: list[tuple[dict, str | None]] = field(default_factory=list)
    # Coded entries whose codes are in none of our value sets but whose text names a concept we read:
    # (record reference, concept, the words found, the codes as "SNOMED 123"). Reported, never counted.
    unrecognised: list[tuple[str, str, str, str]] = field(default_factory=list)
    # (system, code) of every Condition of the patient that is on the active problem list (any concept,
    # not only ours): clinical status active / recurrence / relapse (or absent without an abatement) and
    # not refuted / entered in error. Read without model validation (see docs/features.md).
    condition_codes: set[tuple[str, str]] = field(default_factory=set)
    problems: list[InputProblem] = field(default_factory=list)
    # The Observations kept for the caller's features (fhir_adapter.features.observation_reads.ObservationReads);
    # None: every Observation of ours was read.
    observation_reads: Any = field(default=None, repr=False)
    _checked: dict[str, InputProblem | None] = field(default_factory=dict, repr=False)
    # Concept of an Observation's own code -> the positions of those Observations in ``observations``; built on first
    # use, for the list as it is then (built again if the list is replaced or changes length).
    _coded: tuple[list, int, dict[str, list[int]]] | None = field(default=None, repr=False, compare=False)

    def check(self, record: Record, feature: str | None = None) -> InputProblem | None:
        """Validate a record's resource (cached); the problem, if any, is attributed to ``feature``."""
        if record.ref not in self._checked:
            # Looked up on the module at call time, so a test can count validations by replacing it.
            self._checked[record.ref] = validation.validation_problem(validation.read_elements(record.raw),
                                                                      record.ref)
        problem = self._checked[record.ref]
        if problem is None:
            return None
        return InputProblem(source=problem.source, name=feature, reason=problem.reason)

    def known_problem(self, record: Record, feature: str | None = None) -> InputProblem | None:
        """The validation problem of a record already validated, without validating it now."""
        problem = self._checked.get(record.ref)
        if problem is None:
            return None
        return InputProblem(source=problem.source, name=feature, reason=problem.reason)

    def observations_coded(self, *concepts: str | None) -> list[ObservationRecord]:
        """The Observations whose own code is in any of ``concepts`` (None: no concept), in the order read: what a
        feature builder scanning ``observations`` for them would find, without scanning the record for each feature."""
        observations = self.observations
        if self._coded is None or self._coded[0] is not observations or self._coded[1] != len(observations):
            index: dict[str, list[int]] = {}
            for position, observation in enumerate(observations):
                for concept in observation.concepts:
                    index.setdefault(concept, []).append(position)
            self._coded = (observations, len(observations), index)
        index = self._coded[2]
        found = [index[c] for c in dict.fromkeys(concepts) if c in index]
        if not found:
            return []
        positions = found[0] if len(found) == 1 else sorted(set().union(*found))
        return [observations[p] for p in positions]

    def observations_with(self, concept: str) -> list[ObservationRecord]:
        return [o for o in self.observations if concept in o.concepts
                or any(concept in c.concepts for c in o.components)]
