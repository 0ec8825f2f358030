"""Routing: each source streamed once, each resource appended to the partition of its patient.

The partition of a patient is a stable hash of its id (the same in every process and every run, unlike
``hash()``), so a patient's resources from every file meet in one partition file set and a partition can be scored
without reading any other. Resources that name no patient but that the engines read (Medication, referenced by
MedicationRequest.medicationReference) go to a shared file every partition reads.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from population.sources import Source, bundle_resources, first_resource_type, ndjson_lines

SHARED = "shared"
# Types that are read through a reference from a patient's resource rather than naming a patient themselves.
SHARED_RESOURCE_TYPES = frozenset({"Medication"})
# Routed text a routing task holds before appending it to the partition files (characters, ~bytes).
ROUTE_BUFFER_BYTES = 16 * 1024 * 1024


def partition_of(patient_id: str, partitions: int) -> int:
    digest = hashlib.blake2b(patient_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def partition_name(index: int) -> str:
    return f"p{index:05d}"


def patient_id_of_reference(reference: str) -> str | None:
    """The patient id a reference points at: ``Patient/x``, ``urn:uuid:x``, absolute or versioned forms; None when
    the reference is to something else (a Group, a Device)."""
    reference = reference.strip()
    if reference.startswith("urn:uuid:"):
        return reference[len("urn:uuid:"):] or None
    reference = reference.split("/_history/")[0]
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return parts[-1]
    return None


def patient_id_of(resource: dict) -> str | None:
    """The id of the patient ``resource`` is about (its own id for a Patient)."""
    if resource.get("resourceType") == "Patient":
        pid = resource.get("id")
        return pid if isinstance(pid, str) and pid else None
    for key in ("subject", "patient"):
        value = resource.get(key)
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            return patient_id_of_reference(value["reference"])
    return None


@dataclass
class RouteCounts:
    routed: int = 0  # resources written to a partition
    shared: int = 0  # resources written to the shared file
    unattributed: int = 0  # patient resources that name no patient (the pipeline would drop them too)
    skipped_types: dict[str, int] = field(default_factory=dict)  # resources of types no selected service reads
    skipped_files: dict[str, int] = field(default_factory=dict)  # whole NDJSON files of such types, not parsed
    unreadable_lines: int = 0  # NDJSON lines that are not a JSON object

    def as_dict(self) -> dict:
        return {"routed": self.routed, "shared": self.shared, "unattributed": self.unattributed,
                "skipped_types": dict(sorted(self.skipped_types.items())),
                "skipped_files": dict(sorted(self.skipped_files.items())), "unreadable_lines": self.unreadable_lines}


class PartitionWriter:
    """Routed lines buffered in memory per partition and appended to routed/<partition>/<source key>.ndjson when
    the buffers reach ``buffer_bytes``: one file open at a time, whatever the partition count (a routing task with
    one handle per partition runs out of file descriptors under ``ulimit -n 1024`` at a thousand partitions)."""

    def __init__(self, routed_dir: Path, source_key: str, partitions: int,
                 buffer_bytes: int | None = None) -> None:
        self.routed_dir, self.source_key, self.partitions = routed_dir, source_key, partitions
        self.buffer_bytes = ROUTE_BUFFER_BYTES if buffer_bytes is None else buffer_bytes
        self._buffers: dict[str, list[str]] = {}
        self._buffered = 0
        self.flushes = 0

    def write(self, folder: str, line: str) -> None:
        line = line if line.endswith("\n") else line + "\n"
        self._buffers.setdefault(folder, []).append(line)
        self._buffered += len(line)
        if self._buffered >= self.buffer_bytes:
            self.flush()

    def flush(self) -> None:
        for folder, lines in self._buffers.items():
            path = self.routed_dir / folder / f"{self.source_key}.ndjson"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:  # route_source removed any earlier run's file
                handle.writelines(lines)
        self._buffers.clear()
        self._buffered = 0
        self.flushes += 1

    def close(self) -> None:
        self.flush()


def route_source(source: Source, routed_dir: str, partitions: int, wanted_types: Iterable[str]) -> dict:
    """Route every resource of ``source`` to its partition; write the done-marker last; return the counts.

    A rerun of an unfinished source first removes what it wrote, so a crash mid-source never leaves duplicates."""
    routed = Path(routed_dir)
    wanted = frozenset(wanted_types)
    for stale in routed.glob(f"*/{source.key}.ndjson"):
        stale.unlink()
    counts = RouteCounts()
    writer = PartitionWriter(routed, source.key, partitions)
    if source.kind == "ndjson":
        _route_ndjson(source, writer, wanted, counts)
    else:
        for path in source.paths:
            for resource in bundle_resources(path):
                _route(resource, json.dumps(resource, ensure_ascii=False, separators=(",", ":")), writer,
                       wanted, counts)
    writer.close()  # a failure before this point leaves no marker: the rerun removes the partial files first
    marker = routed / "done" / f"{source.key}.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(marker, json.dumps({"source": source.key, **counts.as_dict()}))
    return counts.as_dict()


def _route_ndjson(source: Source, writer: PartitionWriter, wanted: frozenset[str], counts: RouteCounts) -> None:
    first_type = first_resource_type(source.paths[0])
    if first_type is not None and first_type not in wanted:
        # Bulk Data puts one resource type in each file: a file of a type nobody reads is not parsed at all.
        counts.skipped_files[first_type] = counts.skipped_files.get(first_type, 0) + 1
        return
    for _, line in ndjson_lines(source.paths[0], source.start, source.end):
        try:
            resource = json.loads(line)
        except ValueError:
            counts.unreadable_lines += 1
            continue
        if not isinstance(resource, dict):
            counts.unreadable_lines += 1
            continue
        _route(resource, line, writer, wanted, counts)


def _route(resource: dict, line: str, writer: PartitionWriter, wanted: frozenset[str], counts: RouteCounts) -> None:
    resource_type = resource.get("resourceType")
    if resource_type not in wanted:
        counts.skipped_types[str(resource_type)] = counts.skipped_types.get(str(resource_type), 0) + 1
        return
    patient_id = patient_id_of(resource)
    if patient_id is not None:
        writer.write(partition_name(partition_of(patient_id, writer.partitions)), line)
        counts.routed += 1
    elif resource_type in SHARED_RESOURCE_TYPES:
        writer.write(SHARED, line)
        counts.shared += 1
    else:
        counts.unattributed += 1


def write_atomically(path: Path, text: str) -> None:
    """Write then rename, so a reader (or a resumed run) never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
