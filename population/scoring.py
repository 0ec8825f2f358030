"""One Dask task: score every patient of one partition with the hooks' pipeline and write its Parquet files.

Each patient's resources go through ``cds_hooks.pipeline.evaluate_resources`` with each service's engines, the
function the hooks run after their prefetch is resolved: same scoping, same deceased rule, same engines in the same
two phases. The done-marker is written after both Parquet files are in place, so a partition with a marker is
complete and a resumed run skips it.
"""
from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from cds_hooks.pipeline import evaluate_resources, is_deceased
from population.findings_table import finding_row, findings_table, patients_table
from population.layout import JobLayout
from population.partitioning import SHARED, partition_name, patient_id_of, write_atomically
from population.services import select_services
from population.sources import ndjson_lines

MEDICATION_USERS = ("MedicationRequest", "MedicationStatement", "MedicationAdministration")


def score_partition(job_dir: str, index: int, settings: dict) -> dict:
    """Score partition ``index`` of the job in ``job_dir``; return its summary (also in its done-marker)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    layout = JobLayout(Path(job_dir))
    as_of = date.fromisoformat(settings["as_of"])
    options = settings.get("engine_options") or {}
    services = [(s.id, s.engine_objects()) for s in select_services(settings["services"])]
    by_patient, unreadable = read_partition(layout.routed / partition_name(index))
    medications = read_shared_medications(layout.routed / SHARED) if by_patient else {}

    finding_rows: list[dict] = []
    patient_rows: list[dict] = []
    without_patient = 0
    for patient_id in sorted(by_patient):
        resources = by_patient[patient_id]
        patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
        if patient is None:
            without_patient += 1  # a hook needs the Patient; resources about an unknown patient are not scored
            continue
        resources = resources + referenced_medications(resources, medications)
        count = 0
        for service_id, engines in services:
            findings = evaluate_resources(engines, resources, as_of=as_of, patient_id=patient_id, now=None,
                                          options=options)
            finding_rows.extend(finding_row(patient_id, service_id, f, as_of) for f in findings)
            count += len(findings)
        patient_rows.append({"patient_id": patient_id, "resources": len(resources),
                             "deceased": is_deceased(patient, as_of), "findings": count})

    name = partition_name(index)
    _write_parquet(findings_table(finding_rows), layout.findings / f"{name}.parquet")
    _write_parquet(patients_table(patient_rows), layout.patients / f"{name}.parquet")
    summary = {
        "partition": index,
        "patients": len(patient_rows),
        "findings": len(finding_rows),
        "deceased": sum(1 for r in patient_rows if r["deceased"]),
        "without_patient_resource": without_patient,
        "unreadable_lines": unreadable,
        "errors": sum(1 for r in finding_rows if r["status"] == "error"),
        "seconds": round(time.perf_counter() - started, 3),
        # CPU time of the task: throughput per core that holds on a machine shared with other work
        "cpu_seconds": round(time.process_time() - cpu_started, 3),
    }
    layout.done.mkdir(parents=True, exist_ok=True)
    write_atomically(layout.done / f"{name}.json", json.dumps(summary))
    return summary


def read_partition(folder: Path) -> tuple[dict[str, list[dict]], int]:
    """The partition's resources grouped by patient id (file order kept), and the count of unreadable lines."""
    by_patient: dict[str, list[dict]] = defaultdict(list)
    unreadable = 0
    for path in sorted(folder.glob("*.ndjson")) if folder.is_dir() else []:
        for _, line in ndjson_lines(path):
            try:
                resource = json.loads(line)
            except ValueError:
                unreadable += 1
                continue
            patient_id = patient_id_of(resource) if isinstance(resource, dict) else None
            if patient_id is None:
                unreadable += 1
                continue
            by_patient[patient_id].append(resource)
    return by_patient, unreadable


def read_shared_medications(folder: Path) -> dict[str, dict]:
    """Medication resources by id, from every source's shared file."""
    medications: dict[str, dict] = {}
    for path in sorted(folder.glob("*.ndjson")) if folder.is_dir() else []:
        for _, line in ndjson_lines(path):
            try:
                resource = json.loads(line)
            except ValueError:
                continue
            if isinstance(resource, dict) and resource.get("resourceType") == "Medication" and resource.get("id"):
                medications.setdefault(str(resource["id"]), resource)
    return medications


def referenced_medications(resources: list[dict], medications: dict[str, dict]) -> list[dict]:
    """The shared Medications that the patient's medication resources reference (as an EHR would include them)."""
    if not medications:
        return []
    wanted: list[dict] = []
    seen: set[str] = set()
    for resource in resources:
        if resource.get("resourceType") not in MEDICATION_USERS:
            continue
        reference = (resource.get("medicationReference") or {}).get("reference")
        if not isinstance(reference, str) or reference.startswith("#"):
            continue  # contained Medications travel inside the resource
        medication_id = reference.split("/_history/")[0].rstrip("/").split("/")[-1].removeprefix("urn:uuid:")
        if medication_id in medications and medication_id not in seen:
            seen.add(medication_id)
            wanted.append(medications[medication_id])
    return wanted


def _write_parquet(table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
