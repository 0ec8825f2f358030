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
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Iterator, Mapping

from engine.finding import InputProblem
from fhir_adapter import codes

CANDIDATE_TYPES = ("Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement", "Procedure",
                   "FamilyMemberHistory", "Goal")

US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"

# Features each concept feeds, so that a problem with a resource is attributed to the features it
# would have supplied (and shown only on the findings that read them).
CONCEPT_FEATURES: dict[str, tuple[str, ...]] = {
    "chol_total": ("chol_total_mgdl",),
    "hdl": ("hdl_mgdl",),
    "ldl": ("ldl_mgdl",),
    "sbp": ("sbp_mmhg",),
    "dbp": ("dbp_mmhg",),
    "bp_panel": ("sbp_mmhg", "dbp_mmhg"),
    "smoking_status": ("smoker_current",),
    "hba1c": ("hba1c_pct",),
    "creatinine": ("creatinine_mgdl", "egfr_mlmin173m2"),
    "egfr": ("egfr_mlmin173m2",),
    "bmi": ("bmi_kgm2",),
    "body_height": ("bmi_kgm2",),
    "body_weight": ("bmi_kgm2",),
    "diabetes": ("diabetes",),
    "hypertension": ("hypertension",),
    "ascvd": ("ascvd",),
    "antihypertensive": ("bp_treated",),
    "statin": ("statin",),
    "waist_circumference": ("waist_cm",),
    "cystatin_c": ("cystatin_c_mgl",),
    "uacr": ("uacr_mgg",),
    "glucose_fasting": ("glucose_fasting_mgdl",),
    "glucose_ogtt_2h": ("glucose_ogtt_2h_mgdl",),
    "glucose_random": ("glucose_random_mgdl",),
    "hemoglobin": ("hemoglobin_gdl",),
    "platelets": ("platelets_10e9l",),
    "ast": ("ast_ul",),
    "alt": ("alt_ul",),
    "bilirubin_total": ("bilirubin_total_mgdl",),
    "inr": ("inr",),
    "respiratory_rate": ("respiratory_rate_min",),
    "heart_rate": ("heart_rate_min",),
    "body_temperature": ("temperature_c",),
    "spo2": ("spo2_pct", "on_supplemental_o2"),
    "o2_flow": ("on_supplemental_o2",),
    "fio2": ("on_supplemental_o2",),
    "o2_device": ("on_supplemental_o2",),
    "vital_signs_panel": ("respiratory_rate_min", "heart_rate_min", "temperature_c", "spo2_pct"),
    "consciousness": ("consciousness_avpu",),
    "gcs_total": ("gcs_total",),
    "news2_spo2_scale2": ("hypercapnic_target",),
    "pregnancy_status": ("pregnant",),
    "pa_minutes_per_week": ("physically_active",),
    "pa_days_per_week": ("physically_active",),
    "pa_minutes_per_day": ("physically_active",),
    "atrial_fibrillation": ("atrial_fibrillation",),
    "heart_failure": ("heart_failure",),
    "stroke_tia_thromboembolism": ("stroke_tia_thromboembolism",),
    "vascular_disease": ("vascular_disease",),
    "chronic_kidney_disease": ("chronic_kidney_disease",),
    "dialysis_or_transplant": ("dialysis_or_transplant",),
    "liver_disease": ("liver_disease",),
    "bleeding_history": ("bleeding_history",),
    "alcohol_excess": ("alcohol_excess",),
    "obesity": ("obesity",),
    "familial_hypercholesterolemia": ("familial_hypercholesterolemia",),
    "anemia": ("anemia",),
    "prediabetes": ("prediabetes",),
    "pregnancy": ("pregnant",),
    "gestational_diabetes": ("gestational_diabetes_history",),
    "hypercapnic_respiratory_failure": ("hypercapnic_target",),
    "family_history_diabetes_finding": ("family_history_diabetes",),
    "no_family_history_diabetes_finding": ("family_history_diabetes",),
    "antiplatelet": ("antiplatelet_or_nsaid",),
    "nsaid": ("antiplatelet_or_nsaid",),
    "anticoagulant": ("anticoagulant",),
    "dialysis_procedure": ("dialysis_or_transplant",),
    "kidney_transplant_procedure": ("dialysis_or_transplant",),
    "family_history": ("family_history_diabetes",),
    "spo2_goal": ("hypercapnic_target",),
}

_OBSERVATION_CONCEPTS = frozenset(codes.OBSERVATION_CONCEPTS)
_CONDITION_CONCEPTS = frozenset(codes.CONDITION_CONCEPTS)
_MEDICATION_CONCEPTS = frozenset(codes.MEDICATION_CONCEPTS)
_PROCEDURE_CONCEPTS = frozenset(codes.PROCEDURE_CONCEPTS)
_FAMILY_HISTORY_CONCEPTS = frozenset(codes.FAMILY_HISTORY_CONCEPTS)
_MAX_BUNDLE_DEPTH = 4

