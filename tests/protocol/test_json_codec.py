"""Request bodies decoded and responses encoded with orjson: the same JSON accepted and refused as with the standard
library, the same values out, every refusal a 400 OperationOutcome."""
from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, datetime, timezone

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from cds_hooks.json_codec import BodyTooDeep, OrjsonProvider, decode_body
from tests.conftest import load_fixture

SERVICE = "/cds-services/cardiovascular-risk"


@pytest.mark.parametrize("raw", [b"", b"{", b'{"hook": }', b"\xff\xfe{}", b"[" * 5000 + b"]" * 5000,
                                 b'{"a": 1} trailing', b"'single'"])
def test_invalid_or_too_deep_json_is_a_400_operation_outcome(client, raw):
    resp = client.post(SERVICE, data=raw, content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_nesting_beyond_the_decoders_limit_is_named_too_deep():
    with pytest.raises(BodyTooDeep):
        decode_body(b'{"a":' * 5000 + b"1" + b"}" * 5000)


@pytest.mark.parametrize("raw", [
    b'{"a": NaN, "b": -Infinity}',  # not RFC 8259, but json.loads took them and so do we
    b'{"a": 1e400}',  # beyond a double
    b'{"a": ' + b"1" * 400 + b"}",  # beyond 64 bits
    b'{"a": "\\ud800"}',  # an unpaired surrogate escape
])
def test_bodies_orjson_refuses_decode_as_the_standard_library_did(raw):
    decoded = decode_body(raw)
    expected = json.loads(raw)
    assert json.dumps(decoded) == json.dumps(expected)


def test_a_valid_hook_body_decodes_to_the_same_value_as_json_loads():
    raw = json.dumps(load_fixture("hooks/patient-view-prefetch.json")).encode()
    assert decode_body(raw) == json.loads(raw)


def test_deeply_nested_record_in_qa_is_not_a_500(client):
    nested = "[" * 1020 + "]" * 1020  # within orjson's depth limit, beyond what a recursive walk of it could take
    resp = client.post("/qa", data='{"question": "what is the LDL", "record": ' + nested + "}",
                       content_type="application/json")
    assert resp.status_code < 500


@dataclasses.dataclass
class _Point:
    x: int
    label: str


def _both(value, *, sort_keys=False):
    app = Flask(__name__)
    standard = DefaultJSONProvider(app)
    fast = OrjsonProvider(app)
    standard.sort_keys = fast.sort_keys = sort_keys
    with app.app_context():
        return (json.loads(standard.response(value).get_data()), json.loads(fast.response(value).get_data()),
                standard.dumps(value), fast.dumps(value))


@pytest.mark.parametrize("value", [
    {"cards": [{"summary": "é ✓ <b>", "indicator": "info", "n": 1.5e-7, "big": 10 ** 30}]},
    {"when": datetime(2026, 6, 1, 12, 30, tzinfo=timezone.utc), "day": date(2026, 6, 1)},
    {"id": uuid.UUID("8f0e5b1a-3c6d-4e2f-9a7b-1d2c3e4f5a6b"), "point": _Point(1, "x"), 3: "int key"},
])
def test_responses_carry_the_same_json_values_as_flasks_default_provider(value):
    standard_response, fast_response, standard_text, fast_text = _both(value)
    assert fast_response == standard_response
    assert json.loads(fast_text) == json.loads(standard_text)


def test_key_order_is_kept_unless_sorting_is_asked_for():
    _, fast, _, _ = _both({"b": 1, "a": 2})
    assert list(fast) == ["b", "a"]
    _, fast, _, _ = _both({"b": 1, "a": 2}, sort_keys=True)
    assert list(fast) == ["a", "b"]


def test_hook_response_is_compact_utf8_json(client):
    resp = client.post(SERVICE, data=json.dumps(load_fixture("hooks/patient-view-prefetch.json")),
                       content_type="application/json")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert b'": ' not in resp.data[:200]  # compact separators
    assert resp.get_json()["cards"]
