"""Hand-built FeatureSets for the calculator tests: every value as the FHIR adapter would deliver it.

Each value carries its feature's canonical label and unit, one date and an ``Observation/<name>`` source, so a
test states only the numbers that matter. (The diagnosis detectors need result histories: ``detector_fixtures``.)
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from engine.base import Engine
from engine.finding import Evidence, Finding
from engine.inputs import FeatureSet, feature_label, feature_unit

AS_OF = date(2024, 6, 1)
MEASURED = date(2024, 5, 1)  # when every value is taken unless a test says otherwise


def ev(name: str, value: Any, effective: date | datetime | None = MEASURED, *,
       source_type: str = "Observation") -> Evidence:
    return Evidence(name=name, label=feature_label(name), value=value, unit=feature_unit(name),
                    effective=effective, source=f"{source_type}/{name}")


def features(*, now: datetime | None = None, options: dict | None = None,
             effective: date | datetime | None = MEASURED, source_type: str = "Observation",
             **values: Any) -> FeatureSet:
    """A FeatureSet on AS_OF with one Evidence per value; a value of None leaves the feature out."""
    fs = FeatureSet(as_of=AS_OF, now=now, options=options or {})
    for name, value in values.items():
        if value is not None:
            fs.put(ev(name, value, effective, source_type=source_type))
    return fs


def with_persisting_egfr(fs: FeatureSet, days_before: int = 120) -> FeatureSet:
    """The record's eGFR also ``days_before`` days before it, at the same value: an eGFR below 60 then persists > 90
    days, so CKD is established (KDIGO 2024 definition) for the kidney engines that apply only to CKD (KFRE, KDIGO
    staging). The published worked examples are of patients with CKD."""
    egfr = fs.get("egfr_mlmin173m2")
    if egfr is not None and isinstance(egfr.effective, date):
        earlier = ev("egfr_mlmin173m2", egfr.value, egfr.effective - timedelta(days=days_before))
        fs.history["egfr_mlmin173m2"] = [egfr, earlier]
    return fs


def only_finding(engine: Engine, fs: FeatureSet) -> Finding:
    """The one finding a single-finding engine returns (fails if there are more or none)."""
    findings = engine.evaluate(fs)
    assert len(findings) == 1
    return findings[0]