# Clinical statuses that put a Condition on the active problem list (HL7 condition-clinical).
ACTIVE_CLINICAL_STATUS = frozenset({"active", "recurrence", "relapse"})
# Verification statuses that take a Condition off the record altogether (HL7 condition-ver-status).
DROPPED_VERIFICATION_STATUS = frozenset({"refuted", "entered-in-error"})
# A Goal whose description reads like an 88-92 % oxygen-saturation target (e.g. "SpO2 target 88-92%").
SPO2_TARGET_TEXT = re.compile(r"\b88\s*(?:%\s*)?(?:-|\u2013|to)\s*92\s*%?", re.IGNORECASE)


# -- records ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Coding:
    system: str | None
    code: str | None
    display: str | None = None

    def label(self) -> str:
        """"Display (LOINC 1234-5)" for notes."""
        short = {codes.LOINC: "LOINC", codes.SNOMED: "SNOMED", codes.ICD10CM: "ICD-10-CM",
                 codes.ICD10: "ICD-10", codes.RXNORM: "RxNorm", codes.ATC: "ATC"}.get(self.system or "", self.system)
        head = self.display or self.code or "?"
        return f"{head} ({short} {self.code})" if self.code else head


@dataclass(frozen=True)
class Quantity:
    value: Any
    unit: str | None = None
    system: str | None = None
    code: str | None = None
    comparator: str | None = None

    def as_mapping(self) -> dict:
        return {"value": self.value, "unit": self.unit, "system": self.system, "code": self.code,
                "comparator": self.comparator}


@dataclass(frozen=True)
class Component:
    codes: tuple[Coding, ...]
    concepts: tuple[str, ...]
    quantity: Quantity | None
    absent_reason: str | None
    value_codes: tuple[Coding, ...] = ()
    value_text: str | None = None  # valueString, else valueCodeableConcept.text


@dataclass(frozen=True)
class PatientRecord:
    ref: str
    id: str | None
    full_url: str | None
    gender: str | None
    birth_date: str | None  # raw FHIR date (may be partial: "1970" or "1970-04")
    race_codes: tuple[Coding, ...]
    ethnicity_codes: tuple[Coding, ...]
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)


@dataclass(frozen=True)
class ObservationRecord:
    ref: str
    status: str | None
    codes: tuple[Coding, ...]
    concepts: tuple[str, ...]
    effective: date | datetime | None  # effective[x], falling back to issued
    quantity: Quantity | None
    value_codes: tuple[Coding, ...]
    components: tuple[Component, ...]
    absent_reason: str | None
    subject: str | None
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)
    value_text: str | None = None  # valueString, else valueCodeableConcept.text


@dataclass(frozen=True)
class ConditionRecord:
    ref: str
    codes: tuple[Coding, ...]
    concepts: tuple[str, ...]
    clinical_status: str | None
    verification_status: str | None
    onset: date | datetime | None  # onset[x], falling back to recordedDate
    abated: bool
    subject: str | None
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)


@dataclass(frozen=True)
class MedicationRecord:
    ref: str
    resource_type: str  # MedicationRequest | MedicationStatement
    status: str | None
    intent: str | None
    do_not_perform: bool
    codes: tuple[Coding, ...]
    text: str | None
    concepts: tuple[str, ...]  # matched by code
    text_matches: Mapping[str, str]  # concept -> matched ingredient name (fallback, only if no code matched)
    date: date | datetime | None  # authoredOn / effective start / dateAsserted
    period_end: date | datetime | None  # MedicationStatement.effectivePeriod.end
    subject: str | None
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)

    def matched_concepts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.concepts, *self.text_matches]))


@dataclass(frozen=True)
class ProcedureRecord:
    ref: str
    status: str | None
    codes: tuple[Coding, ...]
    concepts: tuple[str, ...]
    performed: date | datetime | None  # performedDateTime, else performedPeriod end / start
    subject: str | None
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)


@dataclass(frozen=True)
class RelativeCondition:
    codes: tuple[Coding, ...]
    concepts: tuple[str, ...]


@dataclass(frozen=True)
class FamilyHistoryRecord:
    ref: str
    status: str | None
    relationship: tuple[Coding, ...]
    relationship_concepts: tuple[str, ...]  # family_first_degree / family_second_degree
    relationship_text: str | None
    conditions: tuple[RelativeCondition, ...]
    date: date | datetime | None
    subject: str | None  # FamilyMemberHistory.patient
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)

    @property
    def concepts(self) -> tuple[str, ...]:
        out: list[str] = []
        for cond in self.conditions:
            out.extend(c for c in cond.concepts if c not in out)
        return tuple(out)


@dataclass(frozen=True)
class GoalTarget:
    measure: tuple[Coding, ...]
    concepts: tuple[str, ...]
    low: Quantity | None  # detailRange.low
    high: Quantity | None  # detailRange.high
    quantity: Quantity | None  # detailQuantity


@dataclass(frozen=True)
class GoalRecord:
    ref: str
    lifecycle_status: str | None
    description: str | None
    targets: tuple[GoalTarget, ...]
    start: date | datetime | None  # startDate, else statusDate
    subject: str | None
    raw: Mapping = field(compare=False, repr=False, default_factory=dict)

    @property
    def concepts(self) -> tuple[str, ...]:
        # "spo2_goal": a Goal this adapter reads (an oxygen-saturation target by measure code or by text).
        if any("spo2" in t.concepts for t in self.targets) or (self.description and
                                                               SPO2_TARGET_TEXT.search(self.description)):
            return ("spo2_goal",)
        return ()


