"""What the treatment rules share: their guideline data, the regimens they propose, the evidence of the findings they
read, and what the record says about medications and exclusions.

Clinical knowledge is data (``engine/data/*.json``, each file naming its sources): the guideline, its recommendations
with their class or grade, thresholds and regimens. A rule reads the findings of the scores and detectors its service
runs (``RuleEngine.reads_findings``) and never recomputes them; what it proposes are typed proposals
(``engine.proposals``) that ``cards/fhir.py`` turns into FHIR R4 resources.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Mapping, Sequence

from engine.base import RuleEngine
from engine.calculators.common import is_finite_number, load_data
from engine.clinical_record import MedicationEntry
from engine.finding import Citation, Evidence, Finding, Recommendation, Severity, Status
from engine.inputs import FeatureSet
from engine.proposals import RXNORM, Coding, Dose, MedicationOption, OrderTest, StartMedication, Suggestion, suggest

REGIMENS_FILE = "treatment_regimens.json"


def regimens() -> dict[str, Any]:
    return load_data(REGIMENS_FILE)


@functools.lru_cache(maxsize=256)  # package data, and the option is immutable: built once per regimen
def medication_option(key: str, *, label: str | None = None) -> MedicationOption:
    """The regimen ``key`` of treatment_regimens.json as a proposal option: RxNorm SCD, dose, button label."""
    entry = regimens()["medications"][key]
    dose = entry["dose"]
    return MedicationOption(
        medication=Coding(RXNORM, entry["rxnorm"], entry["display"]),
        dose=Dose(text=dose["text"], quantity=dose.get("quantity"), unit=dose.get("unit"),
                  times_per_day=dose.get("times_per_day")),
        label=label or entry["label"],
    )


def start_medication(keys: Sequence[str], *, reason: str, reason_codings: Sequence[Coding] = (),
                     evidence: Iterable[Evidence] = (), recommended: int | None = 0,
                     description: str | None = None) -> StartMedication:
    return StartMedication(options=tuple(medication_option(k) for k in keys), reason=reason,
                           reason_codings=tuple(reason_codings), reason_references=references(evidence),
                           recommended=recommended, description=description)


def order(key: str, *, reason: str, reason_codings: Sequence[Coding] = (),
          evidence: Iterable[Evidence] = ()) -> OrderTest:
    """The order ``key`` of treatment_regimens.json (a referral or counselling, SNOMED CT) as a draft ServiceRequest."""
    entry = regimens()["orders"][key]
    return OrderTest(code=Coding(entry["system"], entry["code"], entry["display"]), text=entry["text"], reason=reason,
                     reason_codings=tuple(reason_codings), reason_references=references(evidence))


def citation_of(guideline: Mapping[str, Any]) -> Citation:
    """The Citation of a guideline block of a rule's data file (short, full, url, doi, topic)."""
    return Citation(short=guideline["short"], full=guideline["full"], url=guideline.get("url"),
                    doi=guideline.get("doi"), topic=guideline.get("topic"))


def recommendation_of(entry: Mapping[str, Any], guideline: Mapping[str, Any], *,
                      text: str | None = None, strength: str | None = None) -> Recommendation:
    """A data file's recommendation (text, strength) under its guideline (name, citation)."""
    return Recommendation(text=text or entry["text"], guideline=guideline["name"],
                          strength=strength or entry["strength"], citation=citation_of(guideline))


# -- what a rule read --------------------------------------------------------------------------------------------------
def computed_finding(findings: Iterable[Finding], engine_id: str) -> Finding | None:
    """The first computed finding of ``engine_id`` among those a rule was given, or None."""
    return next((f for f in findings if f.engine_id == engine_id and f.status is Status.COMPUTED), None)


def score_evidence(finding: Finding, name: str, label: str) -> Evidence:
    """A score a rule read, as one input of the rule's finding: its value and unit, its category as the note, and the
    score's own inputs underneath (``derived_from``), so the explainer page traces the rule back to the record."""
    note = finding.category if isinstance(finding.category, str) else None
    return Evidence(name=name, label=label, value=finding.value, unit=finding.unit, note=note,
                    derived_from=tuple(finding.inputs))


def present(features: FeatureSet, name: str) -> Evidence | None:
    """The feature's evidence when it is recorded as True (a condition, a status), else None."""
    ev = features.get(name)
    return ev if ev is not None and ev.value is True else None


def number(features: FeatureSet, name: str) -> float | None:
    value = features.value(name)
    return float(value) if is_finite_number(value) else None


def age_of(features: FeatureSet) -> float | None:
    age = number(features, "age_years")
    return age if age is not None and age >= 0 else None


def within(value: float | None, bounds: Sequence[float]) -> bool:
    """``bounds[0] <= value <= bounds[1]`` (ages in completed years: "40-75" holds 40 and 75)."""
    return value is not None and bounds[0] <= value <= bounds[1]


def references(evidence: Iterable[Evidence]) -> tuple[str, ...]:
    """The record entries behind the evidence (its own source, else those it was derived from), each once."""
    out: list[str] = []
    for ev in evidence:
        if ev is None:
            continue
        sources = [ev.source] if ev.source else [d.source for d in ev.derived_from if d.source]
        out.extend(s for s in sources if s and s not in out)
    return tuple(out)


