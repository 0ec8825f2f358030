"""Where a population's resources come from: NDJSON files of a Bulk Data export, or a folder of Bundles.

A *source* is one unit of routing work (one NDJSON file, or a batch of Bundle files); each is streamed once.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz")
BUNDLE_SUFFIXES = (".json", ".json.gz")
# Bundle files per routing task: enough to amortise a task's overhead, few enough to spread over workers.
BUNDLES_PER_SOURCE = 200
# A plain NDJSON file larger than this is routed in byte ranges of this size, in parallel (a Bulk Data server may
# put a million Observations in one file). A gzip file cannot be entered mid-stream and is routed whole.
SPLIT_BYTES = 64 * 1024 * 1024


class InputError(ValueError):
    """The input cannot be read as a Bulk Data export or a folder of Bundles."""


@dataclass(frozen=True)
class Source:
    key: str  # unique, file-name safe: names the routed files this source writes
    kind: str  # "ndjson" | "bundles"
    paths: tuple[str, ...]
    size_bytes: int  # on disk (compressed when gzip); for sizing partitions
    start: int = 0  # byte range of a plain NDJSON file: the lines that start in [start, end)
    end: int | None = None


def open_text(path: str | Path) -> IO[str]:
    """Text handle on a plain or gzip file (decided by the .gz suffix)."""
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def discover_sources(input_path: str | Path) -> list[Source]:
    """The sources of ``input_path``: a folder of NDJSON files (a Bulk Data export), a folder of Bundles, or one
    NDJSON file. NDJSON wins when a folder holds both (a Bulk Data export folder may keep its manifest.json)."""
    path = Path(input_path)
    if path.is_file():
        if not path.name.endswith(NDJSON_SUFFIXES):
            raise InputError(f"{path.name}: expected an .ndjson or .ndjson.gz file, or a folder")
        return _ndjson_sources(path, 0)
    if not path.is_dir():
        raise InputError(f"{path}: no such file or folder")
    ndjson = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(NDJSON_SUFFIXES))
    if ndjson:
        return [source for i, p in enumerate(ndjson) for source in _ndjson_sources(p, i)]
    bundles = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(BUNDLE_SUFFIXES)
                     and p.name != "manifest.json")
    if not bundles:
        raise InputError(f"{path}: no .ndjson[.gz] or Bundle .json[.gz] files")
    return [Source(key=f"bundles-{start // BUNDLES_PER_SOURCE:05d}", kind="bundles",
                   paths=tuple(str(p) for p in bundles[start:start + BUNDLES_PER_SOURCE]),
                   size_bytes=sum(p.stat().st_size for p in bundles[start:start + BUNDLES_PER_SOURCE]))
            for start in range(0, len(bundles), BUNDLES_PER_SOURCE)]


def _ndjson_sources(path: Path, index: int) -> list[Source]:
    size = path.stat().st_size
    if path.name.endswith(".gz") or size <= SPLIT_BYTES:
        return [Source(key=f"ndjson-{index:05d}", kind="ndjson", paths=(str(path),), size_bytes=size)]
    return [Source(key=f"ndjson-{index:05d}-{start // SPLIT_BYTES:05d}", kind="ndjson", paths=(str(path),),
                   size_bytes=min(SPLIT_BYTES, size - start), start=start, end=min(start + SPLIT_BYTES, size))
            for start in range(0, size, SPLIT_BYTES)]


def first_resource_type(path: str | Path) -> str | None:
    """The resourceType of the first resource of an NDJSON file (Bulk Data puts one type in each file)."""
    with open_text(path) as handle:
        for line in handle:
            if line.strip():
                try:
                    resource = json.loads(line)
                except ValueError:
                    return None
                return resource.get("resourceType") if isinstance(resource, dict) else None
    return None


def ndjson_lines(path: str | Path, start: int = 0, end: int | None = None) -> Iterator[tuple[int, str]]:
    """(line number within the range, text) of each non-blank line, streamed. With a byte range (plain files only),
    the lines that start inside [start, end): a line cut by ``start`` belongs to the range before."""
    if start == 0 and end is None:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line
        return
    with open(path, "rb") as handle:
        if start > 0:
            handle.seek(start - 1)
            if handle.read(1) != b"\n":
                handle.readline()  # the rest of a line that started before this range
        number = 0
        while end is None or handle.tell() < end:
            raw = handle.readline()
            if not raw:
                break
            number += 1
            if raw.strip():
                yield number, raw.decode("utf-8")


def bundle_resources(path: str | Path) -> Iterator[dict]:
    """The entry resources of one Bundle file (or the resource itself when the file holds a single resource)."""
    with open_text(path) as handle:
        document = json.load(handle)
    if not isinstance(document, dict):
        return
    if document.get("resourceType") == "Bundle":
        for entry in document.get("entry") or []:
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                yield entry["resource"]
    elif "resourceType" in document:
        yield document
