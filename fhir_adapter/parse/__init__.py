"""FHIR R4 JSON -> small typed records, without ever raising on bad input.

Two stages, because full model validation is the expensive part of the hook:

1. :func:`parse_resources` walks the input (resources, lists, Bundles, nested Bundles), keeps
   only *candidates* - the Patient and the Observations / Conditions / MedicationRequests /
   MedicationStatements / Procedures / FamilyMemberHistories / Goals whose codes (or medication
   text) are in our value sets and whose subject is the patient - and reads them into frozen
   dataclasses with plain dict access (microseconds). Every Condition of the patient is read
   (cheaply) so that ``ParsedRecord.condition_codes`` lists the whole active problem list.
2. :meth:`ParsedRecord.check` validates one record against the ``fhir.resources.R4B`` pydantic
   model on demand, cached per resource. The feature builder only checks the records it is about
   to use (newest first), so a patient with ten years of vitals pays for a handful of
   validations, not hundreds (about 0.3 ms each when warm; see docs/features.md).

A resource that fails validation becomes an :class:`engine.finding.InputProblem` naming the
resource reference and the failing element paths/error types - never the offending values, which
may be patient data.

Modules: ``candidates`` (parse_resources), ``entries`` (walking Bundles), ``patient_scope`` (whose
record), ``concept_features`` (concept -> features, for problem attribution), ``resources`` (one
reader per resource type), ``records`` (the dataclasses), ``parsed_record`` (ParsedRecord),
``validation`` (model validation, warm_up), ``problem_list``, ``datatypes``, ``references``,
``dates``, ``json_values`` (small readers). Import from this package, not from the modules.
"""
from fhir_adapter.parse.candidates import CANDIDATE_TYPES, parse_resources
from fhir_adapter.parse.concept_features import CONCEPT_FEATURES
from fhir_adapter.parse.dates import parse_fhir_datetime
from fhir_adapter.parse.entries import iter_entries
from fhir_adapter.parse.parsed_record import ParsedRecord
from fhir_adapter.parse.problem_list import ACTIVE_CLINICAL_STATUS, DROPPED_VERIFICATION_STATUS, on_problem_list
from fhir_adapter.parse.records import (
    SPO2_TARGET_TEXT,
    Coding,
    Component,
    ConditionRecord,
    FamilyHistoryRecord,
    GoalRecord,
    GoalTarget,
    MedicationRecord,
    ObservationRecord,
    PatientRecord,
    ProcedureRecord,
    Quantity,
    Record,
    RelativeCondition,
)
from fhir_adapter.parse.references import resource_ref
from fhir_adapter.parse.resources import (
    US_CORE_ETHNICITY,
    US_CORE_RACE,
    parse_condition,
    parse_family_history,
    parse_goal,
    parse_medication,
    parse_observation,
    parse_patient,
    parse_procedure,
)
from fhir_adapter.parse.validation import read_elements, validation_problem, warm_up

__all__ = [
    "ACTIVE_CLINICAL_STATUS",
    "CANDIDATE_TYPES",
    "CONCEPT_FEATURES",
    "DROPPED_VERIFICATION_STATUS",
    "SPO2_TARGET_TEXT",
    "US_CORE_ETHNICITY",
    "US_CORE_RACE",
    "Coding",
    "Component",
    "ConditionRecord",
    "FamilyHistoryRecord",
    "GoalRecord",
    "GoalTarget",
    "MedicationRecord",
    "ObservationRecord",
    "ParsedRecord",
    "PatientRecord",
    "ProcedureRecord",
    "Quantity",
    "Record",
    "RelativeCondition",
    "iter_entries",
    "on_problem_list",
    "parse_condition",
    "parse_family_history",
    "parse_fhir_datetime",
    "parse_goal",
    "parse_medication",
    "parse_observation",
    "parse_patient",
    "parse_procedure",
    "parse_resources",
    "read_elements",
    "resource_ref",
    "validation_problem",
    "warm_up",
]
