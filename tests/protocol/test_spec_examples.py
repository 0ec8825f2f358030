"""The JSON examples printed in the CDS Hooks 2.0.1 text, checked against our schemas.

Complete bodies must pass, except the few examples that themselves break a REQUIRED rule of the
text; each of those has its own test that names the broken rule and shows that repairing just that
one thing makes the example valid. Fragments are checked against the matching part of a schema,
or skipped with the reason. The examples live outside the repo and are never copied into it.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from cds_hooks.validation import (
    SchemaIssue,
    validate_discovery,
    validate_feedback,
    validate_fragment,
    validate_hook_request,
    validate_response,
)

EXAMPLES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cds-hooks-spec-examples"

pytestmark = pytest.mark.skipif(not EXAMPLES_DIR.is_dir(), reason=f"{EXAMPLES_DIR} is absent")


def load_examples() -> dict[str, Any]:
    if not EXAMPLES_DIR.is_dir():
        return {}
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES_DIR.glob("*.json"))}


EXAMPLES = load_examples()

COMPLETE: dict[str, Callable[[Any], list[SchemaIssue]]] = {
    "hook-request": validate_hook_request,
    "cds-response": validate_response,
    "feedback": validate_feedback,
    "discovery": validate_discovery,
}

# fragment kind -> (schema, $defs entry it is checked against, member holding it or None: the whole)
FRAGMENT_DEFINITIONS = {
    "prefetch-templates": ("discovery", "prefetchTemplates", "prefetch"),
    "prefetch-data": ("hook-request", "prefetch", "prefetch"),
    "fhirAuthorization": ("hook-request", "fhirAuthorization", "fhirAuthorization"),
    "source": ("cds-response", "source", "source"),
    "overrideReasons": ("cds-response", "overrideReasons", "overrideReasons"),
    "action": ("cds-response", "action", None),
}

# members of a partial context that have a definition of their own
CONTEXT_MEMBER_DEFINITIONS = {"userId": "userIdAnyUser", "patientId": "fhirId", "encounterId": "fhirId",
                              "draftOrders": "bundle"}

NOT_BODIES = {
    "jwt-header": "JWT header from 'Trusting CDS Clients': checked by the auth code, not a CDS Hooks body",
    "jwt-payload": "JWT payload from 'Trusting CDS Clients': checked by the auth code, not a CDS Hooks body",
    "jwks": "JWK Set from 'Trusting CDS Clients': key material, not a CDS Hooks body",
    "jwk": "private JWK from 'Trusting CDS Clients': key material, not a CDS Hooks body",
}


def kind_of(body: Any) -> str:
    """Name what an example is from its shape (the files carry no labels)."""
    if not isinstance(body, dict):
        return "unknown"
    keys = set(body)
    for marker, kind in (("hookInstance", "hook-request"), ("cards", "cds-response"), ("feedback", "feedback"),
                         ("services", "discovery")):
        if marker in keys:
            return kind
    if keys == {"prefetch"}:
        values = body["prefetch"].values()
        return "prefetch-templates" if all(isinstance(v, str) for v in values) else "prefetch-data"
    if keys in ({"context"}, {"fhirAuthorization"}, {"source"}, {"overrideReasons"}):
        return next(iter(keys)) if keys != {"context"} else "context"
    if "type" in keys and keys <= {"type", "description", "resource", "resourceId"}:
        return "action"
    if {"alg", "typ"} <= keys:
        return "jwt-header"
    if {"iss", "aud", "jti"} <= keys:
        return "jwt-payload"
    if keys == {"keys"}:
        return "jwks"
    if "kty" in keys:
        return "jwk"
    return "unknown"


# --- the examples that break a REQUIRED rule of the 2.0.1 text ------------------------------------
# Each is recognised by its content (not its file name), with the issues it must produce.

def _is_autolaunch_response(body: Any) -> bool:
    return kind_of(body) == "cds-response" and any(
        "autolaunchable" in link for card in body["cards"] for link in card.get("links", []))


def _is_system_action_response(body: Any) -> bool:
    return kind_of(body) == "cds-response" and "systemActions" in body


def _is_extension_request(body: Any) -> bool:
    return kind_of(body) == "hook-request" and "extension" in body


def _is_prefetch_data_with_a_bare_id(body: Any) -> bool:
    return kind_of(body) == "prefetch-data" and any(isinstance(v, str) for v in body["prefetch"].values())


BREAKERS: dict[str, Callable[[Any], bool]] = {
    "autolaunchable card without indicator": _is_autolaunch_response,
    "systemAction without description": _is_system_action_response,
    "patient-view request without patientId": _is_extension_request,
    "prefetch value that is a bare id": _is_prefetch_data_with_a_bare_id,
}


def breaker_of(body: Any) -> str | None:
    return next((name for name, matches in BREAKERS.items() if matches(body)), None)


def only_example(matches: Callable[[Any], bool]) -> Any:
    found = [body for body in EXAMPLES.values() if matches(body)]
    assert len(found) == 1, f"expected exactly one such example, found {len(found)}"
    return copy.deepcopy(found[0])


# --- every example ----------------------------------------------------------------------------------

def test_the_examples_cover_all_four_complete_bodies():
    kinds = {kind_of(body) for body in EXAMPLES.values()}
    assert set(COMPLETE) <= kinds
    assert "unknown" not in kinds


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_spec_example(name):
    body = EXAMPLES[name]
    kind = kind_of(body)
    assert kind != "unknown", f"{name}: a new kind of example; teach kind_of() what it is"
    breaker = breaker_of(body)
    if breaker:
        pytest.skip(f"breaks a REQUIRED rule of the text ({breaker}); see its own test")
    if kind in NOT_BODIES:
        pytest.skip(NOT_BODIES[kind])
    if kind in COMPLETE:
        assert COMPLETE[kind](body) == []
    elif kind in FRAGMENT_DEFINITIONS:
        schema, definition, member = FRAGMENT_DEFINITIONS[kind]
        assert validate_fragment(schema, definition, body[member] if member else body) == []
    elif kind == "context":
        # contexts printed to explain prefetch tokens: partial (no userId), so no hook's context
        # schema applies; each member that has a definition of its own must still pass it
        checked = [key for key in body["context"] if key in CONTEXT_MEMBER_DEFINITIONS]
        assert checked, "nothing in this context could be checked"
        for key in checked:
            assert validate_fragment("hook-request", CONTEXT_MEMBER_DEFINITIONS[key], body["context"][key]) == []
    else:  # pragma: no cover - kind_of() and the tables above disagree
        pytest.fail(f"no rule for kind {kind}")


# --- one test per example that breaks the text ---------------------------------------------------------

def test_autolaunchable_example_lacks_the_required_card_indicator():
    """'Example response using autolaunchable': its card has no `indicator`, which 'Card Attributes'
    marks REQUIRED. Adding one is all it takes to make the example valid."""
    body = only_example(_is_autolaunch_response)
    assert validate_response(body) == [
        SchemaIssue("/cards/0/indicator", "required property 'indicator' is missing")]
    body["cards"][0]["indicator"] = "info"
    assert validate_response(body) == []


def test_system_action_example_lacks_the_required_action_description():
    """'System Action' example: its action has no `description`, which 'Action' marks REQUIRED
    (systemActions 'follow the schema of a card-based suggestion.action')."""
    body = only_example(_is_system_action_response)
    assert validate_response(body) == [
        SchemaIssue("/systemActions/0/description", "required property 'description' is missing")]
    body["systemActions"][0]["description"] = "Update the order"
    assert validate_response(body) == []


def test_extension_example_request_lacks_the_patient_view_patient_id():
    """'Extensions' example: a patient-view request whose context has only userId; the patient-view
    hook marks patientId REQUIRED. The example is about `extension`, which itself passes."""
    body = only_example(_is_extension_request)
    assert body["hook"] == "patient-view"
    assert validate_hook_request(body) == [
        SchemaIssue("/context/patientId", "required property 'patientId' is missing")]
    body["context"]["patientId"] = "123"
    assert validate_hook_request(body) == []


def test_prefetch_data_example_has_a_value_that_is_neither_a_resource_nor_null():
    """'Example prefetch data': "user": "123" is a bare id, but each prefetch value is a FHIR resource,
    or null when the client has no data ('Prefetch Template')."""
    body = only_example(_is_prefetch_data_with_a_bare_id)
    bare = [key for key, value in body["prefetch"].items() if isinstance(value, str)]
    assert validate_fragment("hook-request", "prefetch", body["prefetch"]) == [
        SchemaIssue(f"/{key}", "must be of type object or null") for key in bare]
    for key in bare:
        body["prefetch"][key] = None
    assert validate_fragment("hook-request", "prefetch", body["prefetch"]) == []


def test_every_breaker_matches_exactly_one_example():
    for name, matches in BREAKERS.items():
        assert sum(1 for body in EXAMPLES.values() if matches(body)) == 1, name
