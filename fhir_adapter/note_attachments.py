"""Fetching note text that a DocumentReference / DiagnosticReport holds only by URL (usually ``Binary/…``).

The prefetch of a note service carries the documents; their text may live in a Binary on the FHIR server. These are
read with the hook's FHIR client (same server only, the bearer token) within what is left of the hook's deadline (the
one prefetch resolution used, not a fresh budget) and written back into the attachments as inline ``data``, so the
ordinary note extraction reads them. A note that cannot be fetched, or is not reached before the deadline, is left
out with a reason naming only its reference; it never fails the hook.
"""
from __future__ import annotations

import copy
import logging
import time
from typing import Any

from engine.finding import InputProblem
from fhir_adapter.client import MIN_REQUEST_BUDGET_S, FhirClient, FhirError
from fhir_adapter.notes import note_attachment_urls
from fhir_adapter.parse import iter_entries

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 20  # a note service reads recent notes; more would stretch the hook for little gain


def inline_note_attachments(data: Any, client: FhirClient, *, deadline: float,
                            max_attachments: int = MAX_ATTACHMENTS) -> tuple[Any, list[InputProblem]]:
    """A copy of ``data`` (a prefetch mapping, Bundle or resources) with URL-only note attachments made inline.

    ``deadline`` is the hook's, an absolute ``time.monotonic()`` instant: once it is spent no further read starts."""
    wanted = note_attachment_urls(data)[:max_attachments]
    if not wanted:
        return data, []
    data = copy.deepcopy(data)
    problems: list[InputProblem] = []
    fetched: dict[str, dict] = {}
    for index, (source, url) in enumerate(wanted):
        if deadline - time.monotonic() < MIN_REQUEST_BUDGET_S:
            problems.extend(InputProblem(later, None, "note text at its URL was not read: the hook's time for FHIR "
                                                      "reads was spent") for later, _ in wanted[index:])
            break
        try:
            binary = client.read(url, deadline=deadline)
        except FhirError as exc:
            problems.append(InputProblem(source, None, f"note text at its URL could not be read ({type(exc).__name__})"))
            continue
        if binary.get("resourceType") != "Binary" or not isinstance(binary.get("data"), str):
            problems.append(InputProblem(source, None, "note URL did not return a Binary with data"))
            continue
        fetched[url] = binary
    for resource, _ in iter_entries(data if not _is_prefetch(data) else list(data.values())):
        for attachment in _attachments(resource):
            binary = fetched.get(attachment.get("url"))
            if binary is not None and not attachment.get("data"):
                attachment["data"] = binary["data"]
                attachment.setdefault("contentType", binary.get("contentType") or "text/plain")
    if problems:
        log.info("note attachments: %d of %d not read", len(problems), len(wanted))
    return data, problems


def _is_prefetch(data: Any) -> bool:
    return isinstance(data, dict) and "resourceType" not in data


def _attachments(resource: dict) -> list[dict]:
    if resource.get("resourceType") == "DocumentReference":
        items = [c.get("attachment") for c in resource.get("content") or [] if isinstance(c, dict)]
    elif resource.get("resourceType") == "DiagnosticReport":
        items = resource.get("presentedForm") or []
    else:
        return []
    return [a for a in items if isinstance(a, dict)]