Record = (PatientRecord | ObservationRecord | ConditionRecord | MedicationRecord | ProcedureRecord
          | FamilyHistoryRecord | GoalRecord)


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
    # (system, code) of every Condition of the patient that is on the active problem list (any concept,
    # not only ours): clinical status active / recurrence / relapse (or absent without an abatement) and
    # not refuted / entered in error. Read without model validation (see docs/features.md).
    condition_codes: set[tuple[str, str]] = field(default_factory=set)
    problems: list[InputProblem] = field(default_factory=list)
    _checked: dict[str, InputProblem | None] = field(default_factory=dict, repr=False)

    def check(self, record: Record, feature: str | None = None) -> InputProblem | None:
        """Validate a record's resource (cached); the problem, if any, is attributed to ``feature``."""
        if record.ref not in self._checked:
            self._checked[record.ref] = validation_problem(read_elements(record.raw), record.ref)
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

    def observations_with(self, concept: str) -> list[ObservationRecord]:
        return [o for o in self.observations if concept in o.concepts
                or any(concept in c.concepts for c in o.components)]


# -- small readers ---------------------------------------------------------------------------------
def parse_fhir_datetime(value: object) -> date | datetime | None:
    """FHIR date / dateTime / instant -> date (no time given) or datetime; None if unreadable.

    Partial dates ("2019", "2019-03") map to their first day: the conservative choice for a
    look-back window (a value is never made to look more recent than it can be).
    """
    if not isinstance(value, str):
        return None
    s = value.strip()
    try:
        if len(s) == 4:
            return date(int(s), 1, 1)
        if len(s) == 7:
            return date(int(s[:4]), int(s[5:7]), 1)
        if len(s) == 10:
            return date.fromisoformat(s)
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


# JSON objects arrive as dicts; exact-type checks are used because isinstance against the
# typing.Mapping ABC is ~10x slower and this runs over every element of a large record.
_EMPTY: dict = {}


def _dict(value: object) -> dict:
    return value if type(value) is dict else _EMPTY


def _list(value: object) -> list:
    return value if type(value) is list else []


def _codings(concept: object) -> tuple[Coding, ...]:
    out = []
    for c in _list(_dict(concept).get("coding")):
        if type(c) is dict:
            code = c.get("code")
            out.append(Coding(codes.normalise_system(_str(c.get("system"))),
                              code if isinstance(code, str) else (str(code) if isinstance(code, int) else None),
                              _str(c.get("display"))))
    return tuple(out)


def _concepts(codings: Iterable[Coding]) -> tuple[str, ...]:
    out: list[str] = []
    for c in codings:
        for concept in codes.concepts_of_coding(c.system, c.code):
            if concept not in out:
                out.append(concept)
    return tuple(out)


def _first_code(concept: object) -> str | None:
    for c in _codings(concept):
        if c.code:
            return c.code
    return None


def _quantity(value: object) -> Quantity | None:
    q = _dict(value)
    if not q:
        return None
    return Quantity(q.get("value"), _str(q.get("unit")), _str(q.get("system")), _str(q.get("code")),
                    _str(q.get("comparator")))


def resource_ref(resource: Mapping, full_url: str | None = None) -> str:
    """"Observation/123"; the bundle fullUrl when the resource has no id."""
    rtype = _str(resource.get("resourceType")) or "Resource"
    rid = resource.get("id")
    if isinstance(rid, str) and rid.strip():
        return f"{rtype}/{rid.strip()}"
    if full_url:
        return full_url
    return f"{rtype}/(no id)"


def _subject_ref(resource: Mapping) -> str | None:
    return _str(_dict(resource.get("subject")).get("reference"))


def _normalise_patient_ref(ref: str) -> str:
    """"http://x/fhir/Patient/1/_history/2" -> "Patient/1"; other forms unchanged."""
    r = ref.strip()
    if "/_history/" in r:
        r = r.split("/_history/", 1)[0]
    if "/Patient/" in r and not r.startswith("urn:"):
        r = "Patient/" + r.rsplit("/Patient/", 1)[1]
    return r


# -- resource parsers (cheap: no model validation) ---------------------------------------------------
def parse_patient(resource: Mapping, full_url: str | None = None) -> PatientRecord:
    race: list[Coding] = []
    ethnicity: list[Coding] = []
    for ext in _list(resource.get("extension")):
        ext = _dict(ext)
        url = ext.get("url")
        if url not in (US_CORE_RACE, US_CORE_ETHNICITY):
            continue
        target = race if url == US_CORE_RACE else ethnicity
        for sub in _list(ext.get("extension")):
            sub = _dict(sub)
            if sub.get("url") == "ombCategory":
                vc = _dict(sub.get("valueCoding"))
                target.append(Coding(codes.normalise_system(_str(vc.get("system"))), _str(vc.get("code")),
                                     _str(vc.get("display"))))
    rid = resource.get("id")
    return PatientRecord(
        ref=resource_ref(resource, full_url),
        id=rid.strip() if isinstance(rid, str) and rid.strip() else None,
        full_url=full_url,
        gender=_str(resource.get("gender")),
        birth_date=_str(resource.get("birthDate")),
        race_codes=tuple(race),
        ethnicity_codes=tuple(ethnicity),
        raw=resource,
    )


