"""Shared machinery of the diagnosis detectors ("possible undiagnosed condition").

Every detector follows the same steps, so they are written once here:

1. **Already on the problem list?** The problem-list boolean feature (``diabetes``, ``hypertension``, ...) and the
   active problem-list codes (``FeatureSet.condition_codes``) are checked against the value sets that
   ``engine/data/diagnosis_codes.json`` names for the condition, with the one terminology matcher
   (``fhir_adapter.terminology``). Either one suppresses the detector: it then returns no finding at all.
2. **Usable results only.** ``readings`` takes a feature's history and drops, each with an ``InputProblem`` naming
   the reason, values that are not numbers, carry a unit other than the feature's canonical one (a mislabelled unit),
   are physiologically implausible for that unit (a unit mix-up that kept the canonical label), are undated,
   future-dated, or older than the detector's look-back window (stale).
3. **Criteria → evidence.** A firing finding lists as ``inputs`` the Evidence of exactly the results that meet a
   criterion, and one explanation ``Term`` per criterion naming those results.
4. **Suggestions.** Typed proposals (engine/proposals.py): ``AddProblem`` - a provisional problem-list entry coded in
   SNOMED CT + ICD-10-CM citing the observations - and/or ``OrderTest`` for the confirmatory test; cards/fhir.py
   writes them as a FHIR R4 Condition and a draft ServiceRequest.

Findings carry ``condition`` (a ``ConditionRef``: id, name, related ids, codings) so that the cards layer can merge two
findings about the same condition from different engines into one card.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Iterable, Sequence

from engine import feature_catalog
from engine.base import Engine
from engine.finding import Details, Evidence, Finding, InputProblem, Kind, MissingInput, Severity, Status, Term
from engine.quick_init import quick_init
from engine.proposals import AddProblem, Coding, ConditionRef, OrderTest, Suggestion, suggest
from engine.inputs import FeatureSet, feature_label, feature_unit
from fhir_adapter.terminology import concepts_of_coding

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"

# Short names used in card summaries ("HbA1c 7.1 %, FPG 131 mg/dL"); the detail table uses the full labels.
SHORT_LABELS: dict[str, str] = feature_catalog.short_labels()

# Physiological plausibility limits in the canonical unit, inclusive: the adapter's own bounds (one range per feature,
# declared in engine/feature_catalog.py), checked again here on the values a detector is given. They are chosen so
# that the common unit mix-ups fall outside them: HbA1c in mmol/mol (IFCC, e.g. 48) labelled "%", glucose in mmol/L
# (e.g. 7.0) labelled mg/dL, haemoglobin in g/L (e.g. 130) labelled g/dL, height in metres labelled cm, LDL-C in
# mmol/L labelled mg/dL.
PLAUSIBLE: dict[str, tuple[float, float]] = feature_catalog.plausible_ranges()


# -- code sets ---------------------------------------------------------------------------------------------------------
@cache
def code_data() -> dict[str, Any]:
    """engine/data/diagnosis_codes.json (read-only package data, read once per process)."""
    path = resources.files("engine") / "data" / "diagnosis_codes.json"
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ConditionConcept:
    id: str
    name: str
    snomed: dict
    icd10cm: dict
    variants: dict[str, tuple[dict, dict]]
    documented_by_value_sets: tuple[str, ...]
    related_ids: tuple[str, ...]

    def codings(self, variant: str | None = None) -> list[dict]:
        """SNOMED CT first, then ICD-10-CM: the stage/class-specific codes when a variant is given."""
        snomed, icd = self.variants.get(variant, (self.snomed, self.icd10cm)) if variant else (self.snomed, self.icd10cm)
        return [{"system": SNOMED, "code": snomed["code"], "display": snomed["display"]},
                {"system": ICD10CM, "code": icd["code"], "display": icd["display"]}]

    def documented_by(self, codes: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
        """The first (system, code) pair of the problem list that stands for this condition, or None.

        Matched with the project's one terminology (``fhir_adapter.terminology``): a pair documents the condition
        when it belongs to one of the condition's value sets (enumerated codes, included eCQM expansions, ICD-10
        categories by prefix)."""
        wanted = set(self.documented_by_value_sets)
        for pair in sorted(codes or (), key=lambda p: tuple(map(str, p)) if isinstance(p, tuple) else ()):
            try:
                system, code = pair
            except (TypeError, ValueError):
                continue
            if not isinstance(system, str) or not isinstance(code, str) or not code.strip():
                continue
            if not wanted.isdisjoint(concepts_of_coding(system, code)):
                return system, code
        return None

    def ref(self, variant: str | None = None) -> ConditionRef:
        """What a finding about this condition (in this stage/class) says it is about."""
        return ConditionRef(id=self.id, name=self.name, related_ids=self.related_ids,
                            codings=tuple(Coding(c["system"], c["code"], c["display"]) for c in self.codings(variant)))


@cache
def concept(concept_id: str) -> ConditionConcept:
    spec = code_data()["conditions"][concept_id]
    variants = {k: (v["snomed"], v["icd10cm"]) for k, v in spec.get("variants", {}).items()}
    return ConditionConcept(
        id=concept_id,
        name=spec["name"],
        snomed=spec["suggest"]["snomed"],
        icd10cm=spec["suggest"]["icd10cm"],
        variants=variants,
        documented_by_value_sets=tuple(spec["documented_by_value_sets"]),
        related_ids=tuple(spec.get("related_ids", ())),
    )


def already_documented(features: FeatureSet, condition: ConditionConcept, flag: str | None) -> str | None:
    """Why the condition counts as already on the active problem list, or None when it does not."""
    if flag:
        ev = features.get(flag)
        if ev is not None and ev.value is True:
            return f"{ev.label} is on the problem list ({ev.source or 'recorded'})"
    match = condition.documented_by(features.condition_codes)
    if match:
        return f"{condition.name} is on the problem list ({match[0]}|{match[1]})"
    return None


# -- usable results ----------------------------------------------------------------------------------------------------
@quick_init  # one per usable result of every detector: see engine/quick_init.py
@dataclass(frozen=True)
class Reading:
    """One usable result: its Evidence, the numeric value and the day it was taken."""

    evidence: Evidence
    value: float
    day: date

    @property
    def name(self) -> str:
        return self.evidence.name

    def short(self) -> str:
        """'HbA1c 7.1 %' for card summaries."""
        return f"{SHORT_LABELS.get(self.name, self.evidence.label)} {fmt(self.value, self.name)} {unit_of(self.name)}".strip()

    def describe(self) -> str:
        """'HbA1c 7.1 % on 2026-03-01 (Observation/a1)' for explanations."""
        where = f" ({self.evidence.source})" if self.evidence.source else ""
        return f"{self.short()} on {self.day.isoformat()}{where}"


def unit_of(name: str) -> str:
    return feature_unit(name) or ""


def fmt(value: float, name: str | None = None) -> str:
    """A result as cards show it: at the display precision of feature ``name`` (mmHg and LDL-C whole, HbA1c one
    decimal); without a feature, at most one decimal and no trailing zero: 7.1, 131, 59.9."""
    spec = feature_catalog.feature_spec(name) if name is not None else None
    if spec is not None and spec.display_decimals is not None:
        return feature_catalog.display_value(name, value)
    rounded = round(float(value), 1)
    return f"{rounded:.0f}" if rounded.is_integer() else f"{rounded:.1f}"


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def _unit_key(unit: str) -> str:
    # "mL/min/{1.73_m2}", "mL/min/1.73 m2" and "mL/min/1.73m2" are one unit; so are "mm[Hg]" and "mmHg".
    return "".join(ch for ch in unit.lower() if ch not in " {}[]_")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def readings(features: FeatureSet, name: str, *, window_days: int) -> tuple[list[Reading], list[InputProblem]]:
    """Usable results of a feature, newest first, and the problems of those that were dropped (see module doc)."""
    usable: list[Reading] = []
    problems: list[InputProblem] = []
    expected_unit = feature_unit(name)
    low, high = PLAUSIBLE.get(name, (-math.inf, math.inf))
    cutoff = features.as_of - timedelta(days=window_days)
    label = feature_label(name)
    for ev in features.series(name):
        if not isinstance(ev, Evidence):
            continue
        src = ev.source
        if not is_number(ev.value):
            problems.append(InputProblem(src, name, f"{label} is not a number; not used"))
            continue
        # The same text is the same unit; only a different spelling is compared by its key.
        if expected_unit and ev.unit and ev.unit != expected_unit \
                and _unit_key(str(ev.unit)) != _unit_key(expected_unit):
            problems.append(InputProblem(src, name, f"{label} {ev.value:g} is labelled '{ev.unit}', not "
                                                    f"'{expected_unit}' (possibly a mislabelled unit); not used"))
            continue
        if not low <= ev.value <= high:
            problems.append(InputProblem(src, name, f"{label} {ev.value:g} {expected_unit or ''} is implausible "
                                                    f"(expected {low:g}-{high:g}; a unit mix-up?); not used"))
            continue
        day = _day(ev.effective)
        if day is None:
            problems.append(InputProblem(src, name, f"{label} has no date, so its age is unknown; not used"))
            continue
        if day > features.as_of:
            problems.append(InputProblem(src, name, f"{label} is dated in the future ({day.isoformat()}); not used"))
            continue
        if day < cutoff:
            problems.append(InputProblem(src, name, f"{label} of {day.isoformat()} is older than the "
                                                    f"{window_days}-day look-back of this check; not used"))
            continue
        usable.append(Reading(ev, float(ev.value), day))
    usable.sort(key=lambda r: _sort_key(r.evidence.effective, r.day), reverse=True)
    return usable, problems


def _sort_key(effective: Any, day: date) -> tuple:
    if isinstance(effective, datetime):
        return (day, effective.time())  # the wall-clock time, without its zone (time(), not timetz())
    return (day, datetime.min.time())


def option(features: FeatureSet, key: str, default: Any) -> Any:
    """An engine option from the service configuration, falling back to the documented default."""
    value = (features.options or {}).get(key, default)
    return value if type(value) is type(default) else default


# -- demographics ------------------------------------------------------------------------------------------------------
def age_of(features: FeatureSet) -> float | None:
    value = features.value("age_years")
    return float(value) if is_number(value) and value >= 0 else None


def sex_of(features: FeatureSet) -> str | None:
    value = features.value("sex")
    return value if value in ("female", "male") else None


def pregnant(features: FeatureSet) -> bool | None:
    value = features.value("pregnant")
    return value if isinstance(value, bool) else None


# -- FHIR suggestions --------------------------------------------------------------------------------------------------
def _references(evidence: Iterable[Evidence]) -> list[str]:
    refs: list[str] = []
    for ev in evidence:
        sources = [ev.source] if ev.source else [d.source for d in ev.derived_from if d.source]
        for src in sources:
            if src and src not in refs:
                refs.append(src)
    return refs


def add_condition_action(condition: ConditionConcept, evidence: Sequence[Evidence], *, variant: str | None = None,
                         why: str) -> Suggestion:
    """'Add <condition> to the problem list (provisional)', citing the results that meet the criteria."""
    shown = condition.name + (f", {variant}" if variant else "")
    return suggest(
        f"Add '{shown}' to the problem list (provisional)",
        AddProblem(
            condition=condition.ref(variant),
            description=f"Creates a provisional Condition ({shown}) citing the results that meet the criteria: {why}",
            note=f"Suggested by precision-cds from results: {why} Confirm before use.",
            evidence=tuple(_references(evidence)),
            text=condition.name + (f" ({variant})" if variant else ""),
        ))


def order_action(order_key: str, *, label: str, reason: str, condition: ConditionConcept | None = None,
                 evidence: Sequence[Evidence] = (), reason_key: str | None = None) -> Suggestion:
    """The confirmatory test (``orders`` in diagnosis_codes.json), giving the suspected condition and the results;
    ``reason_key`` (``reasons`` in diagnosis_codes.json) codes the reason as a finding instead of the condition, for a
    recheck that does not yet suspect the disorder (one elevated blood pressure reading)."""
    order = code_data()["orders"][order_key]
    if reason_key is not None:
        coded = code_data()["reasons"][reason_key]
        reason_codings: tuple[Coding, ...] = (Coding(coded["system"], coded["code"], coded["display"]),)
    else:
        reason_codings = condition.ref().codings[:1] if condition is not None else ()
    return suggest(label, OrderTest(
        code=Coding(order["system"], order["code"], order["display"]),
        text=order["text"],
        reason=reason,
        reason_codings=reason_codings,
        reason_references=tuple(_references(evidence)),
    ))


# -- the engine base ---------------------------------------------------------------------------------------------------
class DiagnosisDetector(Engine):
    """Base of the detectors: kind DIAGNOSIS and the shared finding shapes."""

    kind = Kind.DIAGNOSIS

    def problems(self, features: FeatureSet, own: Iterable[InputProblem]) -> tuple[InputProblem, ...]:
        """The detector's own dropped results plus the adapter's problems for the features it reads, once each."""
        out: list[InputProblem] = []
        seen: set[tuple] = set()
        for p in (*own, *self.relevant_problems(features)):
            key = (p.source, p.name, p.reason)
            if key not in seen:
                seen.add(key)
                out.append(p)
        return tuple(out)

    def gap(self, features: FeatureSet, *, suffix: str, condition: ConditionConcept, title: str, value: str,
            category: str, inputs: Sequence[Evidence], explanation: Sequence[Term], message: str,
            actions: Sequence[Suggestion], problems: Iterable[InputProblem] = (),
            severity: Severity = Severity.WARNING, variant: str | None = None, assumptions: Sequence[str] = (),
            thresholds: Sequence[str] = (), method: str | None = None, details: Details | None = None) -> Finding:
        return self.finding(
            Status.COMPUTED,
            finding_id=f"{self.id}:{suffix}",
            title=title,
            value=value,
            category=category,
            severity=severity,
            inputs=unique(inputs),
            explanation=tuple(explanation),
            message=message,
            suggestions=tuple(actions),
            input_problems=self.problems(features, problems),
            assumptions=tuple(assumptions),
            thresholds=tuple(thresholds),
            method=method,
            condition=condition.ref(variant),
            details=details,
        )

    def needs(self, features: FeatureSet, *, suffix: str, names: Sequence[str], why: str, inputs: Sequence[Evidence],
              problems: Iterable[InputProblem] = ()) -> Finding:
        """Results suggest the condition but a fact needed to apply the thresholds (age, sex) is missing."""
        missing = tuple(features.missing_reason(n) if not features.has(n)
                        else MissingInput(n, feature_label(n), "recorded value is not usable") for n in names)
        return self.finding(
            Status.INSUFFICIENT_DATA,
            finding_id=f"{self.id}:{suffix}",
            inputs=unique(inputs),
            missing=missing,
            input_problems=self.problems(features, problems),
            message=why,
        )

    def outside_scope(self, features: FeatureSet, *, suffix: str, message: str, inputs: Sequence[Evidence],
                      problems: Iterable[InputProblem] = ()) -> Finding:
        """Results in the abnormal range, but the detector's thresholds do not apply (e.g. pregnancy)."""
        return self.finding(
            Status.NOT_APPLICABLE,
            finding_id=f"{self.id}:{suffix}",
            inputs=unique(inputs),
            input_problems=self.problems(features, problems),
            message=message,
        )

    def unless_adult_outside_pregnancy(self, features: FeatureSet, *, suffix: str, adult_age: float,
                                       inputs: Sequence[Evidence], problems: Sequence[InputProblem],
                                       in_pregnancy: str, age_needed: str) -> list[Finding] | None:
        """The answer when results are abnormal by adult thresholds that do not hold in pregnancy, but those cannot
        be applied: not applicable in a recorded pregnancy (``in_pregnancy`` says why), insufficient data without
        a usable age (``age_needed``), no finding under ``adult_age``. None when the adult thresholds apply."""
        if pregnant(features) is True:
            return [self.outside_scope(features, suffix=suffix, inputs=inputs, problems=problems,
                                       message=in_pregnancy)]
        age = age_of(features)
        if age is None:
            return [self.needs(features, suffix=suffix, names=["age_years"], inputs=inputs, problems=problems,
                               why=age_needed)]
        if age < adult_age:
            return []
        return None


def unique(evidence: Iterable[Evidence]) -> tuple[Evidence, ...]:
    """Evidence in order, each once (the same result can meet two criteria)."""
    out: list[Evidence] = []
    for ev in evidence:
        if not any(ev is seen or ev == seen for seen in out):
            out.append(ev)
    return tuple(out)


def criterion(label: str, results: Sequence[Reading]) -> Term:
    """One explanation line: the criterion and the results that meet it."""
    return Term(label, "; ".join(r.describe() for r in results))


def shorts(results: Sequence[Reading], limit: int = 3) -> str:
    shown = ", ".join(r.short() for r in results[:limit])
    more = len(results) - limit
    return shown + (f" and {more} more" if more > 0 else "")
