"""A quick structural check that recognises resources the FHIR model is sure to accept.

FHIR model validation (fhir.resources / pydantic) of a record's read elements costs ~60-150 us, and on realistic
prefetch it was the largest single cost of a hook call. Almost every record an EHR sends has the same plain shape:
an Observation with an id, a status, a coded ``code``, a subject reference, a date-time and a quantity (likewise a
MedicationRequest with its dosage instructions, an AllergyIntolerance). This module knows that shape (per resource
type, the elements and datatypes below) and answers ``True`` only when every element present is one it knows and
every value is of a form the model accepts - never more permissive than the model, and often stricter (printable
strings only, a status from the code list, no primitive extensions, no empty objects, no leap seconds, a dosage
period with its unit). Anything else - an unknown element, an odd string, a shape it does not know - is ``False``,
and the caller runs the full model validation, which then decides (and words the problem). So a record is rejected
exactly when the model rejects it; only the time spent on plainly valid records changes.

``tests/adapter/test_valid_shapes.py`` holds the one-way promise (recognised => the model accepts) on every record of
the Synthea patients and on thousands of mutations of them.
"""
from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any, Callable, Mapping

# The regular expressions of fhir_core's primitive types (fhir_core/types.py), matched in full as it does.
_DATE = re.compile(r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|"
                   r"3[0-1]))?)?")
_DATE_TIME = re.compile(r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|"
                        r"3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|([+\-])((0[0-9]|"
                        r"1[0-3]):[0-5][0-9]|14:00)))?)?)?")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
# Stricter than the model's (a single space between words; ids at most 64 characters as FHIR says, the model
# allows 255), which only sends more records to the full validation.
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TIME_PART = re.compile(r"T[0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]{1,6})?(Z|[+\-][0-9]{2}:[0-9]{2})")
_MAX_TEXT = 10_000

Check = Callable[[Any], bool]

# Remembered answers of the costlier leaf checks (a date-time costs ~1.2 us, an instant ~2 us, a code or a decimal
# ~0.3-0.8 us; a lookup ~0.04 us). A record repeats the same few moments, codes and values across its readings (every
# vital sign of an encounter carries its timestamp). Bounded per check; values no longer than _MEMO_KEY_LEN only.
_MEMO_MAX = 8192
_MEMO_KEY_LEN = 64


def _remembered(check: Check, key_type: type) -> Check:
    """``check`` (a pure function of its value) with its answers for values of exactly ``key_type`` (str or float:
    equal values of these types get the same answer from every check here) kept in a bounded memo."""
    answers: dict[Any, bool] = {}

    def remembered(value: Any) -> bool:
        if type(value) is not key_type or (key_type is str and len(value) > _MEMO_KEY_LEN):
            return check(value)
        answer = answers.get(value)
        if answer is None:
            answer = check(value)
            if len(answers) < _MEMO_MAX:
                answers[value] = answer
        return answer

    remembered.answers = answers  # type: ignore[attr-defined]  # for the tests
    remembered.plain = check  # type: ignore[attr-defined]
    return remembered


def _string(value: Any) -> bool:
    # The model's pattern [ \r\n\t\S]+ is searched, not anchored: any non-empty string with a space or a
    # non-whitespace character passes. Printable strings (no control characters, no other whitespace, no lone
    # surrogates) of a sane length are a subset.
    return type(value) is str and 0 < len(value) <= _MAX_TEXT and value.isprintable() and not value.isspace()


def _plain_code(value: Any) -> bool:
    return type(value) is str and len(value) <= _MAX_TEXT and value.isprintable() and bool(_CODE.fullmatch(value))


_code = _remembered(_plain_code, str)