def _observation_effective(resource: Mapping) -> date | datetime | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        d = parse_fhir_datetime(resource.get(key))
        if d is not None:
            return d
    period = _dict(resource.get("effectivePeriod"))
    d = parse_fhir_datetime(period.get("end")) or parse_fhir_datetime(period.get("start"))
    if d is not None:
        return d
    return parse_fhir_datetime(resource.get("issued"))


def parse_observation(resource: Mapping, full_url: str | None = None) -> ObservationRecord:
    obs_codes = _codings(resource.get("code"))
    components = []
    for comp in _list(resource.get("component")):
        comp = _dict(comp)
        comp_codes = _codings(comp.get("code"))
        components.append(Component(comp_codes, _concepts(comp_codes), _quantity(comp.get("valueQuantity")),
                                    _first_code(comp.get("dataAbsentReason")),
                                    _codings(comp.get("valueCodeableConcept")), _value_text(comp)))
    return ObservationRecord(
        ref=resource_ref(resource, full_url),
        status=_str(resource.get("status")),
        codes=obs_codes,
        concepts=_concepts(obs_codes),
        effective=_observation_effective(resource),
        quantity=_quantity(resource.get("valueQuantity")),
        value_codes=_codings(resource.get("valueCodeableConcept")),
        components=tuple(components),
        absent_reason=_first_code(resource.get("dataAbsentReason")),
        subject=_subject_ref(resource),
        raw=resource,
        value_text=_value_text(resource),
    )


def _value_text(element: Mapping) -> str | None:
    return _str(element.get("valueString")) or _str(_dict(element.get("valueCodeableConcept")).get("text"))


def parse_condition(resource: Mapping, full_url: str | None = None) -> ConditionRecord:
    cond_codes = _codings(resource.get("code"))
    onset = (parse_fhir_datetime(resource.get("onsetDateTime"))
             or parse_fhir_datetime(_dict(resource.get("onsetPeriod")).get("start"))
             or parse_fhir_datetime(resource.get("recordedDate")))
    abated = any(k.startswith("abatement") and resource.get(k) not in (None, False) for k in resource)
    return ConditionRecord(
        ref=resource_ref(resource, full_url),
        codes=cond_codes,
        concepts=_concepts(cond_codes),
        clinical_status=_first_code(resource.get("clinicalStatus")),
        verification_status=_first_code(resource.get("verificationStatus")),
        onset=onset,
        abated=abated,
        subject=_subject_ref(resource),
        raw=resource,
    )


def parse_medication(resource: Mapping, full_url: str | None = None,
                     medications: Mapping[str, Mapping] | None = None) -> MedicationRecord:
    """MedicationRequest or MedicationStatement; ``medications`` resolves medicationReference."""
    concept_json: Mapping = _dict(resource.get("medicationCodeableConcept"))
    if not concept_json:
        ref = _str(_dict(resource.get("medicationReference")).get("reference"))
        med = _resolve_medication(ref, resource, medications or {})
        concept_json = _dict(med.get("code")) if med else {}
    med_codes = _codings(concept_json)
    text = _str(concept_json.get("text"))
    concepts = tuple(c for c in _concepts(med_codes) if c in _MEDICATION_CONCEPTS)
    text_matches: dict[str, str] = {}
    if not concepts:
        # Documented fallback: ingredient/brand names in the text or coding displays.
        blob = " ".join(filter(None, [text, *(c.display for c in med_codes)]))
        text_matches = codes.medication_concepts_by_text(blob)
    rtype = _str(resource.get("resourceType")) or "MedicationRequest"
    period = _dict(resource.get("effectivePeriod"))
    when = (parse_fhir_datetime(resource.get("authoredOn"))
            or parse_fhir_datetime(resource.get("effectiveDateTime"))
            or parse_fhir_datetime(period.get("start"))
            or parse_fhir_datetime(resource.get("dateAsserted")))
    return MedicationRecord(
        ref=resource_ref(resource, full_url),
        resource_type=rtype,
        status=_str(resource.get("status")),
        intent=_str(resource.get("intent")),
        do_not_perform=resource.get("doNotPerform") is True,
        codes=med_codes,
        text=text,
        concepts=concepts,
        text_matches=text_matches,
        date=when,
        period_end=parse_fhir_datetime(period.get("end")),
        subject=_subject_ref(resource),
        raw=resource,
    )


