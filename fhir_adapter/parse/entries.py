"""Walking the input: resources, lists and (nested) Bundles -> (resource, fullUrl) pairs."""
from __future__ import annotations

from typing import Iterator, Mapping

from engine.finding import InputProblem
from fhir_adapter.parse.json_values import dict_or_empty, list_or_empty, nonblank_str
from fhir_adapter.parse.references import resource_ref

_MAX_BUNDLE_DEPTH = 4
# Lists of lists of resources are walked this deep; deeper nesting is no FHIR shape, and walking it would exhaust
# Python's recursion limit (the JSON decoder accepts nesting up to 1024 levels).
_MAX_LIST_DEPTH = 8


def iter_entries(data: object, problems: list[InputProblem] | None = None,
                 _depth: int = 0, _list_depth: int = 0) -> Iterator[tuple[Mapping, str | None]]:
    """Yield (resource, fullUrl) from a resource, a Bundle, or any iterable of those.

    Unusable items (not a JSON object, no resourceType, lists nested too deeply) are reported into ``problems``.
    """
    if isinstance(data, dict):
        rtype = data.get("resourceType")
        if rtype == "Bundle":
            if _depth >= _MAX_BUNDLE_DEPTH:
                if problems is not None:
                    problems.append(InputProblem(resource_ref(data), None, "Bundle nested too deeply; skipped"))
                return
            for entry in list_or_empty(data.get("entry")):
                entry = dict_or_empty(entry)
                res = entry.get("resource")
                if res is None:
                    continue  # e.g. a search-set entry with only an OperationOutcome link
                full_url = nonblank_str(entry.get("fullUrl"))
                if isinstance(res, dict) and res.get("resourceType") == "Bundle":
                    yield from iter_entries(res, problems, _depth + 1)
                elif isinstance(res, dict) and isinstance(res.get("resourceType"), str):
                    yield res, full_url
                elif problems is not None:
                    problems.append(InputProblem(full_url, None, "Bundle entry without a usable resource; skipped"))
            return
        if isinstance(rtype, str):
            yield data, None
            return
        if problems is not None:
            problems.append(InputProblem(None, None, "input item without a resourceType; skipped"))
        return
    if isinstance(data, (str, bytes)) or data is None:
        if problems is not None and data is not None:
            problems.append(InputProblem(None, None, "input item is not a JSON object; skipped"))
        return
    try:
        iterator = iter(data)  # type: ignore[call-overload]
    except TypeError:
        if problems is not None:
            problems.append(InputProblem(None, None, "input item is not a JSON object; skipped"))
        return
    if _list_depth >= _MAX_LIST_DEPTH:
        if problems is not None:
            problems.append(InputProblem(None, None, "input lists nested too deeply; skipped"))
        return
    for item in iterator:
        if type(item) is dict:  # a resource, the usual item: yielded here, as the call below would
            rtype = item.get("resourceType")
            if rtype != "Bundle" and isinstance(rtype, str):
                yield item, None
                continue
        yield from iter_entries(item, problems, _depth, _list_depth + 1)
