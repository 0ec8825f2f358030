"""Synthetic populations from a few template Bundles (Synthea): N patients as a Bulk Data export (NDJSON per type).

Patient i is template i mod T with every id replaced by a new one (stable for a seed: uuid5 of seed, i and the old
id, so a rerun makes the same population) and every date moved by one offset: the template's latest Observation
lands 0-270 days before ``end``, so look-back windows (results within a year) hold as they would in a live
record. References become relative (``Patient/<id>``) as in a Bulk Data export. The files come with a Bulk Data
style manifest.json.
"""
from __future__ import annotations

import gzip
import json
import random
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Iterable

from population.sources import BUNDLE_SUFFIXES, bundle_resources

NAMESPACE = uuid.UUID("6f1c4f3e-6d38-4b8f-9a53-7f0e2f1d9c11")  # the generator's own uuid5 namespace
MAX_BACKDATE_DAYS = 270
# A whole JSON string that may be an id, bare or as a reference ("Patient/<id>", "urn:uuid:<id>"); ids are looked
# up, so a code or a word that is no id of the template is left as it is.
_ID_STRING = re.compile(r'(?<=")(urn:uuid:|[A-Z][A-Za-z]+/)?([A-Za-z0-9.-]{1,64})(?=")')
_DATE = re.compile(r'"(\d{4})-(\d{2})-(\d{2})((?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)"')


@dataclass(frozen=True)
class Template:
    # (resourceType, compact JSON cut into literal text and the ids and dates to replace), cut once per template so
    # that making a patient is a join, not a regex scan
    resources: tuple[tuple[str, tuple], ...]
    types_by_id: dict[str, str]  # every id of the template's Bundle (kept resources or not) and its type
    anchor: date  # latest Observation date (latest date of any kind without Observations)


def load_templates(folder: Path, resource_types: Iterable[str] | None) -> list[Template]:
    """The Bundles of ``folder`` that hold a Patient, keeping only ``resource_types`` (all when None)."""
    wanted = set(resource_types) if resource_types else None
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name.endswith(BUNDLE_SUFFIXES))
    templates = []
    for path in files:
        resources = list(bundle_resources(path))
        if any(r.get("resourceType") == "Patient" for r in resources):
            templates.append(_template(resources, wanted))
    if not templates:
        raise ValueError(f"{folder}: no Bundle with a Patient to use as a template")
    return templates


def _template(resources: list[dict], wanted: set[str] | None) -> Template:
    # Ids of every resource, kept or not: a kept Observation's encounter reference gets a new id too.
    types_by_id = {str(r["id"]): r["resourceType"] for r in resources if r.get("id")}
    for patient in (r for r in resources if r.get("resourceType") == "Patient"):
        # Record numbers (MRN, the source system's person id) are renewed too: each patient is a new person.
        for identifier in patient.get("identifier") or []:
            value = identifier.get("value") if isinstance(identifier, dict) else None
            if isinstance(value, str) and value:
                types_by_id.setdefault(value, "Patient")
    kept = [r for r in resources if wanted is None or r.get("resourceType") in wanted]
    texts = [(r["resourceType"], json.dumps(r, ensure_ascii=False, separators=(",", ":"))) for r in kept]
    observation_dates = [_latest_date(text) for kind, text in texts if kind == "Observation"]
    anchor = max([d for d in observation_dates if d] or [_latest_date(t) for _, t in texts if _latest_date(t)])
    return Template(tuple((kind, _cut(text, types_by_id)) for kind, text in texts), types_by_id, anchor)


def _cut(text: str, types_by_id: dict[str, str]) -> tuple:
    """``text`` as literal strings, ("id", prefix, old id) and ("date", date, time part) pieces."""
    pieces: list = []
    position = 0
    marks = [(m.start(2), m.end(2), ("id", m.group(1) or "", m.group(2)), m.start())
             for m in _ID_STRING.finditer(text) if m.group(2) in types_by_id]
    marks += [(m.start(), m.end(), ("date", date(int(m[1]), int(m[2]), int(m[3])), m[4]), m.start())
              for m in _DATE.finditer(text) if _valid(m[1], m[2], m[3])]
    for _, end, piece, start in sorted(marks, key=lambda mark: mark[3]):
        if start < position:
            continue  # a date that is also an id-like string: the first reading wins
        pieces.append(text[position:start])
        pieces.append(piece)
        position = end
    pieces.append(text[position:])
    return tuple(p for p in pieces if p != "")


def _latest_date(text: str) -> date | None:
    found = [date(int(y), int(m), int(d)) for y, m, d, _ in _DATE.findall(text) if _valid(y, m, d)]
    return max(found) if found else None


def _valid(year: str, month: str, day: str) -> bool:
    try:
        date(int(year), int(month), int(day))
        return True
    except ValueError:
        return False


def generate(templates: list[Template], n: int, out_dir: Path, *, end: date, seed: int = 0,
             compress: bool = False) -> dict:
    """Write ``n`` patients as <Type>.ndjson[.gz] under ``out_dir`` and a manifest.json; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".ndjson.gz" if compress else ".ndjson"
    handles: dict[str, IO[str]] = {}
    counts: dict[str, int] = {}
    try:
        for index in range(n):
            template = templates[index % len(templates)]
            rng = random.Random(f"{seed}:{index}")
            shift = timedelta(days=(end - template.anchor).days - rng.randint(0, MAX_BACKDATE_DAYS))
            new_ids = {old: str(uuid.uuid5(NAMESPACE, f"{seed}:{index}:{old}")) for old in template.types_by_id}
            for resource_type, pieces in template.resources:
                handle = handles.get(resource_type)
                if handle is None:
                    path = out_dir / f"{resource_type}{suffix}"
                    handle = handles[resource_type] = (gzip.open(path, "wt", encoding="utf-8", compresslevel=5)
                                                       if compress else open(path, "w", encoding="utf-8"))
                handle.write(_rewrite(pieces, template, new_ids, shift) + "\n")
                counts[resource_type] = counts.get(resource_type, 0) + 1
    finally:
        for handle in handles.values():
            handle.close()
    manifest = {
        "transactionTime": datetime.combine(end, datetime.min.time()).isoformat() + "Z",
        "request": f"generated: {n} patients from {len(templates)} templates, seed {seed}",
        "requiresAccessToken": False,
        "output": [{"type": t, "url": f"{t}{suffix}", "count": c} for t, c in sorted(counts.items())],
        "error": [],
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _rewrite(pieces: tuple, template: Template, new_ids: dict[str, str], shift: timedelta) -> str:
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif piece[0] == "id":
            _, prefix, old = piece
            if prefix == "urn:uuid:":  # a transaction Bundle's reference becomes relative, as in a Bulk Data export
                out.append(f"{template.types_by_id[old]}/{new_ids[old]}")
            else:
                out.append(prefix + new_ids[old])
        else:
            _, day, time_part = piece
            out.append(f'"{(day + shift).isoformat()}{time_part}"')
    return "".join(out)
