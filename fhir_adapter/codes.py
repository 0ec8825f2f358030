"""Code lookups: which clinical concept a FHIR coding (or medication text) stands for.

The code lists themselves live in ``data/valuesets.json`` (data, with source and version per
set) so that a terminologist can review them without reading Python. This module only indexes
them for fast lookup: exact (system, code) pairs, ICD-10 / ATC prefixes, and ingredient names
for the medication text fallback.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable, Mapping

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
OMB_RACE_ETHNICITY = "urn:oid:2.16.840.1.113883.6.238"

# Code systems whose codes are matched by prefix with dots ignored (ICD-10 "I70.21" ~ "I7021").
_PREFIX_SYSTEMS = frozenset({ICD10CM, ICD10, ATC})

# Concept groups, so callers can ask "which condition concepts exist" without string literals.
# An Observation is read only if its top-level code is in OBSERVATION_CONCEPTS.
OBSERVATION_CONCEPTS = (
    "chol_total", "hdl", "ldl", "sbp", "dbp", "bp_panel", "smoking_status",
    "hba1c", "creatinine", "egfr", "bmi", "body_height", "body_weight",
    "waist_circumference", "cystatin_c", "uacr", "glucose_fasting", "glucose_ogtt_2h", "glucose_random",
    "hemoglobin", "platelets", "ast", "alt", "bilirubin_total", "inr",
    "respiratory_rate", "heart_rate", "body_temperature", "spo2", "o2_flow", "fio2", "o2_device",
    "vital_signs_panel", "consciousness", "gcs_total", "news2_spo2_scale2", "pregnancy_status",
    "pa_minutes_per_week", "pa_days_per_week", "pa_minutes_per_day",
)
SMOKING_ANSWER_CONCEPTS = ("smoker_current", "smoker_former", "smoker_never", "smoker_unknown")
# Answer codes (Observation.valueCodeableConcept), never matched as Observation codes.
AVPU_ANSWER_CONCEPTS = ("avpu_alert", "avpu_confusion", "avpu_voice", "avpu_pain", "avpu_unresponsive")
PREGNANCY_ANSWER_CONCEPTS = ("answer_pregnant", "answer_not_pregnant")
CONDITION_CONCEPTS = (
    "diabetes", "hypertension", "ascvd",
    "atrial_fibrillation", "heart_failure", "stroke_tia_thromboembolism", "vascular_disease",
    "chronic_kidney_disease", "dialysis_or_transplant", "liver_disease", "bleeding_history", "alcohol_excess",
    "obesity", "familial_hypercholesterolemia", "anemia", "prediabetes", "pregnancy", "gestational_diabetes",
    "hypercapnic_respiratory_failure", "family_history_diabetes_finding", "no_family_history_diabetes_finding",
)
MEDICATION_CONCEPTS = ("antihypertensive", "statin", "antiplatelet", "nsaid", "anticoagulant")
PROCEDURE_CONCEPTS = ("dialysis_procedure", "kidney_transplant_procedure")
# Conditions of relatives (FamilyMemberHistory.condition.code) that are read.
FAMILY_HISTORY_CONCEPTS = ("diabetes",)
RELATIONSHIP_CONCEPTS = ("family_first_degree", "family_second_degree")


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str | None = None
    unit: str | None = None  # expected unit for LOINC quantities (documentation only)
    ingredient: str | None = None  # for RxNorm drug codes


@dataclass(frozen=True)
class Prefix:
    system: str
    prefix: str
    display: str | None = None


@dataclass(frozen=True)
class ValueSet:
    name: str
    title: str
    source: str
    version: str
    codes: tuple[Code, ...]
    prefixes: tuple[Prefix, ...] = ()
    text: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Index:
    value_sets: dict[str, ValueSet]
    exact: dict[tuple[str, str], tuple[str, ...]]  # (system, code) -> concepts
    prefixes: dict[str, tuple[tuple[str, str], ...]]  # system -> ((normalised prefix, concept), ...)
    aliases: dict[str, str]
    text_patterns: tuple[tuple[str, str, re.Pattern[str]], ...]  # (concept, unused, pattern)


def _normalise_prefix_code(code: str) -> str:
    return code.replace(".", "").strip().upper()


@lru_cache(maxsize=1)
def _index() -> _Index:
    raw = json.loads(resources.files("fhir_adapter").joinpath("data/valuesets.json").read_text("utf-8"))
    aliases = {k.rstrip("/"): v for k, v in raw.get("system_aliases", {}).items()}
    value_sets: dict[str, ValueSet] = {}
    exact: dict[tuple[str, str], list[str]] = {}
    prefixes: dict[str, list[tuple[str, str]]] = {}
    patterns: list[tuple[str, str, re.Pattern[str]]] = []
    for name, spec in raw["value_sets"].items():
        codes = tuple(Code(**c) for c in spec.get("codes", ()))
        pfx = tuple(Prefix(**p) for p in spec.get("prefixes", ()))
        text = tuple(t.lower() for t in spec.get("text", ()))
        value_sets[name] = ValueSet(name, spec["title"], spec["source"], spec["version"], codes, pfx, text)
        for c in codes:
            exact.setdefault((c.system, c.code), []).append(name)
        for p in pfx:
            prefixes.setdefault(p.system, []).append((_normalise_prefix_code(p.prefix), name))
        if text:
            # One alternation per concept, whole words only (so "lasix" does not fire inside another word).
            alternation = "|".join(re.escape(t) for t in sorted(text, key=len, reverse=True))
            patterns.append((name, "", re.compile(r"\b(" + alternation + r")\b", re.IGNORECASE)))
    return _Index(
        value_sets=value_sets,
        exact={k: tuple(v) for k, v in exact.items()},
        prefixes={k: tuple(v) for k, v in prefixes.items()},
        aliases=aliases,
        text_patterns=tuple(patterns),
    )


def normalise_system(system: str | None) -> str | None:
    """Canonical code-system URI (OID and https variants mapped to the FHIR URI)."""
    if not isinstance(system, str) or not system.strip():
        return None
    s = system.strip().rstrip("/")
    return _index().aliases.get(s, s)


def value_set(name: str) -> ValueSet:
    return _index().value_sets[name]


def value_set_names() -> list[str]:
    return list(_index().value_sets)


def codes_for(concept: str, system: str | None = None) -> list[str]:
    """Exact codes of a concept, optionally limited to one system (prefixes not included)."""
    vs = value_set(concept)
    return [c.code for c in vs.codes if system is None or c.system == system]


def concepts_of_coding(system: str | None, code: str | None) -> tuple[str, ...]:
    """All concepts a coding belongs to (a combination drug can be both antihypertensive and statin).

    A coding without a system is never matched: a bare "I10" or "6918" is ambiguous.
    """
    sys_uri = normalise_system(system)
    if sys_uri is None or not isinstance(code, str) or not code.strip():
        return ()
    idx = _index()
    code = code.strip()
    found = list(idx.exact.get((sys_uri, code), ()))
    if sys_uri in _PREFIX_SYSTEMS:
        norm = _normalise_prefix_code(code)
        for prefix, concept in idx.prefixes.get(sys_uri, ()):
            if norm.startswith(prefix) and concept not in found:
                found.append(concept)
    return tuple(found)


def concept_of_coding(system: str | None, code: str | None) -> str | None:
    """The first concept a coding belongs to, or None."""
    found = concepts_of_coding(system, code)
    return found[0] if found else None


def concepts_of_codings(codings: Iterable[Mapping]) -> tuple[str, ...]:
    """Union of concepts over FHIR Coding dicts (bad entries are ignored)."""
    out: list[str] = []
    for coding in codings or ():
        if not isinstance(coding, dict):
            continue
        for concept in concepts_of_coding(coding.get("system"), coding.get("code")):
            if concept not in out:
                out.append(concept)
    return tuple(out)


def medication_concepts_by_text(text: str | None) -> dict[str, str]:
    """Medication concepts whose ingredient/brand name appears as a whole word in ``text``.

    Returns concept -> matched name. This is the documented last-resort fallback for medication
    resources whose codes are missing or not in our lists (e.g. local codes with good text).
    """
    if not isinstance(text, str) or not text:
        return {}
    found: dict[str, str] = {}
    for concept, _, pattern in _index().text_patterns:
        match = pattern.search(text)
        if match:
            found[concept] = match.group(1).lower()
    return found


def ingredient_of(system: str | None, code: str | None) -> str | None:
    """Ingredient name recorded for an RxNorm code in our lists, for human-readable notes."""
    sys_uri = normalise_system(system)
    if sys_uri is None or not code:
        return None
    for concept in _index().exact.get((sys_uri, str(code).strip()), ()):
        for c in value_set(concept).codes:
            if c.system == sys_uri and c.code == code and c.ingredient:
                return c.ingredient
    return None


def _observation_codes() -> dict[str, list[str]]:
    def loinc(*concepts: str) -> list[str]:
        out: list[str] = []
        for concept in concepts:
            out.extend(codes_for(concept, LOINC))
        return out

    return {
        "chol_total_mgdl": loinc("chol_total"),
        "hdl_mgdl": loinc("hdl"),
        "ldl_mgdl": loinc("ldl"),
        "sbp_mmhg": loinc("sbp", "bp_panel"),
        "dbp_mmhg": loinc("dbp", "bp_panel"),
        "smoker_current": loinc("smoking_status"),
        "hba1c_pct": loinc("hba1c"),
        "creatinine_mgdl": loinc("creatinine"),
        # eGFR may be derived from creatinine, so a prefetch for eGFR should also ask for creatinine.
        "egfr_mlmin173m2": loinc("egfr", "creatinine"),
        # BMI may be derived from height and weight.
        "bmi_kgm2": loinc("bmi", "body_height", "body_weight"),
        "height_cm": loinc("body_height"),
        "weight_kg": loinc("body_weight"),
        "waist_cm": loinc("waist_circumference"),
        "cystatin_c_mgl": loinc("cystatin_c"),
        "uacr_mgg": loinc("uacr"),
        "glucose_fasting_mgdl": loinc("glucose_fasting"),
        "glucose_ogtt_2h_mgdl": loinc("glucose_ogtt_2h"),
        "glucose_random_mgdl": loinc("glucose_random"),
        "hemoglobin_gdl": loinc("hemoglobin"),
        "platelets_10e9l": loinc("platelets"),
        "ast_ul": loinc("ast"),
        "alt_ul": loinc("alt"),
        "bilirubin_total_mgdl": loinc("bilirubin_total"),
        "inr": loinc("inr"),
        # Vital signs may also arrive as components of the FHIR vital-signs panel 85353-1.
        "respiratory_rate_min": loinc("respiratory_rate", "vital_signs_panel"),
        "heart_rate_min": loinc("heart_rate", "vital_signs_panel"),
        "temperature_c": loinc("body_temperature", "vital_signs_panel"),
        "spo2_pct": loinc("spo2", "vital_signs_panel"),
        # Oxygen flow / FiO2 are their own Observations or components of the SpO2 Observation (US Core).
        "on_supplemental_o2": loinc("o2_flow", "fio2", "o2_device", "spo2"),
        "consciousness_avpu": loinc("consciousness"),
        "gcs_total": loinc("gcs_total"),
        "pregnant": loinc("pregnancy_status"),
        "physically_active": loinc("pa_minutes_per_week", "pa_days_per_week", "pa_minutes_per_day"),
    }


# Feature name -> LOINC codes to fetch, for building prefetch / search queries in the service layer.
OBSERVATION_CODES: dict[str, list[str]] = _observation_codes()

# Concept -> codes per system, for Condition / medication queries if a server supports code search.
CONDITION_CODES: dict[str, list[str]] = {c: codes_for(c) for c in CONDITION_CONCEPTS}
MEDICATION_CODES: dict[str, list[str]] = {c: codes_for(c, RXNORM) for c in MEDICATION_CONCEPTS}
PROCEDURE_CODES: dict[str, list[str]] = {c: codes_for(c) for c in PROCEDURE_CONCEPTS}

# Feature name -> FHIR resource types the adapter reads it from, so a service can declare every prefetch its
# engines need (Observation codes per feature are in OBSERVATION_CODES). Features not listed come from Patient.
FEATURE_RESOURCES: dict[str, tuple[str, ...]] = {
    **{name: ("Observation",) for name in OBSERVATION_CODES},
    "smoker_current": ("Observation",),
    "hypercapnic_target": ("Goal", "Observation", "Condition"),
    "pregnant": ("Condition", "Observation"),
    "family_history_diabetes": ("FamilyMemberHistory", "Condition"),
    "dialysis_or_transplant": ("Condition", "Procedure"),
    **{name: ("Condition",) for name in (
        "diabetes", "hypertension", "ascvd", "atrial_fibrillation", "heart_failure", "stroke_tia_thromboembolism",
        "vascular_disease", "chronic_kidney_disease", "liver_disease", "bleeding_history", "alcohol_excess",
        "obesity", "familial_hypercholesterolemia", "anemia", "prediabetes", "gestational_diabetes_history")},
    **{name: ("MedicationRequest", "MedicationStatement") for name in (
        "bp_treated", "statin", "antiplatelet_or_nsaid", "anticoagulant")},
}


def condition_concepts(pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Condition concepts present among (system, code) pairs, e.g. ``FeatureSet.condition_codes``.

    Lets a detector ask "is diabetes already on the problem list" with the adapter's own code lists.
    """
    found: set[str] = set()
    for system, code in pairs:
        found.update(c for c in concepts_of_coding(system, code) if c in CONDITION_CONCEPTS)
    return found


def has_condition(pairs: Iterable[tuple[str, str]], concept: str) -> bool:
    return concept in condition_concepts(pairs)

# Every LOINC code the adapter reads, for a single Observation?code=... query.
ALL_OBSERVATION_LOINC: list[str] = sorted({c for codes in OBSERVATION_CODES.values() for c in codes})
