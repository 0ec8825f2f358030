"""JSON in and out with orjson: request bodies are decoded and responses encoded several times faster than with the
standard library, which matters on a ~1 MiB prefetch (docs/performance.md).

Decoding accepts exactly what the standard library's ``json.loads`` accepted before: a body orjson refuses (numbers
beyond a double such as ``1e400`` or a 400-digit integer, ``NaN``, an unpaired surrogate escape, nesting beyond 1024
levels) is decoded again by ``json.loads``, so only bodies that were already invalid pay twice. Encoding produces
the same JSON values as Flask's default provider (dates, UUIDs, dataclasses and ``__html__`` objects through Flask's
own fallback), compact and UTF-8; key order is kept unless ``sort_keys`` is set.
"""
from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider


class BodyTooDeep(ValueError):
    """The JSON nests deeper than the decoder allows."""


def decode_body(raw: bytes) -> Any:
    """The JSON value of a request body; ValueError when it is not valid JSON (BodyTooDeep when nested too deeply)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except RecursionError:
        raise BodyTooDeep("nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not valid JSON") from None


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider on orjson (``app.json``): ``jsonify`` and ``flask.json.dumps`` go through it."""

    def _options(self, indent: bool = False) -> int:
        # Dates, datetimes and dataclasses go to Flask's fallback, so they serialise as they always did (HTTP dates).
        options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
        if self.sort_keys:
            options |= orjson.OPT_SORT_KEYS
        if indent:
            options |= orjson.OPT_INDENT_2
        return options

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs.keys() - {"separators"}:  # indent, cls, ...: a caller asking for the standard library's options
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=self.default, option=self._options()).decode("utf-8")
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the standard library writes it
            return super().dumps(obj, separators=(",", ":"))

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return super().loads(s, **kwargs)
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any):
        obj = self._prepare_response_obj(args, kwargs)
        pretty = (self.compact is None and self._app.debug) or self.compact is False
        try:
            body = orjson.dumps(obj, default=self.default,
                                option=self._options(indent=pretty) | orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the standard library writes it
            return super().response(obj)
        return self._app.response_class(body, mimetype=self.mimetype)
