"""FHIR R4 JSON -> small typed records, without ever raising on bad input.

Two stages, because full model validation is the expensive part of the hook:

1. :func:`parse_resources` walks the input (resources, lists, Bundles, nested Bundles), keeps
   only *candidates* - the Patient and the Observations / Conditions / MedicationRequests /
   MedicationStatements whose codes (or medication text) are in our value sets and whose subject
   is the patient - and reads them into frozen dataclasses with plain dict access (microseconds).
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
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Iterator, Mapping

from engine.finding import InputProblem
from fhir_adapter import codes

CANDIDATE_TYPES = ("Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement")

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
}

_OBSERVATION_CONCEPTS = frozenset(codes.OBSERVATION_CONCEPTS)
_CONDITION_CONCEPTS = frozenset(codes.CONDITION_CONCEPTS)
_MEDICATION_CONCEPTS = frozenset(codes.MEDICATION_CONCEPTS)
_MAX_BUNDLE_DEPTH = 4


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


Record = PatientRecord | ObservationRecord | ConditionRecord | MedicationRecord


@dataclass
class ParsedRecord:
    """The candidate records of one patient plus the problems met while reading them."""

    patient: PatientRecord | None = None
    observations: list[ObservationRecord] = field(default_factory=list)
    conditions: list[ConditionRecord] = field(default_factory=list)
    medications: list[MedicationRecord] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    _checked: dict[str, InputProblem | None] = field(default_factory=dict, repr=False)

    def check(self, record: Record, feature: str | None = None) -> InputProblem | None:
        """Validate a record's resource (cached); the problem, if any, is attributed to ``feature``."""
        if record.ref not in self._checked:
            self._checked[record.ref] = validation_problem(record.raw, record.ref)
        problem = self._checked[record.ref]
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
                                    _first_code(comp.get("dataAbsentReason"))))
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
    )


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
}
_model_cache: dict[str, Any] = {}


def _model(resource_type: str):
    if resource_type not in _model_cache:
        module = importlib.import_module(_MODEL_MODULES[resource_type])
        _model_cache[resource_type] = getattr(module, resource_type)
    return _model_cache[resource_type]


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
        features = _features_of(record.matched_concepts() if isinstance(record, MedicationRecord)
                                else _record_concepts(record))
        if allowed_refs is not None:
            reason = _subject_problem(record.subject, allowed_refs)
            if reason:
                for f in features or (None,):
                    problems.append(InputProblem(record.ref, f, reason))
                continue
        if validate == "eager":
            problem = parsed.check(record)
            if problem is not None:
                for f in features or (None,):
                    problems.append(InputProblem(problem.source, f, problem.reason))
                continue
        if isinstance(record, ObservationRecord):
            parsed.observations.append(record)
        elif isinstance(record, ConditionRecord):
            parsed.conditions.append(record)
        else:
            parsed.medications.append(record)
    return parsed


def _record_concepts(record: Record) -> tuple[str, ...]:
    if isinstance(record, ObservationRecord):
        out = list(record.concepts)
        for comp in record.components:
            out.extend(c for c in comp.concepts if c not in out)
        return tuple(out)
    return getattr(record, "concepts", ())


def _parse_candidate(res: Mapping, full_url: str | None,
                     medications: Mapping[str, Mapping]) -> Record | None:
    rtype = res.get("resourceType")
    if rtype == "Observation":
        if not _observation_concepts_cheap(res):
            return None
        return parse_observation(res, full_url)
    if rtype == "Condition":
        record = parse_condition(res, full_url)
        if not any(c in _CONDITION_CONCEPTS for c in record.concepts):
            return None
        return record
    if rtype in ("MedicationRequest", "MedicationStatement"):
        record = parse_medication(res, full_url, medications)
        return record if record.matched_concepts() else None
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