# -- the medication list ------------------------------------------------------------------------------------------------
def active_medications(features: FeatureSet, *, classes: Iterable[str] = (),
                       ingredients: Iterable[str] = ()) -> list[MedicationEntry]:
    """Active medication entries of any of ``classes`` or containing any of ``ingredients``, newest first."""
    classes, ingredients = set(classes), {i.lower() for i in ingredients}
    return [m for m in features.medications if m.active
            and (classes & set(m.classes) or ingredients & {i.lower() for i in m.ingredients})]


def medication_evidence(entry: MedicationEntry, label: str, detail: str | None = None) -> Evidence:
    """An active medication as an input: what the record calls it, from which resource, since when."""
    value = entry.name + (f" ({detail})" if detail else "")
    return Evidence(name=label.lower().replace(" ", "_"), label=label, value=value, effective=entry.start,
                    source=entry.source, note=entry.note)


# -- exclusions ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Exclusion:
    """A recorded fact that stops a rule from suggesting its therapy, and what the card then says."""

    evidence: Evidence
    text: str


def first_exclusion(features: FeatureSet, exclusions: Sequence[Mapping[str, Any]]) -> Exclusion | None:
    """The first exclusion of a data file's list (``feature``, ``text``) that the record holds as True."""
    for entry in exclusions:
        ev = present(features, entry["feature"])
        if ev is not None:
            return Exclusion(ev, entry["text"])
    return None


def checked_exclusions(features: FeatureSet, exclusions: Sequence[Mapping[str, Any]]) -> list[Evidence]:
    """The exclusion features the record answers (True or False), as inputs: what was checked, and found absent."""
    return [ev for entry in exclusions if (ev := features.get(entry["feature"])) is not None]


# -- the finding ---------------------------------------------------------------------------------------------------------
class TreatmentRule(RuleEngine):
    """A treatment rule: its findings say what the guideline recommends for this patient (``Finding.recommendation``),
    propose it (suggestions), and name the findings they follow from so that the card of the score carries them."""

    def treatment(self, features: FeatureSet, *, finding_id: str, title: str, value: str, category: str,
                  recommendation: Recommendation, severity: Severity, inputs: Sequence[Evidence], message: str,
                  suggestions: Sequence[Suggestion] = (), follows_from: Sequence[str] = (),
                  assumptions: Sequence[str] = (), method: str | None = None, thresholds: Sequence[str] = (),
                  condition=None, details=None) -> Finding:
        return self.computed(
            features, finding_id=finding_id, title=title, value=value, category=category,
            recommendation=recommendation, severity=severity, inputs=tuple(unique(inputs)), message=message,
            suggestions=tuple(suggestions), follows_from=tuple(follows_from), assumptions=tuple(assumptions),
            method=method, thresholds=tuple(thresholds), condition=condition, details=details)

    def not_indicated(self, features: FeatureSet, *, finding_id: str, inputs: Sequence[Evidence], message: str,
                      **kwargs) -> Finding:
        """The rule applied and the guideline recommends no drug here, or the rule does not apply: on the explainer
        page, never a card (score cards already ask for missing score inputs)."""
        return self.not_applicable(features, tuple(unique(inputs)), message, finding_id=finding_id, **kwargs)



class SingleFindingRule(TreatmentRule):
    """A treatment rule that answers every evaluation with exactly one finding, ``finding_id`` (as
    ``engine.base.SingleFindingEngine`` for calculators). Subclasses implement ``_assess``."""

    finding_id: ClassVar[str]

    def evaluate(self, features: FeatureSet, findings: Sequence[Finding]) -> list[Finding]:
        return [self._assess(features, findings)]

    def _assess(self, features: FeatureSet, findings: Sequence[Finding]) -> Finding:  # pragma: no cover - interface
        raise NotImplementedError

def unique(evidence: Iterable[Evidence | None]) -> list[Evidence]:
    """The evidence without None and without repeats (the same object, else an equal one), in order."""
    items = [ev for ev in evidence if ev is not None]
    if not all(type(ev) is Evidence and type(ev.name) is str for ev in items):
        out: list[Evidence] = []
        for ev in items:
            if ev not in out:  # ``in``: the same object, else an equal one, as a loop would test
                out.append(ev)
        return out
    # Equal evidence has the same name: each one is compared with the earlier ones of its name only.
    kept = []
    by_name: dict[str, list[Evidence]] = {}
    for ev in items:
        same_name = by_name.setdefault(ev.name, [])
        if ev not in same_name:
            same_name.append(ev)
            kept.append(ev)
    return kept


def single_options(suggestions: Sequence[Suggestion]) -> list[Suggestion]:
    """The suggestions without alternatives, for a card that proposes several independent therapies: a card has one
    selectionBehavior (CDS Hooks), and "at most one" across them would forbid accepting two therapies that go
    together. Each medication keeps its recommended option; its action description names the others."""
    out = []
    for suggestion in suggestions:
        proposals = []
        for proposal in suggestion.proposals:
            if isinstance(proposal, StartMedication) and len(proposal.options) > 1:
                keep = proposal.options[proposal.recommended or 0]
                others = [o.label for o in proposal.options if o is not keep]
                proposal = StartMedication(
                    options=(keep,), reason=proposal.reason, reason_codings=proposal.reason_codings,
                    reason_references=proposal.reason_references, recommended=0,
                    description=f"{keep.label}: {proposal.reason} Alternatives: {'; '.join(others)}.")
            proposals.append(proposal)
        kept = next((p.options[0] for p in proposals if isinstance(p, StartMedication)), None)
        label = f"{suggestion.label}: {kept.label}" if kept is not None and kept.label not in suggestion.label \
            else suggestion.label
        out.append(suggest(label, *proposals, recommended=suggestion.recommended))
    return out