def parse_procedure(resource: Mapping, full_url: str | None = None) -> ProcedureRecord:
    proc_codes = _codings(resource.get("code"))
    period = _dict(resource.get("performedPeriod"))
    performed = (parse_fhir_datetime(resource.get("performedDateTime"))
                 or parse_fhir_datetime(period.get("end")) or parse_fhir_datetime(period.get("start")))
    return ProcedureRecord(
        ref=resource_ref(resource, full_url),
        status=_str(resource.get("status")),
        codes=proc_codes,
        concepts=tuple(c for c in _concepts(proc_codes) if c in _PROCEDURE_CONCEPTS),
        performed=performed,
        subject=_subject_ref(resource),
        raw=resource,
    )


def parse_family_history(resource: Mapping, full_url: str | None = None) -> FamilyHistoryRecord:
    relationship = _codings(resource.get("relationship"))
    conditions = []
    for cond in _list(resource.get("condition")):
        cond_codes = _codings(_dict(cond).get("code"))
        conditions.append(RelativeCondition(cond_codes, tuple(c for c in _concepts(cond_codes)
                                                              if c in _FAMILY_HISTORY_CONCEPTS)))
    return FamilyHistoryRecord(
        ref=resource_ref(resource, full_url),
        status=_str(resource.get("status")),
        relationship=relationship,
        relationship_concepts=tuple(c for c in _concepts(relationship) if c in codes.RELATIONSHIP_CONCEPTS),
        relationship_text=_str(_dict(resource.get("relationship")).get("text")),
        conditions=tuple(conditions),
        date=parse_fhir_datetime(resource.get("date")),
        # FamilyMemberHistory names its patient in `patient`, not `subject`.
        subject=_str(_dict(resource.get("patient")).get("reference")),
        raw=resource,
    )


def parse_goal(resource: Mapping, full_url: str | None = None) -> GoalRecord:
    targets = []
    for target in _list(resource.get("target")):
        target = _dict(target)
        measure = _codings(target.get("measure"))
        detail_range = _dict(target.get("detailRange"))
        targets.append(GoalTarget(measure, _concepts(measure), _quantity(detail_range.get("low")),
                                  _quantity(detail_range.get("high")), _quantity(target.get("detailQuantity"))))
    description = _dict(resource.get("description"))
    text = _str(description.get("text")) or " ".join(filter(None, (c.display for c in _codings(description)))) or None
    return GoalRecord(
        ref=resource_ref(resource, full_url),
        lifecycle_status=_str(resource.get("lifecycleStatus")),
        description=text,
        targets=tuple(targets),
        start=parse_fhir_datetime(resource.get("startDate")) or parse_fhir_datetime(resource.get("statusDate")),
        subject=_subject_ref(resource),
        raw=resource,
    )


def on_problem_list(record: ConditionRecord) -> bool:
    """Active (active / recurrence / relapse, or no clinical status and no abatement) and not refuted."""
    if record.verification_status in DROPPED_VERIFICATION_STATUS:
        return False
    if record.clinical_status is None:
        return not record.abated
    return record.clinical_status in ACTIVE_CLINICAL_STATUS


def _resolve_medication(ref: str | None, resource: Mapping, medications: Mapping[str, Mapping]) -> Mapping | None:
    if not ref:
        return None
    if ref.startswith("#"):
        for contained in _list(resource.get("contained")):
            contained = _dict(contained)
            if contained.get("resourceType") == "Medication" and contained.get("id") == ref[1:]:
                return contained
        return None
    return medications.get(ref) or medications.get(_normalise_medication_ref(ref))


def _normalise_medication_ref(ref: str) -> str:
    r = ref.split("/_history/", 1)[0]
    if "/Medication/" in r and not r.startswith("urn:"):
        r = "Medication/" + r.rsplit("/Medication/", 1)[1]
    return r


# -- validation ---------------------------------------------------------------------------------------
_MODEL_MODULES = {
    "Patient": "fhir.resources.R4B.patient",
    "Observation": "fhir.resources.R4B.observation",
    "Condition": "fhir.resources.R4B.condition",
    "MedicationRequest": "fhir.resources.R4B.medicationrequest",
    "MedicationStatement": "fhir.resources.R4B.medicationstatement",
    "Procedure": "fhir.resources.R4B.procedure",
    "FamilyMemberHistory": "fhir.resources.R4B.familymemberhistory",
    "Goal": "fhir.resources.R4B.goal",
}
_model_cache: dict[str, Any] = {}


def _model(resource_type: str):
    if resource_type not in _model_cache:
        module = importlib.import_module(_MODEL_MODULES[resource_type])
        _model_cache[resource_type] = getattr(module, resource_type)
    return _model_cache[resource_type]


