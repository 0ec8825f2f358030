"""The rule a stored finding id is an instance of, for reports that count per rule.

Most finding ids are their rule ("pce-2013:ascvd-10y", "diabetes-gap:diabetes"). An order-time check's finding is about
one drafted order, so its id adds a digest of the draft ("drug-interactions:warfarin-nsaid:92896fa2e0"); its rule is
the id without it (``Finding.rule_id``; the id's form is declared in engine/order_checks/common.py, with its inverse).
"""
from __future__ import annotations

import engine.order_checks  # noqa: F401 - registers the order-time checks
from engine.order_checks.common import rule_of_finding_id


def rule_id_of(finding_id: str) -> str:
    return rule_of_finding_id(finding_id) or finding_id
