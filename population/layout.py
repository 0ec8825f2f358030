"""Where a population job keeps its files (all under --out), so that the job, the report and a resumed run agree.

    OUT/job.json                  what was asked (input, as-of, services, partitions); a resume must match it
    OUT/routed/pNNNNN/*.ndjson    each partition's resources, one file per source (removed when the job completes,
                                  unless kept)
    OUT/routed/shared/*.ndjson    resources read by reference (Medication)
    OUT/routed/done/<source>.json a source routed completely
    OUT/findings/pNNNNN.parquet   one row per patient and finding
    OUT/patients/pNNNNN.parquet   one row per patient
    OUT/done/pNNNNN.json          a partition scored completely (its counts)
    OUT/report.html               the summary report
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobLayout:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "job.json"

    @property
    def routed(self) -> Path:
        return self.root / "routed"

    @property
    def routed_done(self) -> Path:
        return self.routed / "done"

    @property
    def findings(self) -> Path:
        return self.root / "findings"

    @property
    def patients(self) -> Path:
        return self.root / "patients"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def report(self) -> Path:
        return self.root / "report.html"