# The elements the adapter reads, per resource type (with their `_element` primitive extensions). The
# record check validates these: an error in an element nothing here reads (narrative, telecom, an extension
# we ignore) does not make a value unusable, and validating a whole Synthea Patient costs ~1.7 ms against
# ~0.5 ms for the elements read (see docs/features.md).
_READ_ELEMENTS: dict[str, frozenset[str]] = {
    "Patient": frozenset({"id", "gender", "birthDate"}),
    "Observation": frozenset({"id", "status", "code", "subject", "effectiveDateTime", "effectiveInstant",
                              "effectivePeriod", "effectiveTiming", "issued", "valueQuantity", "valueCodeableConcept",
                              "valueString", "dataAbsentReason", "component"}),
    "Condition": frozenset({"id", "subject", "code", "clinicalStatus", "verificationStatus", "onsetDateTime",
                            "onsetAge", "onsetPeriod", "onsetRange", "onsetString", "abatementDateTime",
                            "abatementAge", "abatementPeriod", "abatementRange", "abatementString", "recordedDate"}),
    "MedicationRequest": frozenset({"id", "status", "intent", "doNotPerform", "subject", "medicationCodeableConcept",
                                    "medicationReference", "authoredOn", "contained"}),
    "MedicationStatement": frozenset({"id", "status", "subject", "medicationCodeableConcept", "medicationReference",
                                      "effectiveDateTime", "effectivePeriod", "dateAsserted", "contained"}),
    "Procedure": frozenset({"id", "status", "subject", "code", "performedDateTime", "performedPeriod",
                            "performedString", "performedAge", "performedRange"}),
    "FamilyMemberHistory": frozenset({"id", "status", "patient", "relationship", "condition", "date"}),
    "Goal": frozenset({"id", "lifecycleStatus", "subject", "description", "target", "startDate", "startCodeableConcept",
                       "statusDate"}),
}


def read_elements(resource: Mapping) -> Mapping:
    """The part of ``resource`` the adapter reads (plus resourceType), for validation; unknown types unchanged."""
    if not isinstance(resource, dict):
        return resource
    keep = _READ_ELEMENTS.get(resource.get("resourceType"))  # type: ignore[arg-type]
    if keep is None:
        return resource
    out = {k: v for k, v in resource.items() if k in keep or (k[:1] == "_" and k[1:] in keep)}
    out["resourceType"] = resource.get("resourceType")
    if out["resourceType"] == "Patient":
        ext = [e for e in _list(resource.get("extension"))
               if type(e) is dict and e.get("url") in (US_CORE_RACE, US_CORE_ETHNICITY)]
        if ext:
            out["extension"] = ext
    return out


def validation_problem(resource: Mapping, ref: str | None = None) -> InputProblem | None:
    """None if the resource is a valid FHIR R4B resource of a supported type, else the problem.

    The reason lists element paths and pydantic error types only (never input values).
    """
    ref = ref or (resource_ref(resource) if isinstance(resource, Mapping) else None)
    rtype = resource.get("resourceType") if isinstance(resource, Mapping) else None
    if rtype not in _MODEL_MODULES:
        return InputProblem(ref, None, f"unsupported resource type for validation: {rtype!r}")
    try:
        _model(rtype).model_validate(resource)
        return None
    except Exception as exc:  # noqa: BLE001 - pydantic or fhir.resources errors of any kind
        return InputProblem(ref, None, f"not a valid FHIR R4 {rtype} ({_describe_error(exc)}); skipped")


def _describe_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items = errors(include_input=False, include_url=False)
        except TypeError:  # older pydantic signature
            items = errors()
        except Exception:  # noqa: BLE001
            items = []
        parts = []
        for e in items[:3]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "__root__") or "(resource)"
            parts.append(f"{loc}: {e.get('type', 'invalid')}")
        more = f"; +{len(items) - 3} more" if len(items) > 3 else ""
        if parts:
            return "; ".join(parts) + more
    return type(exc).__name__


