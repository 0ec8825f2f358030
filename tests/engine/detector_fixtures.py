"""Hand-built FeatureSets for the diagnosis-detector tests (the adapter's history is not needed to test the rules)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count
from typing import Any

import engine.detectors  # noqa: F401 - registers the detectors
from engine.finding import Evidence, Finding, Status
from engine.inputs import FeatureSet, feature_label, feature_unit
from engine.registry import detectors
from tests.proposal_resources import resources

AS_OF = date(2026, 6, 1)
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
_ids = count(1)
_CANONICAL = object()


def days_ago(n: int) -> date:
    return AS_OF - timedelta(days=n)


def ev(name: str, value: Any, when: date | None = None, *, source: str | None = None, unit: Any = _CANONICAL) -> Evidence:
    return Evidence(name=name, label=feature_label(name), value=value,
                    unit=feature_unit(name) if unit is _CANONICAL else unit,
                    effective=when if when is not None else days_ago(10),
                    source=source or f"Observation/{name.split('_')[0]}-{next(_ids)}")


def features(*, history: dict[str, list[Evidence]] | None = None, codes: set[tuple[str, str]] | None = None,
             options: dict | None = None, **facts: Any) -> FeatureSet:
    """facts: scalar features (age_years=50, sex="male", diabetes=True, ...); history: feature -> Evidence list."""
    fs = FeatureSet(as_of=AS_OF, options=options or {})
    for name, value in facts.items():
        if value is not None:
            fs.put(Evidence(name=name, label=feature_label(name), value=value, unit=feature_unit(name),
                            effective=days_ago(30), source=f"Condition/{name}" if isinstance(value, bool) else None))
    for name, items in (history or {}).items():
        ordered = sorted(items, key=_when, reverse=True)
        fs.history[name] = ordered
        if ordered:
            fs.put(ordered[0])
    fs.condition_codes = set(codes or ())
    return fs


def with_results(*results: Evidence, **facts: Any) -> FeatureSet:
    """``features`` with every result filed in its own feature's history."""
    history: dict[str, list[Evidence]] = {}
    for result in results:
        history.setdefault(result.name, []).append(result)
    return features(history=history, **facts)


def _when(evidence: Evidence) -> datetime:
    when = evidence.effective
    if isinstance(when, datetime):
        return when.replace(tzinfo=None)
    return datetime.combine(when or date.min, datetime.min.time())


def run(detector_id: str, fs: FeatureSet) -> list[Finding]:
    return detectors.get(detector_id).evaluate(fs)


def one(detector_id: str, fs: FeatureSet) -> Finding:
    found = run(detector_id, fs)
    assert len(found) == 1, found
    return found[0]


def fired(detector_id: str, fs: FeatureSet) -> Finding | None:
    """The computed finding, None when the detector stayed silent; fails on any other status."""
    found = run(detector_id, fs)
    if not found:
        return None
    assert len(found) == 1 and found[0].status is Status.COMPUTED, found
    return found[0]


def sources(finding: Finding) -> set[str]:
    return {e.source for e in finding.inputs if e.source}


def action_resources(finding: Finding, resource_type: str) -> list[dict]:
    """The FHIR resources of the finding's proposals of one type, as cards/fhir.py builds them (validated R4)."""
    return [r for r in resources(finding) if r["resourceType"] == resource_type]