def _uri(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= _MAX_TEXT and value.isprintable() and " " not in value


def _id(value: Any) -> bool:
    return type(value) is str and bool(_ID.fullmatch(value))


def _boolean(value: Any) -> bool:
    return type(value) is bool


def _integer(value: Any) -> bool:  # FHIR integer: 32 bits
    return type(value) is int and -2**31 <= value < 2**31


def _positive_int(value: Any) -> bool:
    return type(value) is int and 0 < value < 2**31


def _plain_decimal(value: Any) -> bool:
    if type(value) is int:
        return abs(value) < 10**15
    return type(value) is float and math.isfinite(value) and bool(_DECIMAL.fullmatch(str(value)))


_decimal = _remembered(_plain_decimal, float)


def _positive_decimal(value: Any) -> bool:
    return _decimal(value) and value > 0


def _calendar_date(text: str) -> bool:
    try:
        date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
        return True
    except ValueError:
        return False


def _date(value: Any) -> bool:
    if type(value) is not str or not _DATE.fullmatch(value):
        return False
    return len(value) < 10 or _calendar_date(value)


def _plain_date_time(value: Any) -> bool:
    """A year, year-month, calendar date, or date-time with seconds (no leap second), a zone and at most six
    fractional digits - forms the model parses (partial dates are kept as text, the others must be real dates)."""
    if type(value) is not str or not _DATE_TIME.fullmatch(value):
        return False
    if len(value) < 10:
        return True
    if len(value) == 10:
        return _calendar_date(value)
    if not _TIME_PART.fullmatch(value, 10):
        return False
    try:  # fromisoformat refuses a date that does not exist, as _calendar_date does
        datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        return True
    except ValueError:
        return False


_date_time = _remembered(_plain_date_time, str)


def _instant(value: Any) -> bool:
    return type(value) is str and len(value) > 10 and _date_time(value)


def _one_of(*allowed: str) -> Check:
    codes = frozenset(allowed)
    return lambda value: type(value) is str and value in codes


def _shape(elements: Mapping[str, Check], required: tuple[str, ...] = (),
           choices: tuple[tuple[tuple[str, ...], bool], ...] = ()) -> Check:
    """The check of a complex datatype or resource: the elements it may carry with their checks, those it must
    carry, and its choice groups (value[x]: at most one present, or exactly one when required).

    A closure rather than an object with ``__call__``: a shape is called for every element of every record checked,
    and calling a function costs less than calling an instance."""
    element_checks = dict(elements)
    get_check = element_checks.get
    required_keys = frozenset(required)

    def check_datatype(value: Any) -> bool:  # the usual datatype: nothing required, no choice groups
        if type(value) is not dict or not value:
            return False
        for key, item in value.items():
            check = get_check(key)
            if check is None or not check(item):
                return False
        return True

    if not required and not choices:
        return check_datatype

    def check_shape(value: Any) -> bool:
        if type(value) is not dict or not value:
            return False
        for key, item in value.items():
            check = get_check(key)
            if check is None or not check(item):
                return False
        if required_keys and not required_keys <= value.keys():
            return False
        for group, group_required in choices:
            present = 0
            for key in group:
                if key in value:
                    present += 1
            if present > 1 or (group_required and present == 0):
                return False
        return True

    return check_shape


def _list_of(check: Check) -> Check:
    def check_list(value: Any) -> bool:
        if type(value) is not list or not 0 < len(value) <= 1000:
            return False
        for item in value:
            if not check(item):
                return False
        return True

    return check_list


_coding = _shape({"system": _uri, "version": _string, "code": _code, "display": _string, "userSelected": _boolean})
_concept = _shape({"coding": _list_of(_coding), "text": _string})
_reference = _shape({"reference": _string, "type": _uri, "display": _string})
_quantity = _shape({"value": _decimal, "comparator": _one_of("<", "<=", ">=", ">"), "unit": _string,
                    "system": _uri, "code": _code})
_period = _shape({"start": _date_time, "end": _date_time})
# SimpleQuantity: a Quantity without a comparator.
_simple_quantity = _shape({"value": _decimal, "unit": _string, "system": _uri, "code": _code})


_simple_extension = _shape({"url": _uri, "valueCoding": _coding, "valueString": _string, "valueCode": _code},
                           required=("url",), choices=((("valueCoding", "valueString", "valueCode"), True),))


# An extension carrying either one value or nested simple extensions (the US Core race and ethnicity shape).
_extension = _shape({"url": _uri, "valueCoding": _coding, "valueString": _string, "valueCode": _code,
                     "extension": _list_of(_simple_extension)},
                    required=("url",), choices=((("valueCoding", "valueString", "valueCode", "extension"), True),))

_OBSERVATION_STATUS = _one_of("registered", "preliminary", "final", "amended", "corrected", "cancelled",
                              "entered-in-error", "unknown")
_VALUES = (("valueQuantity", "valueCodeableConcept", "valueString"), False)
_component = _shape({"code": _concept, "valueQuantity": _quantity, "valueCodeableConcept": _concept,
                     "valueString": _string, "dataAbsentReason": _concept},
                    required=("code",), choices=(_VALUES,))


# The dosage instructions EHRs and Synthea write: a sequence, text, as-needed flag, a frequency per period and an
# ordered dose. A period comes with its unit (FHIR's tim-1) and is positive.
_timing_repeat = _shape({"frequency": _positive_int, "period": _positive_decimal,
                         "periodUnit": _one_of("s", "min", "h", "d", "wk", "mo", "a")},
                        required=("period", "periodUnit"))
_dosage = _shape({"sequence": _integer, "text": _string, "asNeededBoolean": _boolean,
                  "timing": _shape({"repeat": _timing_repeat, "code": _concept}),
                  "doseAndRate": _list_of(_shape({"type": _concept, "doseQuantity": _simple_quantity}))})
_reaction = _shape({"manifestation": _list_of(_concept), "severity": _one_of("mild", "moderate", "severe")},
                   required=("manifestation",))


def _resource(resource_type: str, elements: Mapping[str, Check], required: tuple[str, ...] = (),
              choices: tuple[tuple[tuple[str, ...], bool], ...] = ()) -> Check:
    return _shape({"resourceType": _one_of(resource_type), "id": _id, **elements},
                  required=("resourceType", *required), choices=choices)


_SHAPES: dict[str, Check] = {
    "Observation": _resource(
        "Observation",
        {"status": _OBSERVATION_STATUS, "code": _concept, "subject": _reference, "effectiveDateTime": _date_time,
         "effectiveInstant": _instant, "effectivePeriod": _period, "issued": _instant, "valueQuantity": _quantity,
         "valueCodeableConcept": _concept, "valueString": _string, "dataAbsentReason": _concept,
         "component": _list_of(_component)},
        required=("status", "code"),
        choices=((("effectiveDateTime", "effectiveInstant", "effectivePeriod"), False), _VALUES)),
    "Patient": _resource(
        "Patient",
        {"gender": _one_of("male", "female", "other", "unknown"), "birthDate": _date,
         "extension": _list_of(_extension)}),
    "Condition": _resource(
        "Condition",
        {"subject": _reference, "code": _concept, "clinicalStatus": _concept, "verificationStatus": _concept,
         "onsetDateTime": _date_time, "onsetPeriod": _period, "onsetString": _string,
         "abatementDateTime": _date_time, "abatementPeriod": _period, "abatementString": _string,
         "recordedDate": _date_time},
        required=("subject",),
        choices=((("onsetDateTime", "onsetPeriod", "onsetString"), False),
                 (("abatementDateTime", "abatementPeriod", "abatementString"), False))),
    "MedicationRequest": _resource(
        "MedicationRequest",
        {"status": _one_of("active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft",
                           "unknown"),
         "intent": _one_of("proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
                           "instance-order", "option"),
         "doNotPerform": _boolean, "subject": _reference, "medicationCodeableConcept": _concept,
         "medicationReference": _reference, "authoredOn": _date_time, "dosageInstruction": _list_of(_dosage)},
        required=("status", "intent", "subject"),
        choices=((("medicationCodeableConcept", "medicationReference"), True),)),
    "Procedure": _resource(
        "Procedure",
        {"status": _one_of("preparation", "in-progress", "not-done", "on-hold", "stopped", "completed",
                           "entered-in-error", "unknown"),
         "subject": _reference, "code": _concept, "performedDateTime": _date_time, "performedPeriod": _period,
         "performedString": _string},
        required=("status", "subject"),
        choices=((("performedDateTime", "performedPeriod", "performedString"), False),)),
    "AllergyIntolerance": _resource(
        "AllergyIntolerance",
        {"patient": _reference, "code": _concept, "clinicalStatus": _concept, "verificationStatus": _concept,
         "type": _one_of("allergy", "intolerance"),
         "category": _list_of(_one_of("food", "medication", "environment", "biologic")),
         "criticality": _one_of("low", "high", "unable-to-assess"), "reaction": _list_of(_reaction),
         "onsetDateTime": _date_time, "onsetPeriod": _period, "recordedDate": _date_time},
        required=("patient",),
        choices=((("onsetDateTime", "onsetPeriod"), False),)),
}


def plainly_valid(resource: Any) -> bool:
    """True only when ``resource`` has a shape known here, in which case the FHIR R4B model accepts it. False
    says nothing: run the model."""
    if type(resource) is not dict:
        return False
    resource_type = resource.get("resourceType")
    shape = _SHAPES.get(resource_type) if type(resource_type) is str else None
    return shape is not None and shape(resource)