def warm_up() -> None:
    """Build the pydantic validators once, so the first hook request does not pay for it.

    fhir.resources imports and compiles each complex type (Extension, Quantity, Period, ...) the
    first time it meets one, which costs ~100 ms on a first real record. These samples touch the
    elements typical EHR and Synthea resources carry. Call at service start.
    """
    coding = {"system": "http://loinc.org", "code": "x", "display": "x"}
    concept = {"coding": [coding], "text": "x"}
    ref = {"reference": "Patient/warm", "display": "x"}
    meta = {"versionId": "1", "lastUpdated": "2020-01-01T00:00:00Z", "tag": [coding], "profile": ["http://x"]}
    text = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
    quantity = {"value": 1, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}
    period = {"start": "2020-01-01", "end": "2020-02-01"}
    ident = {"system": "http://x", "value": "x", "type": concept}
    samples = [
        {"resourceType": "Patient", "id": "warm", "meta": meta, "text": text, "identifier": [ident],
         "extension": [{"url": "http://x", "extension": [{"url": "ombCategory", "valueCoding": coding},
                                                         {"url": "text", "valueString": "x"}]},
                       {"url": "http://y", "valueCode": "F"}, {"url": "http://z", "valueDecimal": 1.5},
                       {"url": "http://w", "valueAddress": {"city": "x", "country": "US"}}],
         "name": [{"use": "official", "family": "x", "given": ["x"], "prefix": ["x"]}],
         "telecom": [{"system": "phone", "value": "x", "use": "home"}], "gender": "female",
         "birthDate": "1970-01-01", "deceasedBoolean": False, "maritalStatus": concept,
         "multipleBirthBoolean": False,
         "address": [{"line": ["x"], "city": "x", "state": "x", "postalCode": "x", "country": "US",
                      "extension": [{"url": "http://g", "extension": [{"url": "latitude", "valueDecimal": 1.0}]}]}],
         "communication": [{"language": concept}]},
        {"resourceType": "Observation", "id": "warm", "meta": meta, "status": "final", "category": [concept],
         "code": concept, "subject": ref, "encounter": ref, "effectiveDateTime": "2020-01-01T00:00:00+00:00",
         "issued": "2020-01-01T00:00:00.000+00:00", "performer": [ref], "valueQuantity": quantity,
         "interpretation": [concept], "note": [{"text": "x"}], "referenceRange": [{"low": quantity, "high": quantity}],
         "component": [{"code": concept, "valueQuantity": quantity},
                       {"code": concept, "dataAbsentReason": concept}]},
        {"resourceType": "Observation", "id": "warm2", "status": "final", "code": concept,
         "effectivePeriod": period, "valueCodeableConcept": concept},
        {"resourceType": "Condition", "id": "warm", "meta": meta, "clinicalStatus": concept,
         "verificationStatus": concept, "category": [concept], "code": concept, "subject": ref, "encounter": ref,
         "onsetDateTime": "2020-01-01", "abatementDateTime": "2020-02-01", "recordedDate": "2020-01-01",
         "recorder": ref, "note": [{"text": "x"}]},
        {"resourceType": "MedicationRequest", "id": "warm", "meta": meta, "status": "active", "intent": "order",
         "medicationCodeableConcept": concept, "subject": ref, "encounter": ref,
         "authoredOn": "2020-01-01T00:00:00+00:00", "requester": ref, "reasonReference": [ref],
         "dosageInstruction": [{"sequence": 1, "text": "x", "asNeededBoolean": False,
                                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                "doseAndRate": [{"type": concept, "doseQuantity": quantity}]}],
         "dispenseRequest": {"validityPeriod": period, "numberOfRepeatsAllowed": 1, "quantity": quantity}},
        {"resourceType": "MedicationStatement", "id": "warm", "status": "active", "subject": ref,
         "medicationReference": ref, "effectivePeriod": period, "dateAsserted": "2020-01-01",
         "dosage": [{"text": "x"}]},
        {"resourceType": "Procedure", "id": "warm", "status": "completed", "code": concept, "subject": ref,
         "performedDateTime": "2020-01-01T00:00:00+00:00"},
        {"resourceType": "Procedure", "id": "warm2", "status": "completed", "code": concept, "subject": ref,
         "performedPeriod": period},
        {"resourceType": "FamilyMemberHistory", "id": "warm", "status": "completed", "patient": ref,
         "relationship": concept, "date": "2020-01-01", "condition": [{"code": concept}]},
        {"resourceType": "Goal", "id": "warm", "lifecycleStatus": "active", "description": concept, "subject": ref,
         "startDate": "2020-01-01", "target": [{"measure": concept, "detailRange": {"low": quantity, "high": quantity}},
                                               {"measure": concept, "detailQuantity": quantity}]},
        {"resourceType": "Observation", "id": "warm3", "status": "final", "code": concept, "subject": ref,
         "effectiveDateTime": "2020-01-01", "valueString": "x"},
    ]
    for sample in samples:
        validation_problem(sample)


# -- walking the input ---------------------------------------------------------------------------
def iter_entries(data: object, problems: list[InputProblem] | None = None,
                 _depth: int = 0) -> Iterator[tuple[Mapping, str | None]]:
    """Yield (resource, fullUrl) from a resource, a Bundle, or any iterable of those.

    Unusable items (not a JSON object, no resourceType) are reported into ``problems``.
    """
    if isinstance(data, dict):
        rtype = data.get("resourceType")
        if rtype == "Bundle":
            if _depth >= _MAX_BUNDLE_DEPTH:
                if problems is not None:
                    problems.append(InputProblem(resource_ref(data), None, "Bundle nested too deeply; skipped"))
                return
            for entry in _list(data.get("entry")):
                entry = _dict(entry)
                res = entry.get("resource")
                if res is None:
                    continue  # e.g. a search-set entry with only an OperationOutcome link
                full_url = _str(entry.get("fullUrl"))
                if isinstance(res, dict) and res.get("resourceType") == "Bundle":
                    yield from iter_entries(res, problems, _depth + 1)
                elif isinstance(res, dict) and isinstance(res.get("resourceType"), str):
                    yield res, full_url
                elif problems is not None:
                    problems.append(InputProblem(full_url, None, "Bundle entry without a usable resource; skipped"))
            return
        if isinstance(rtype, str):
            yield data, None
            return
        if problems is not None:
            problems.append(InputProblem(None, None, "input item without a resourceType; skipped"))
        return
    if isinstance(data, (str, bytes)) or data is None:
        if problems is not None and data is not None:
            problems.append(InputProblem(None, None, "input item is not a JSON object; skipped"))
        return
    try:
        iterator = iter(data)  # type: ignore[call-overload]
    except TypeError:
        if problems is not None:
            problems.append(InputProblem(None, None, "input item is not a JSON object; skipped"))
        return
    for item in iterator:
        yield from iter_entries(item, problems, _depth)


