"""Population figures from the findings Parquet files, one partition file at a time (memory flat in N).

Each patient's rows are all in one partition file, so per-patient counts (a gap, a missing input) are distinct
within a file and add up across files.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from population.layout import JobLayout

RISK_BIN_WIDTH = 2.0  # percentage points per histogram bin of a risk in %
COLUMNS = ["patient_id", "service", "engine_id", "finding_id", "title", "status", "kind", "severity", "value", "unit",
           "category", "missing", "condition", "suggestions"]
GAP_SEVERITIES = ("warning", "critical")
# (finding id, engine id, title, service): a variant (a PREVENT model, a lab-reported eGFR) has its own title, so it
# gets its own row and plot; a service counts its own patients
FindingKey = tuple[str, str, str, str]


def is_care_gap(row: dict) -> bool:
    """A computed finding at warning or critical severity that is a possible undiagnosed condition (a diagnosis
    finding about a condition, from the detectors) or a treatment finding that suggests something to do. Not a
    risk score, and not a measurement shown for attention (an eGFR category, a lab-reported eGFR)."""
    if row["status"] != "computed" or row["severity"] not in GAP_SEVERITIES:
        return False
    if row["kind"] == "diagnosis":
        return bool(row.get("condition"))
    if row["kind"] == "treatment":
        return bool(json.loads(row.get("suggestions") or "[]"))
    return False


@dataclass
class FindingStats:
    title: str
    service: str
    kind: str
    unit: str | None = None
    statuses: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)  # computed findings by category
    risk_bins: Counter = field(default_factory=Counter)  # bin index → count, for results in %
    count: int = 0  # computed numeric values
    total: float = 0.0
    minimum: float | None = None
    maximum: float | None = None

    def add_value(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = value if self.minimum is None else min(self.minimum, value)
        self.maximum = value if self.maximum is None else max(self.maximum, value)
        if self.unit == "%":
            self.risk_bins[int(min(max(value, 0.0), 100.0 - 1e-9) // RISK_BIN_WIDTH)] += 1


@dataclass
class PopulationSummary:
    job: dict
    totals: dict
    by_service: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # service → status → rows
    patients_by_service: Counter = field(default_factory=Counter)  # service → patients with any finding
    findings: dict[FindingKey, FindingStats] = field(default_factory=dict)
    gaps: Counter = field(default_factory=Counter)  # (title, category) → patients
    missing_inputs: Counter = field(default_factory=Counter)  # input label → patients missing it somewhere

    @property
    def living_patients(self) -> int:
        return self.totals["patients"] - self.totals["deceased"]


def summarise(out_dir: str | Path) -> PopulationSummary:
    from population.job import job_totals

    layout = JobLayout(Path(out_dir))
    if not layout.manifest.exists():
        raise FileNotFoundError(f"{out_dir}: not a population job folder (no job.json)")
    summary = PopulationSummary(job=json.loads(layout.manifest.read_text(encoding="utf-8")),
                                totals=job_totals(layout))
    for path in sorted(layout.findings.glob("*.parquet")):
        if (layout.done / f"{path.stem}.json").exists():  # only complete partitions
            table = pq.read_table(path)
            rows = table.select([c for c in COLUMNS if c in table.column_names]).to_pylist()
            _add_partition(summary, rows)
    return summary


def _add_partition(summary: PopulationSummary, rows: list[dict]) -> None:
    service_patients: dict[str, set] = defaultdict(set)
    gap_patients: dict[tuple, set] = defaultdict(set)
    missing_patients: dict[str, set] = defaultdict(set)
    for row in rows:
        service_patients[row["service"]].add(row["patient_id"])
        summary.by_service[row["service"]][row["status"]] += 1
        key = (row["finding_id"], row.get("engine_id") or "", row["title"], row["service"])
        stats = summary.findings.get(key)
        if stats is None:
            stats = summary.findings[key] = FindingStats(row["title"], row["service"], row["kind"])
        stats.statuses[row["status"]] += 1
        if row["status"] == "computed":
            if row["unit"] and stats.unit is None:
                stats.unit = row["unit"]
            if row["category"]:
                stats.categories[row["category"]] += 1
            if row["value"] is not None:
                stats.add_value(row["value"])
            if is_care_gap(row):
                gap_patients[(row["title"], row["category"] or "")].add(row["patient_id"])
        elif row["status"] == "insufficient-data":
            for missing in json.loads(row["missing"] or "[]"):
                missing_patients[missing.get("label") or missing.get("name") or "?"].add(row["patient_id"])
    for service, patients in service_patients.items():
        summary.patients_by_service[service] += len(patients)
    for key, patients in gap_patients.items():
        summary.gaps[key] += len(patients)
    for label, patients in missing_patients.items():
        summary.missing_inputs[label] += len(patients)
