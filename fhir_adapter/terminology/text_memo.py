"""A bounded memo for pure functions of a short text: the scans of code displays, medication and allergy texts.

Reading a record scans the same few hundred texts ("Body Weight", "Allergy to penicillin", "lisinopril 10 MG Oral
Tablet") call after call, and each scan runs many regular expressions. The answer depends on the text alone (the
terminology never changes once loaded), so it is remembered: at most ``maxsize`` texts, least recently used first
out, and only texts of at most ``MAX_TEXT`` characters - code displays and drug names, not free narrative - so the
memo stays small. Further arguments, if any, are part of the key and must be hashable constants (a tuple of value-set
names). A memoised function must return an immutable value (a tuple, a bool, a frozen record): every caller shares
it.
"""
from __future__ import annotations

from functools import lru_cache, wraps
from typing import Any, Callable, TypeVar

MAX_TEXT = 200
F = TypeVar("F", bound=Callable[..., Any])


def memoised_by_text(maxsize: int = 4096) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        remembered = lru_cache(maxsize=maxsize)(function)

        @wraps(function)
        def call(text: Any, *args: Any) -> Any:
            if type(text) is str and len(text) <= MAX_TEXT:
                return remembered(text, *args)
            return function(text, *args)

        call.cache_info = remembered.cache_info  # type: ignore[attr-defined]
        call.cache_clear = remembered.cache_clear  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]

    return decorate
