"""One reader per resource type: FHIR JSON -> record with plain dict access (cheap: no model validation)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Mapping

from fhir_adapter import codes
from fhir_adapter.parse.datatypes import coding_concepts, first_code, read_coded, read_codings, read_quantity
from fhir_adapter.parse.dates import parse_fhir_datetime
from fhir_adapter.parse.json_values import dict_or_empty, list_or_empty, nonblank_str
from fhir_adapter.parse.records import (
    AllergyRecord,
    Coding,
    Component,
    ConditionRecord,
    Dosage,
    FamilyHistoryRecord,
    GoalRecord,
    GoalTarget,
    MedicationRecord,
    ObservationRecord,
    PatientRecord,
    ProcedureRecord,
    RelativeCondition,
)
from fhir_adapter.parse.references import normalise_medication_ref, resource_ref, subject_ref
from fhir_adapter.terminology import drugs
from fhir_adapter.terminology.text_memo import MAX_TEXT

US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
_MEDICATION_CONCEPTS = frozenset(codes.MEDICATION_CONCEPTS)
# Drug classes that stand for a medication concept of the same name, except "anticoagulant", which the scores mean
# as oral anticoagulation (a heparin flush is not).
_CLASS_CONCEPTS = {c: c for c in codes.MEDICATION_CONCEPTS}
_CLASS_CONCEPTS.update({"vitamin_k_antagonist": "anticoagulant", "doac": "anticoagulant"})
_CLASS_CONCEPTS.pop("anticoagulant", None)
# Administrations per day for the HL7 v3 GTSAbbreviation timing codes (timing.code) and periodUnit in days.
_TIMING_CODES = {"QD": 1.0, "BID": 2.0, "TID": 3.0, "QID": 4.0, "AM": 1.0, "PM": 1.0, "QOD": 0.5, "Q4H": 6.0,
                 "Q6H": 4.0, "Q8H": 3.0, "WK": 1 / 7, "QHS": 1.0}
_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0}
_PROCEDURE_CONCEPTS = frozenset(codes.PROCEDURE_CONCEPTS)
_FAMILY_HISTORY_CONCEPTS = frozenset(codes.FAMILY_HISTORY_CONCEPTS)


def parse_patient(resource: Mapping, full_url: str | None = None) -> PatientRecord:
    race: list[Coding] = []
    ethnicity: list[Coding] = []
    for ext in list_or_empty(resource.get("extension")):
        ext = dict_or_empty(ext)
        url = ext.get("url")
        if url not in (US_CORE_RACE, US_CORE_ETHNICITY):
            continue
        target = race if url == US_CORE_RACE else ethnicity
        for sub in list_or_empty(ext.get("extension")):
            sub = dict_or_empty(sub)
            if sub.get("url") == "ombCategory":
                vc = dict_or_empty(sub.get("valueCoding"))
                target.append(Coding(codes.normalise_system(nonblank_str(vc.get("system"))),
                                     nonblank_str(vc.get("code")), nonblank_str(vc.get("display"))))
    rid = resource.get("id")
    deceased_at = parse_fhir_datetime(resource.get("deceasedDateTime"))
    return PatientRecord(
        ref=resource_ref(resource, full_url),
        id=rid.strip() if isinstance(rid, str) and rid.strip() else None,
        full_url=full_url,
        gender=nonblank_str(resource.get("gender")),
        birth_date=nonblank_str(resource.get("birthDate")),
        race_codes=tuple(race),
        ethnicity_codes=tuple(ethnicity),
        raw=resource,
        deceased=resource.get("deceasedBoolean") is True or deceased_at is not None,
        deceased_at=deceased_at,
    )


def observation_effective(resource: Mapping) -> date | datetime | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        d = parse_fhir_datetime(resource.get(key))
        if d is not None:
            return d
    period = dict_or_empty(resource.get("effectivePeriod"))
    d = parse_fhir_datetime(period.get("end")) or parse_fhir_datetime(period.get("start"))
    if d is not None:
        return d
    return parse_fhir_datetime(resource.get("issued"))


def parse_observation(resource: Mapping, full_url: str | None = None) -> ObservationRecord:
    return observation_record(resource, full_url, observation_effective(resource))


def observation_record(resource: Mapping, full_url: str | None,
                       effective: date | datetime | None) -> ObservationRecord:
    """:func:`parse_observation` with ``observation_effective(resource)`` already worked out (by the read plan).

    Runs once per Observation read, so the usual shape (one coding, a valueQuantity, no components, no coded or text
    value, no dataAbsentReason) is read with the helpers inlined: every absent element costs one ``get``.
    ``tests/adapter/test_parse.py`` checks it against the same reading written plainly
    (tests/adapter/reference_readers.py)."""
    get = resource.get
    obs_codes, obs_concepts = read_coded(get("code"))
    component_list = get("component")
    components = _components(component_list) if type(component_list) is list and component_list else ()
    status = get("status")
    value_concept = get("valueCodeableConcept")
    if type(value_concept) is dict:
        value_codes = read_coded(value_concept)[0]
        value_text = _value_text(resource)
    else:
        value_codes = ()
        value_string = get("valueString")
        value_text = value_string if isinstance(value_string, str) and value_string.strip() else None
    absent = get("dataAbsentReason")
    # resource_ref and subject_ref, inlined for the usual shape (an id, a subject reference).
    rid = get("id")
    rtype = get("resourceType")
    if isinstance(rid, str) and isinstance(rtype, str) and rid and rid.strip() == rid and rtype.strip():
        ref = f"{rtype}/{rid}"
    else:
        ref = resource_ref(resource, full_url)
    subject = get("subject")
    reference = subject.get("reference") if type(subject) is dict else None
    # Positional, in the order of ObservationRecord's fields: keywords cost ~0.4 us more per record, and a long
    # record has thousands.
    return ObservationRecord(
        ref,
        status if isinstance(status, str) and status.strip() else None,  # status
        obs_codes,  # codes
        obs_concepts,  # concepts
        effective,
        read_quantity(get("valueQuantity")),  # quantity
        value_codes,
        components,
        first_code(absent) if absent is not None else None,  # absent_reason
        reference if isinstance(reference, str) and reference.strip() else None,  # subject
        resource,  # raw
        value_text,
    )


def _components(component_list: list) -> tuple[Component, ...]:
    components = []
    for comp in component_list:
        comp = dict_or_empty(comp)
        comp_codes, comp_concepts = read_coded(comp.get("code"))
        components.append(Component(comp_codes, comp_concepts, read_quantity(comp.get("valueQuantity")),
                                    first_code(comp.get("dataAbsentReason")),
                                    read_codings(comp.get("valueCodeableConcept")), _value_text(comp)))
    return tuple(components)


def _value_text(element: Mapping) -> str | None:
    return (nonblank_str(element.get("valueString"))
            or nonblank_str(dict_or_empty(element.get("valueCodeableConcept")).get("text")))


def parse_condition(resource: Mapping, full_url: str | None = None) -> ConditionRecord:
    """A Condition, read with the helpers inlined for the usual shape (an id, one coding, a subject reference, an
    onsetDateTime): every Condition of the input is read. ``tests/adapter/test_parse.py`` checks it against
    ``reference_parse_condition`` (tests/adapter/reference_readers.py), the same reading written plainly."""
    get = resource.get
    cond_codes, concepts = read_coded(get("code"))
    onset = parse_fhir_datetime(get("onsetDateTime"))
    if onset is None:
        onset_period = get("onsetPeriod")
        onset = ((parse_fhir_datetime(onset_period.get("start")) if type(onset_period) is dict else None)
                 or parse_fhir_datetime(get("recordedDate")))
    abated = False
    for key in resource:
        if key.startswith("abatement") and get(key) not in (None, False):
            abated = True
            break
    clinical = get("clinicalStatus")
    verification = get("verificationStatus")
    subject = get("subject")
    reference = subject.get("reference") if type(subject) is dict else None
    # Positional, in the order of ConditionRecord's fields (keywords cost more).
    return ConditionRecord(
        _plain_ref(resource, full_url),
        cond_codes,
        concepts,
        first_code(clinical) if clinical is not None else None,  # clinical_status
        first_code(verification) if verification is not None else None,  # verification_status
        onset,
        abated,
        reference if isinstance(reference, str) and reference.strip() else None,  # subject
        resource,  # raw
    )


def _plain_ref(resource: Mapping, full_url: str | None) -> str:
    """resource_ref, with the usual shape (a resourceType and an id with no spaces around it) written out."""
    rid = resource.get("id")
    rtype = resource.get("resourceType")
    if type(rid) is str and type(rtype) is str and rid and rid.strip() == rid and rtype.strip():
        return f"{rtype}/{rid}"
    return resource_ref(resource, full_url)


def parse_medication(resource: Mapping, full_url: str | None = None,
                     medications: Mapping[str, Mapping] | None = None) -> MedicationRecord:
    """MedicationRequest or MedicationStatement; ``medications`` resolves medicationReference (contained or in the
    input). Ingredients and classes come from the drug knowledge by code, else (documented fallback) from the text.

    What the codes and text name is remembered per drug (:func:`_drug_named`), and the record is built positionally;
    ``tests/adapter/test_parse.py`` checks it against the plain reading (tests/adapter/reference_readers.py)."""
    get = resource.get
    concept_json: Mapping = dict_or_empty(get("medicationCodeableConcept"))
    unresolved = None
    reference_display = None
    if not concept_json:
        reference = dict_or_empty(get("medicationReference"))
        ref = nonblank_str(reference.get("reference"))
        med = _resolve_medication(ref, resource, medications or {})
        concept_json = dict_or_empty(med.get("code")) if med else {}
        if med is None and ref:
            unresolved = ref
            reference_display = nonblank_str(reference.get("display"))
    med_codes = read_codings(concept_json)
    # A reference the input does not resolve may still name the drug in its display ("Lisinopril 10 mg tablet").
    text = nonblank_str(concept_json.get("text")) or reference_display
    ingredients, source, classes, concepts, text_matches = _drug_named(med_codes, text)
    rtype = nonblank_str(get("resourceType")) or "MedicationRequest"
    period = dict_or_empty(get("effectivePeriod"))
    when = (parse_fhir_datetime(get("authoredOn"))
            or parse_fhir_datetime(get("effectiveDateTime"))
            or parse_fhir_datetime(period.get("start"))
            or parse_fhir_datetime(get("dateAsserted")))
    dosages = get("dosageInstruction" if rtype == "MedicationRequest" else "dosage")
    status, intent = get("status"), get("intent")
    subject = get("subject")
    reference = subject.get("reference") if type(subject) is dict else None
    # Positional, in the order of MedicationRecord's fields (keywords cost more).
    return MedicationRecord(
        _plain_ref(resource, full_url),
        rtype,  # resource_type
        status if isinstance(status, str) and status.strip() else None,
        intent if isinstance(intent, str) and intent.strip() else None,
        get("doNotPerform") is True,  # do_not_perform
        med_codes,  # codes
        text,
        concepts,
        dict(text_matches),  # text_matches: a dict of the record's own
        when,  # date
        parse_fhir_datetime(period.get("end")),  # period_end
        reference if isinstance(reference, str) and reference.strip() else None,  # subject
        resource,  # raw
        ingredients,
        classes,
        read_dosage(dosages if type(dosages) is list else []),  # dosage
        source,  # medication_source
        unresolved,  # unresolved_reference
    )


# What a medication's codes and text name (see _drug_named), by (codes, text). A record names the same few drugs
# again and again. Bounded.
_DRUGS_SEEN: dict[tuple, tuple] = {}
_DRUGS_SEEN_MAX = 4096


def _drug_named(med_codes: tuple[Coding, ...], text: str | None) -> tuple:
    """(ingredients, medication source, classes, concepts, text matches) of a medication's codes and text: a pure
    function of them and the drug knowledge, remembered (bounded). The text matches are shared: copy before use."""
    if not _short_texts(med_codes, text):
        # Long free text is not kept: the memo holds short names of drugs, as the other text memos do.
        return _work_out_drug(med_codes, text)
    key = (med_codes, text)
    found = _DRUGS_SEEN.get(key)
    if found is None:
        found = _work_out_drug(med_codes, text)
        if len(_DRUGS_SEEN) < _DRUGS_SEEN_MAX:
            _DRUGS_SEEN[key] = found
    return found


def _short_texts(med_codes: tuple[Coding, ...], text: str | None) -> bool:
    """Whether every text of a medication (its text, its codings' codes and displays) is short enough to remember."""
    if text is not None and len(text) > MAX_TEXT:
        return False
    return all(len(c.display or "") <= MAX_TEXT and len(c.code or "") <= MAX_TEXT and len(c.system or "") <= MAX_TEXT
               for c in med_codes)


def _work_out_drug(med_codes: tuple[Coding, ...], text: str | None) -> tuple:
    ingredients, source = _ingredients(med_codes, text)
    classes = tuple(sorted(drugs.classes_of(ingredients)))
    concepts = tuple(dict.fromkeys([*(c for c in coding_concepts(med_codes) if c in _MEDICATION_CONCEPTS),
                                    *(_CLASS_CONCEPTS[c] for c in classes if c in _CLASS_CONCEPTS and source == "code")]))
    text_matches: dict[str, str] = {}
    if not concepts:
        # Documented fallback: ingredient/brand names in the text or coding displays.
        blob = " ".join(filter(None, [text, *(c.display for c in med_codes)]))
        text_matches = codes.medication_concepts_by_text(blob)
        for ingredient in ingredients:
            for cls in drugs.classes_of((ingredient,)):
                if cls in _CLASS_CONCEPTS:
                    text_matches.setdefault(_CLASS_CONCEPTS[cls], ingredient.name)
    return ingredients, source, classes, concepts, text_matches


def _ingredients(med_codes: tuple[Coding, ...], text: str | None) -> tuple[tuple[drugs.Ingredient, ...], str]:
    for coding in med_codes:
        found = drugs.ingredients_of_code(coding.system, coding.code)
        if found:
            return found, "code"
    blob = " ".join(filter(None, [text, *(c.display for c in med_codes)]))
    found = drugs.ingredients_by_text(blob)
    return found, ("text" if found else "none")


def read_dosage(dosages: list) -> Dosage | None:
    """The first Dosage: text, amount per dose and administrations per day (None when there is none)."""
    if not dosages:
        return None
    d = dict_or_empty(dosages[0])
    dose = None
    for dr in list_or_empty(d.get("doseAndRate")):
        dr = dict_or_empty(dr)
        dose = read_quantity(dr.get("doseQuantity")) or read_quantity(dict_or_empty(dr.get("doseRange")).get("low"))
        if dose is not None:
            break
    timing = dict_or_empty(d.get("timing"))
    repeat = dict_or_empty(timing.get("repeat"))
    per_day = None
    frequency, period, unit = repeat.get("frequency"), repeat.get("period"), repeat.get("periodUnit")
    if (isinstance(period, (int, float)) and not isinstance(period, bool) and period > 0
            and unit in _PERIOD_DAYS):
        freq = frequency if isinstance(frequency, int) and not isinstance(frequency, bool) and frequency > 0 else 1
        per_day = freq / (period * _PERIOD_DAYS[unit])
    elif isinstance(repeat.get("timeOfDay"), list) and repeat["timeOfDay"]:
        per_day = float(len(repeat["timeOfDay"]))
    else:
        code = first_code(timing.get("code"))
        if code and code.upper() in _TIMING_CODES:
            per_day = _TIMING_CODES[code.upper()]
    return Dosage(text=nonblank_str(d.get("text")), dose=dose, per_day=per_day,
                  as_needed=d.get("asNeededBoolean") is True or bool(d.get("asNeededCodeableConcept")))


def parse_allergy(resource: Mapping, full_url: str | None = None) -> AllergyRecord:
    substance = read_codings(resource.get("code"))
    text = nonblank_str(dict_or_empty(resource.get("code")).get("text"))
    ingredients, _ = _ingredients(substance, text)
    reactions: list[str] = []
    for reaction in list_or_empty(resource.get("reaction")):
        for manifestation in list_or_empty(dict_or_empty(reaction).get("manifestation")):
            label = (nonblank_str(dict_or_empty(manifestation).get("text"))
                     or next((c.display for c in read_codings(manifestation) if c.display), None))
            if label and label not in reactions:
                reactions.append(label)
    recorded = (parse_fhir_datetime(resource.get("onsetDateTime"))
                or parse_fhir_datetime(dict_or_empty(resource.get("onsetPeriod")).get("start"))
                or parse_fhir_datetime(resource.get("recordedDate")))
    category = tuple(c for c in list_or_empty(resource.get("category")) if isinstance(c, str))
    return AllergyRecord(
        ref=resource_ref(resource, full_url),
        clinical_status=first_code(resource.get("clinicalStatus")),
        verification_status=first_code(resource.get("verificationStatus")),
        type=nonblank_str(resource.get("type")),
        category=category,
        criticality=nonblank_str(resource.get("criticality")),
        codes=substance,
        text=text,
        concepts=coding_concepts(substance),
        ingredients=ingredients,
        # A class named as a whole ("Penicillins", SNOMED CT 373270004) counts as much as an ingredient of it.
        classes=tuple(sorted(drugs.classes_of(ingredients)
                             | set(drugs.classes_named(((c.system, c.code) for c in substance), text)))),
        reactions=tuple(reactions),
        recorded=recorded,
        # AllergyIntolerance names its patient in `patient`, not `subject`.
        subject=nonblank_str(dict_or_empty(resource.get("patient")).get("reference")),
        raw=resource,
    )


def parse_procedure(resource: Mapping, full_url: str | None = None) -> ProcedureRecord:
    """A Procedure, read with the helpers inlined for the usual shape (every Procedure of the input is read);
    ``tests/adapter/test_parse.py`` checks it against the plain reading (tests/adapter/reference_readers.py)."""
    get = resource.get
    proc_codes, concepts = read_coded(get("code"))
    performed = parse_fhir_datetime(get("performedDateTime"))
    if performed is None:
        period = get("performedPeriod")
        if type(period) is dict:
            performed = parse_fhir_datetime(period.get("end")) or parse_fhir_datetime(period.get("start"))
    status = get("status")
    subject = get("subject")
    reference = subject.get("reference") if type(subject) is dict else None
    return ProcedureRecord(
        _plain_ref(resource, full_url),
        status if isinstance(status, str) and status.strip() else None,
        proc_codes,
        _procedure_concepts(concepts),
        performed,
        reference if isinstance(reference, str) and reference.strip() else None,  # subject
        resource,  # raw
    )


def _procedure_concepts(concepts: tuple[str, ...]) -> tuple[str, ...]:
    if not concepts:
        return concepts
    return tuple(c for c in concepts if c in _PROCEDURE_CONCEPTS)


def parse_family_history(resource: Mapping, full_url: str | None = None) -> FamilyHistoryRecord:
    relationship = read_codings(resource.get("relationship"))
    conditions = []
    for cond in list_or_empty(resource.get("condition")):
        cond_codes = read_codings(dict_or_empty(cond).get("code"))
        conditions.append(RelativeCondition(cond_codes, tuple(c for c in coding_concepts(cond_codes)
                                                              if c in _FAMILY_HISTORY_CONCEPTS)))
    return FamilyHistoryRecord(
        ref=resource_ref(resource, full_url),
        status=nonblank_str(resource.get("status")),
        relationship=relationship,
        relationship_concepts=tuple(c for c in coding_concepts(relationship) if c in codes.RELATIONSHIP_CONCEPTS),
        relationship_text=nonblank_str(dict_or_empty(resource.get("relationship")).get("text")),
        conditions=tuple(conditions),
        date=parse_fhir_datetime(resource.get("date")),
        # FamilyMemberHistory names its patient in `patient`, not `subject`.
        subject=nonblank_str(dict_or_empty(resource.get("patient")).get("reference")),
        raw=resource,
    )


def parse_goal(resource: Mapping, full_url: str | None = None) -> GoalRecord:
    targets = []
    for target in list_or_empty(resource.get("target")):
        target = dict_or_empty(target)
        measure = read_codings(target.get("measure"))
        detail_range = dict_or_empty(target.get("detailRange"))
        targets.append(GoalTarget(measure, coding_concepts(measure), read_quantity(detail_range.get("low")),
                                  read_quantity(detail_range.get("high")), read_quantity(target.get("detailQuantity"))))
    description = dict_or_empty(resource.get("description"))
    text = (nonblank_str(description.get("text"))
            or " ".join(filter(None, (c.display for c in read_codings(description)))) or None)
    return GoalRecord(
        ref=resource_ref(resource, full_url),
        lifecycle_status=nonblank_str(resource.get("lifecycleStatus")),
        description=text,
        targets=tuple(targets),
        start=parse_fhir_datetime(resource.get("startDate")) or parse_fhir_datetime(resource.get("statusDate")),
        subject=subject_ref(resource),
        raw=resource,
    )


def _resolve_medication(ref: str | None, resource: Mapping, medications: Mapping[str, Mapping]) -> Mapping | None:
    if not ref:
        return None
    if ref.startswith("#"):
        for contained in list_or_empty(resource.get("contained")):
            contained = dict_or_empty(contained)
            if contained.get("resourceType") == "Medication" and contained.get("id") == ref[1:]:
                return contained
        return None
    return medications.get(ref) or medications.get(normalise_medication_ref(ref))
