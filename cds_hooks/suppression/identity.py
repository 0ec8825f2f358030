"""Who a card is, across calls, and what makes it the same card: the keys feedback is remembered by.

* ``patient_key``: SHA-256 of (issuer, tenant, patient id). Patient ids are only unique within one EHR, so the
  client that called is part of the key; the id itself is never stored.
* ``card_key``: SHA-256 of (service, patient key, the rendered card's ``identity`` - its form, the lead finding's
  kind and id, its concept). The same card at the next chart opening has the same key; the per-call card uuid does
  not.
* ``suggestion_key``: SHA-256 of a suggestion's label (the label is the suggestion's identity on a card).
* ``fingerprint``: SHA-256 of what the card says and what it was computed from. A suppression holds only while the
  card's fingerprint is the one the clinician answered; any material change brings the card back at once.

What is material (``fingerprint_document``), per finding on the card:

- its status, severity and category (and its secondary results' categories): a risk category that rises, a stage
  that changes, a criterion newly met;
- each input taken from the record: which resource, its date and its value - a new lab result, a new blood pressure,
  a corrected value (a new result that crosses a threshold is a new input first);
- each input computed without a resource of its own (a flag such as "on a statin", "diabetes on the problem list"):
  its value; a derived value (an eGFR) through what it was derived from;
- the names of the missing inputs of a "data needed" card: a result that arrives changes the card.

Not material: the finding's number alone (a risk drifts as the patient ages by a day), and numbers computed from the
calendar (age), which change every day without anything happening; when age moves a risk across a category boundary
the category shows it.
"""
from __future__ import annotations

import hashlib
import json
from operator import itemgetter
from typing import Any, Iterable

from engine.finding import Evidence, Finding

FINGERPRINT_VERSION = 1  # part of every fingerprint: a change of the rules above lifts the old suppressions


# What json.dumps(parts, separators=(",", ":"), ensure_ascii=True, sort_keys=True, default=str) builds per call, built
# once (a few digests per card). The text is hashed: changing it would lift every stored suppression.
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, sort_keys=True, default=str)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(_CANONICAL.encode(parts).encode("ascii")).hexdigest()


def patient_key(issuer: str | None, tenant: str | None, patient_id: str) -> str:
    return _digest("patient", issuer or "", tenant or "", patient_id)


def card_key(service_id: str, patient: str, identity: str) -> str:
    return _digest("card", service_id, patient, identity)


def suggestion_key(label: str) -> str:
    return _digest("suggestion", " ".join(str(label).split()))


def fingerprint(findings: Iterable[Finding], material: dict[int, list] | None = None) -> str:
    return _digest("fingerprint", FINGERPRINT_VERSION, fingerprint_document(findings, material))


def fingerprint_document(findings: Iterable[Finding], material: dict[int, list] | None = None) -> list:
    """The material parts of a card's findings, in a stable order (see the module docstring).

    ``material``: the material form of each input already made, by id() of its evidence, shared by the cards of one
    call (the PCE, PREVENT, the statin and blood-pressure rules read the same age, cholesterol, blood pressure); whoever
    passes it keeps every evidence in it referenced while it does (so no id is reused). None: one per card."""
    if material is None:
        material = {}
    out = []
    for finding in sorted(findings, key=lambda f: f.id):
        out.append({
            "id": finding.id,
            "status": _value(finding.status),
            "severity": _value(finding.severity),
            "category": finding.category,
            "measures": sorted((m.label, m.category) for m in finding.measures if m.category),
            "inputs": _sorted_inputs(finding.inputs, material),
            "missing": sorted({m.name for m in finding.missing}),
        })
    return out


def _sorted_inputs(inputs: Iterable[Evidence], material: dict[int, list]) -> list:
    """``sorted((_input(e) for e in inputs), key=json.dumps)``, each evidence's form made once per card (``material``,
    by id(): every evidence stays referenced by its finding while the card is fingerprinted, so no id is reused)."""
    forms = []
    for evidence in inputs:
        form = material.get(id(evidence))
        if form is None:
            form = material[id(evidence)] = _input(evidence, material)
        forms.append(form)
    names = [form[0] for form in forms]
    if len(set(names)) == len(names) and all(_plain_name(name) for name in names):
        # Every form's JSON text starts '["<name>", ': with distinct names of identifier characters (all above the
        # closing quote, none escaped), the texts compare as the names do, and the forms need not be written out.
        return sorted(forms, key=itemgetter(0))
    return sorted(forms, key=json.dumps)


def _plain_name(name: Any) -> bool:
    return type(name) is str and name.isascii() and name.isidentifier()


def _input(evidence: Evidence, material: dict[int, list]) -> list:
    source = evidence.source or ""
    if source.startswith("Patient/"):
        # Demographics: sex and recorded race matter; a number from the Patient resource is computed from the
        # birth date and today (age) and is left out (see the module docstring).
        return [evidence.name, "patient", None if _is_number(evidence.value) else _plain(evidence.value)]
    if source:
        effective = evidence.effective.isoformat() if hasattr(evidence.effective, "isoformat") else evidence.effective
        return [evidence.name, source, effective, _plain(evidence.value)]
    if evidence.derived_from:
        return [evidence.name, "derived", _sorted_inputs(evidence.derived_from, material)]
    return [evidence.name, "flag", _plain(evidence.value)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")  # float noise is not a change
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def _value(member: Any) -> Any:
    return getattr(member, "value", member)
