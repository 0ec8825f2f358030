"""Which feedback hides a card, and for how long (settings ``SUPPRESSION_*``; defaults in docs/feedback.md).

An override hides the card for the same patient when its reason is one of ours (``OVERRIDE_REASON_SYSTEM``), the
card offered it, and the reason's period is not 0; an accepted suggestion hides that suggestion. Never hidden, and
feedback on them creates nothing: critical cards, and the order-time warnings (order-select / order-sign cards about
a drafted order), which are asked again for every order whatever the reason given - an EHR may reuse a draft's id
for the next order. Every suppression also ends at once when the card's inputs change
(cds_hooks/suppression/identity.py), whatever its period.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import engine.order_checks  # noqa: F401 - registers the order-time checks (about_a_drafted_order)

from cards.fhir import (
    DIAGNOSIS_OVERRIDE_REASONS,
    DRAFT_ORDER_OVERRIDE_REASONS,
    MEDICATION_OVERRIDE_REASONS,
    ORDER_OVERRIDE_REASONS,
    OVERRIDE_REASON_SYSTEM,
)
from cds_hooks.store import IssuedCard, Suppression
from engine.registry import order_checks

DAY_S = 86400.0
ACCEPTED = "accepted"  # the reason code of a suppression made by an accepted suggestion
NO_TIME_LIMIT = None

# Days a card stays hidden after an override with this reason; None: no time limit (until the inputs change). Codes
# not listed (and 0) hide nothing. Cards about a drafted order are never hidden, whatever the code (never_hidden).
DEFAULT_OVERRIDE_DAYS: dict[str, float | None] = {
    "patient-declined": 90,  # ask again after a quarter, or as soon as anything changes
    "not-applicable": NO_TIME_LIMIT,  # the clinician judged this patient: until the inputs change
    "contraindicated": NO_TIME_LIMIT,
    "data-error": NO_TIME_LIMIT,  # a new or corrected result is a new input
    "already-addressed": 180,  # diagnosed or documented elsewhere; the record may never show it
    "already-on-therapy": 180,
    "already-done": 90,  # a test done elsewhere; most are repeated within months
    "defer": 7,  # "at a later visit": not at every opening of this week's chart
}
DEFAULT_ACCEPTED_DAYS = 30.0  # an accepted suggestion: until the record shows it done, at most this long

REASON_DISPLAYS: dict[str, str] = {
    r["code"]: r["display"] for reasons in (DIAGNOSIS_OVERRIDE_REASONS, ORDER_OVERRIDE_REASONS,
                                            MEDICATION_OVERRIDE_REASONS, DRAFT_ORDER_OVERRIDE_REASONS)
    for r in reasons}
REASON_DISPLAYS[ACCEPTED] = "Suggestion accepted"


def never_hidden(indicator: Any, engine_ids: Iterable[str]) -> bool:
    """Critical cards, and the order-time warnings about a drafted order (cards of the order-time checks,
    engine/order_checks), are sent whatever the feedback: at feedback time nothing is made from an answer to one,
    and at hook time a suppression that matches one (written by an older policy) hides nothing."""
    return indicator == "critical" or about_a_drafted_order(engine_ids)


def about_a_drafted_order(engine_ids: Iterable[str]) -> bool:
    return any(engine_id in order_checks for engine_id in engine_ids)


@dataclass(frozen=True)
class SuppressionPolicy:
    enabled: bool = True
    override_days: Mapping[str, float | None] = field(default_factory=lambda: dict(DEFAULT_OVERRIDE_DAYS))
    accepted_days: float = DEFAULT_ACCEPTED_DAYS

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SuppressionPolicy":
        """``SUPPRESSION_DAYS`` is merged over the defaults: name only the reasons to change (0 turns one off)."""
        days = dict(DEFAULT_OVERRIDE_DAYS)
        configured = config.get("SUPPRESSION_DAYS") or {}
        if not isinstance(configured, Mapping):
            raise ValueError("SUPPRESSION_DAYS must be an object of override reason code -> days (or null)")
        for code, value in configured.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise ValueError(f"SUPPRESSION_DAYS[{code!r}] must be a number of days >= 0, or null (no time limit)")
            days[str(code)] = value
        accepted = config.get("SUPPRESSION_ACCEPTED_DAYS", DEFAULT_ACCEPTED_DAYS)
        if isinstance(accepted, bool) or not isinstance(accepted, (int, float)) or accepted < 0:
            raise ValueError("SUPPRESSION_ACCEPTED_DAYS must be a number of days >= 0")
        return cls(enabled=bool(config.get("SUPPRESSION_ENABLED", True)), override_days=days,
                   accepted_days=float(accepted))

    def override_period(self, code: str) -> tuple[bool, float | None]:
        """(hides, days): whether an override with this reason hides the card, and for how many days (None: no
        time limit)."""
        if code not in self.override_days:
            return False, None
        days = self.override_days[code]
        if days is not None and days <= 0:
            return False, None
        return True, days

    def suppressions_for(self, item: Mapping[str, Any], card: IssuedCard, *, dedup_key: str,
                         now: float) -> list[Suppression]:
        """What one feedback item, about a card this service issued, hides: nothing for a card that is never hidden,
        nor for a card uuid issued for more than one patient (nobody can tell whose card it was)."""
        if (not self.enabled or card.patient_key is None or card.ambiguous
                or never_hidden(card.indicator, card.engine_ids)):
            return []
        if item["outcome"] == "overridden":
            coding = (item.get("overrideReason") or {}).get("reason") or {}
            code = coding.get("code")
            if coding.get("system") != OVERRIDE_REASON_SYSTEM or code not in card.override_codes:
                return []  # a reason the card did not offer (or only a comment): stored, hides nothing
            hides, days = self.override_period(code)
            if not hides:
                return []
            return [self._suppression(card, dedup_key, None, code, REASON_DISPLAYS.get(code, code), now, days)]
        if item["outcome"] == "accepted" and self.accepted_days > 0:
            out = []
            for accepted in item.get("acceptedSuggestions") or ():
                key = card.suggestions.get(str(accepted["id"]).lower())
                if key is not None:
                    out.append(self._suppression(card, dedup_key, key, ACCEPTED, REASON_DISPLAYS[ACCEPTED], now,
                                                 self.accepted_days))
            return out
        return []

    @staticmethod
    def _suppression(card: IssuedCard, dedup_key: str, suggestion: str | None, code: str, display: str, now: float,
                     days: float | None) -> Suppression:
        key = hashlib.sha256(f"{dedup_key}\x00{suggestion or ''}".encode("ascii")).hexdigest()
        return Suppression(key=key, card_key=card.card_key, patient_key=str(card.patient_key), service_id=card.service_id,
                           suggestion_key=suggestion, reason_code=code, reason_display=display,
                           fingerprint=card.fingerprint, title=card.title, card_uuid=card.card_uuid,
                           finding_ids=card.finding_ids, created_at=now,
                           until_at=None if days is None else now + float(days) * DAY_S)
