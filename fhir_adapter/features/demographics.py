"""Patient demographics: age, sex, and the US Core race and ethnicity OMB categories."""
from __future__ import annotations

from datetime import date

from engine.finding import Evidence
from engine.inputs import feature_label
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import age_on
from fhir_adapter.features.plausibility import PLAUSIBLE_RANGE
from fhir_adapter.parse import PatientRecord

# OMB race / ethnicity categories (CDC Race & Ethnicity code system 2.16.840.1.113883.6.238,
# as bound by the US Core race / ethnicity extensions).
OMB_WHITE = "2106-3"

OMB_BLACK = "2054-5"
OMB_HISPANIC = "2135-2"
# The five OMB race categories, by the feature value they become (race_omb_category).
OMB_RACE_CATEGORIES = {"2028-9": "asian", OMB_BLACK: "black-or-african-american", OMB_WHITE: "white",
                       "1002-5": "american-indian-or-alaska-native",
                       "2076-8": "native-hawaiian-or-other-pacific-islander"}
OMB_NOT_HISPANIC = "2186-5"
_NULL_FLAVOURS = frozenset({"ASKU", "UNK", "NASK", "NI", "NAV", "OTH", "PHC1175"})


def age(ctx: ExtractionContext, patient: PatientRecord) -> None:
    raw = patient.birth_date
    if raw is None:
        ctx.fs.mark_missing("age_years", "no birth date on the Patient resource")
        return
    note = None
    try:
        if len(raw) == 4:
            born = date(int(raw), 7, 1)
            note = "birth date has the year only; 1 July assumed"
        elif len(raw) == 7:
            born = date(int(raw[:4]), int(raw[5:7]), 15)
            note = "birth date has year and month only; the 15th assumed"
        else:
            born = date.fromisoformat(raw[:10])
    except ValueError:
        ctx.problem(patient.ref, "age_years", "birth date is not a valid FHIR date; not used")
        ctx.fs.mark_missing("age_years", "birth date is not a valid date")
        return
    if born > ctx.as_of:
        ctx.problem(patient.ref, "age_years", "birth date is after the request date; not used")
        ctx.fs.mark_missing("age_years", "birth date is after the request date")
        return
    years = age_on(born, ctx.as_of)
    low, high = PLAUSIBLE_RANGE["age_years"]
    if not low <= years <= high:
        ctx.problem(patient.ref, "age_years", f"implausible age ({years} years); not used")
        ctx.fs.mark_missing("age_years", "implausible birth date")
        return
    ctx.born = born
    ctx.fs.put(Evidence(name="age_years", label=feature_label("age_years"), value=years, unit="years",
                        effective=ctx.as_of, source=patient.ref, note=note))


def sex(ctx: ExtractionContext, patient: PatientRecord) -> None:
    gender = patient.gender
    if gender in ("female", "male"):
        ctx.fs.put(Evidence(name="sex", label=feature_label("sex"), value=gender, source=patient.ref))
    elif gender is None:
        ctx.fs.mark_missing("sex", "no administrative gender on the Patient resource")
    else:
        ctx.fs.mark_missing("sex", f"administrative gender is '{gender}'; the calculators need female or male")


def race(ctx: ExtractionContext, patient: PatientRecord) -> None:
    found = [c.code for c in patient.race_codes if c.code]
    if not found:
        ctx.fs.mark_missing("race", "no US Core race (OMB category) on the Patient resource")
        return
    real = [c for c in found if c not in _NULL_FLAVOURS]
    if not real:
        ctx.fs.mark_missing("race", "race recorded as unknown or declined")
        return
    # Any Black or African American category -> "african-american" (PCE has separate equations for
    # African-American and white/other patients); only White -> "white"; anything else -> "other".
    if OMB_BLACK in real:
        value = "african-american"
    elif all(c == OMB_WHITE for c in real):
        value = "white"
    else:
        value = "other"
    note = "US Core race OMB category " + ", ".join(real)
    if len(set(real)) > 1:
        note += " (more than one category recorded)"
    ctx.fs.put(Evidence(name="race", label=feature_label("race"), value=value, source=patient.ref, note=note))


def race_category(ctx: ExtractionContext, patient: PatientRecord) -> None:
    """The OMB race category as recorded (one value; two or more categories are 'more-than-one-category')."""
    found = [c.code for c in patient.race_codes if c.code]
    known = list(dict.fromkeys(OMB_RACE_CATEGORIES[c] for c in found if c in OMB_RACE_CATEGORIES))
    if not known:
        reason = ("no US Core race (OMB category) on the Patient resource" if not found
                  else "race recorded as unknown or declined, or not as an OMB category")
        ctx.fs.mark_missing("race_omb_category", reason)
        return
    value = known[0] if len(known) == 1 else "more-than-one-category"
    ctx.fs.put(Evidence(name="race_omb_category", label=feature_label("race_omb_category"), value=value,
                        source=patient.ref, note="US Core race OMB category " + ", ".join(found)))


def ethnicity(ctx: ExtractionContext, patient: PatientRecord) -> None:
    found = [c.code for c in patient.ethnicity_codes if c.code]
    if OMB_HISPANIC in found:
        value = "hispanic-or-latino"
    elif OMB_NOT_HISPANIC in found:
        value = "not-hispanic-or-latino"
    elif found:
        ctx.fs.mark_missing("ethnicity", "ethnicity recorded as unknown or declined")
        return
    else:
        ctx.fs.mark_missing("ethnicity", "no US Core ethnicity (OMB category) on the Patient resource")
        return
    ctx.fs.put(Evidence(name="ethnicity", label=feature_label("ethnicity"), value=value, source=patient.ref,
                        note="US Core ethnicity OMB category " + ", ".join(found)))