def _features_of(concepts: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for c in concepts:
        for f in CONCEPT_FEATURES.get(c, ()):
            if f not in out:
                out.append(f)
    return tuple(out)


def _observation_concepts_cheap(resource: Mapping) -> tuple[str, ...]:
    found = codes.concepts_of_codings(_list(_dict(resource.get("code")).get("coding")))
    return tuple(c for c in found if c in _OBSERVATION_CONCEPTS)


def parse_resources(data: object, *, patient_id: str | None = None, validate: str = "lazy") -> ParsedRecord:
    """Read the candidate records of one patient from ``data`` (resource, Bundle or iterable).

    ``patient_id``: the id the request is about (CDS Hooks ``context.patientId``); when given,
    or when the input holds a Patient, resources whose subject is another patient are skipped.
    ``validate``: "lazy" (validate on :meth:`ParsedRecord.check`), "eager" (validate every
    candidate now and drop the invalid ones) or "none".
    """
    parsed = ParsedRecord()
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

    allowed_refs = _choose_patient(parsed, patients, patient_id, validate)
    seen: set[str] = set()
    for res, full_url in entries:
        try:
            record = _parse_candidate(res, full_url, medications)
        except Exception as exc:  # noqa: BLE001 - malformed shapes the readers did not foresee
            problems.append(InputProblem(resource_ref(res, full_url), None,
                                         f"resource could not be read ({type(exc).__name__}); skipped"))
            continue
        if record is None or record.ref in seen:
            continue  # not a candidate, or the same resource twice (e.g. in two prefetch bundles)
        seen.add(record.ref)
        concepts = (record.matched_concepts() if isinstance(record, MedicationRecord)
                    else _record_concepts(record))
        features = _features_of(concepts)
        # Conditions are read even when no concept of ours matches, for the problem-list codes; only the
        # ones we use become candidates (validated, attributed to features).
        candidate = not isinstance(record, ConditionRecord) or any(c in _CONDITION_CONCEPTS for c in concepts)
        if allowed_refs is not None:
            reason = _subject_problem(record.subject, allowed_refs)
            if reason:
                if candidate:
                    for f in features or (None,):
                        problems.append(InputProblem(record.ref, f, reason))
                continue
        if validate == "eager" and candidate:
            problem = parsed.check(record)
            if problem is not None:
                for f in features or (None,):
                    problems.append(InputProblem(problem.source, f, problem.reason))
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


def _parse_candidate(res: Mapping, full_url: str | None,
                     medications: Mapping[str, Mapping]) -> Record | None:
    rtype = res.get("resourceType")
    if rtype == "Observation":
        if not _observation_concepts_cheap(res):
            return None
        return parse_observation(res, full_url)
    if rtype == "Condition":
        return parse_condition(res, full_url)  # every Condition: see ParsedRecord.condition_codes
    if rtype in ("MedicationRequest", "MedicationStatement"):
        record = parse_medication(res, full_url, medications)
        return record if record.matched_concepts() else None
    if rtype == "Procedure":
        proc = parse_procedure(res, full_url)
        return proc if proc.concepts else None
    if rtype == "FamilyMemberHistory":
        fmh = parse_family_history(res, full_url)
        return fmh if fmh.concepts else None
    if rtype == "Goal":
        goal = parse_goal(res, full_url)
        return goal if goal.concepts else None
    return None


def _choose_patient(parsed: ParsedRecord, patients: list[tuple[Mapping, str | None]],
                    patient_id: str | None, validate: str) -> set[str] | None:
    """Pick the Patient; return the subject references that mean "this patient" (None: no filter)."""
    chosen: PatientRecord | None = None
    for res, full_url in patients:
        try:
            record = parse_patient(res, full_url)
        except Exception as exc:  # noqa: BLE001
            parsed.problems.append(InputProblem(resource_ref(res, full_url), None,
                                                f"Patient could not be read ({type(exc).__name__}); skipped"))
            continue
        if patient_id is not None and record.id != patient_id:
            parsed.problems.append(InputProblem(record.ref, None,
                                                "Patient resource is not the patient of the request; skipped"))
            continue
        if chosen is None:
            chosen = record
        elif record.ref != chosen.ref:
            parsed.problems.append(InputProblem(record.ref, None,
                                                "more than one Patient in the input; only the first is used"))
    pid = patient_id or (chosen.id if chosen else None)
    if chosen is not None and validate != "none":
        problem = parsed.check(chosen)
        if problem is not None:
            parsed.problems.append(problem)
            chosen = None  # demographics from an invalid Patient are not used; its id still filters
    parsed.patient = chosen
    if pid is None and (chosen is None or not chosen.full_url):
        return None
    refs: set[str] = set()
    if pid is not None:
        refs.update({f"Patient/{pid}", f"urn:uuid:{pid}"})
    for res, full_url in patients:
        if full_url and (pid is None or _str(res.get("id")) == pid):
            refs.add(full_url)
    return refs


def _subject_problem(subject: str | None, allowed: set[str]) -> str | None:
    if subject is None:
        return "no subject reference, so it cannot be confirmed to be this patient's; skipped"
    if subject in allowed or _normalise_patient_ref(subject) in allowed:
        return None
    return "belongs to a different patient than the request; skipped"
