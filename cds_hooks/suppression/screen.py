"""Hook time: leave out what this patient's clinicians already answered, and describe every card that is sent.

One :class:`CallScreen` per hook call. The card renderer hands it every card before the cap
(``RenderOptions.screen``); it reads the patient's active suppressions in one query and, per card:

- a critical card, or an order-time warning about a drafted order, is sent as it is, always;
- a suppression whose fingerprint is not the card's any more is lifted ("inputs-changed") and the card is sent;
- a card with an active override suppression is left out;
- a suggestion accepted before is taken off the card; when the card offers it no more, the suppression is lifted
  ("no-longer-offered": the record shows it done); a card whose every suggestion was accepted is left out.

When the database cannot be read the cards are all sent (showing an answered card again is safe; hiding one by
mistake is not). ``issued`` describes the cards sent, for the audit transaction (what feedback may name).
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from cards.render import RenderedCard
from cds_hooks.declaration import find_engine
from cds_hooks.store import INPUTS_CHANGED, NO_LONGER_OFFERED, IssuedCard, Store, Suppression
from cds_hooks.suppression.identity import card_key, fingerprint, patient_key, suggestion_key
from cds_hooks.suppression.policy import SuppressionPolicy, never_hidden
from engine.finding import Finding

log = logging.getLogger(__name__)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TITLE_MAX = 300


@dataclass(frozen=True)
class HiddenCard:
    """A card (or some of its suggestions) left out of this call, and the feedback that hid it."""

    title: str
    finding_ids: tuple[str, ...]  # empty: the card was not produced at this call (its suppression still holds)
    card_key: str
    suppression: Suppression
    suggestions: tuple[str, ...] = ()  # labels of the suggestions taken off a card that was sent; empty: whole card

    @property
    def whole_card(self) -> bool:
        return not self.suggestions


class CallScreen:
    def __init__(self, *, store: Store, policy: SuppressionPolicy, now: float, service_id: str,
                 issuer: str | None, tenant: str | None, patient_id: str | None, hook_instance: str | None,
                 findings: Sequence[Finding]) -> None:
        self._store = store
        self._policy = policy
        self.now = now
        self.service_id = service_id
        self.issuer = issuer
        self.tenant = tenant
        self.hook_instance = hook_instance if isinstance(hook_instance, str) and _UUID.match(hook_instance) else None
        self.patient_key = patient_key(issuer, tenant, patient_id) if patient_id else None
        self._findings = {f.id: f for f in findings}
        self._card_keys: dict[str, str] = {}  # by RenderedCard.identity
        # The material form of every input fingerprinted at this call, by id() of its evidence: self._findings keeps
        # each one referenced as long as this screen lives (cds_hooks.suppression.identity.fingerprint_document).
        self._material: dict[int, list] = {}
        self._fingerprints: dict[tuple[str, ...], str] = {}  # by RenderedCard.finding_ids
        self.hidden: list[HiddenCard] = []
        self.lifted: dict[str, str] = {}

    # -- identity ---------------------------------------------------------------------------------------------------
    def card_key(self, rendered: RenderedCard) -> str:
        # Asked three times per card (the screen, the explainer's slots, the issued cards): one digest per identity.
        key = self._card_keys.get(rendered.identity)
        if key is None:
            key = self._card_keys[rendered.identity] = card_key(self.service_id, self.patient_key or "",
                                                                rendered.identity)
        return key

    def fingerprint(self, rendered: RenderedCard) -> str:
        # Asked twice for a card with a suppression (the screen, the issued card): one digest per card.
        known = self._fingerprints.get(rendered.finding_ids)
        if known is None:
            known = self._fingerprints[rendered.finding_ids] = fingerprint(
                (self._findings[i] for i in rendered.finding_ids if i in self._findings), self._material)
        return known

    def title(self, rendered: RenderedCard) -> str:
        """What the card is about in its findings' words, for this call's explainer page (which is kept as long as
        the evidence itself). A finding's title may name the record ("Ibuprofen with warfarin"): never stored
        with the issued card or a suppression (``stored_title``)."""
        return _titled(rendered, [self._findings[i].title for i in rendered.finding_ids if i in self._findings])

    @staticmethod
    def stored_title(rendered: RenderedCard) -> str:
        """What the card is about in its engines' declared titles ("Drug interactions of the drafted drug",
        "Possible undiagnosed diabetes or prediabetes"): constants of the code, so ``issued_card`` and
        ``card_suppression`` keep no word from the record."""
        return _titled(rendered, [engine_title(e) for e in rendered.engine_ids])

    # -- the screen (RenderOptions.screen) ------------------------------------------------------------------------------
    def __call__(self, rendered: list[RenderedCard]) -> list[RenderedCard]:
        if not self._policy.enabled or self.patient_key is None:
            return rendered
        try:
            active = self._store.active_suppressions(self.patient_key, service_id=self.service_id, now=self.now)
        except SQLAlchemyError as exc:
            log.error("suppressions not read (%s): every card is sent", type(exc).__name__)
            return rendered
        by_card: dict[str, list[Suppression]] = {}
        for suppression in active:
            by_card.setdefault(suppression.card_key, []).append(suppression)
        kept = []
        seen: set[str] = set()
        for card in rendered:
            key = self.card_key(card)
            seen.add(key)
            screened = self._screen_one(card, key, by_card.get(key, []))
            if screened is not None:
                kept.append(screened)
        for key, suppressions in by_card.items():  # still hidden, though not produced at this call
            if key not in seen:
                self.hidden += [HiddenCard(s.title or "", (), key, s) for s in suppressions
                                if s.suggestion_key is None]
        self._lift()
        return kept

    def _screen_one(self, card: RenderedCard, key: str, suppressions: list[Suppression]) -> RenderedCard | None:
        if not suppressions:
            return card
        current = self.fingerprint(card)
        holding = []
        for suppression in suppressions:
            if suppression.fingerprint != current:
                self.lifted[suppression.key] = INPUTS_CHANGED
            else:
                holding.append(suppression)
        if not holding or never_hidden(card.card.get("indicator"), card.engine_ids):
            return card  # never hidden, and never trimmed: it is sent exactly as rendered
        whole = [s for s in holding if s.suggestion_key is None]
        if whole:
            self.hidden.append(HiddenCard(self.title(card), card.finding_ids, key, whole[-1]))
            return None
        return self._without_accepted(card, key, holding)

    def _without_accepted(self, card: RenderedCard, key: str, accepted: list[Suppression]) -> RenderedCard | None:
        suggestions = card.card.get("suggestions") or []
        offered = {suggestion_key(s["label"]): s for s in suggestions}
        hide: dict[str, Suppression] = {}
        for suppression in accepted:
            if suppression.suggestion_key in offered:
                hide[suppression.suggestion_key] = suppression
            else:
                self.lifted[suppression.key] = NO_LONGER_OFFERED
        if not hide:
            return card
        labels = tuple(offered[k]["label"] for k in hide)
        reason = max(hide.values(), key=lambda s: s.created_at)
        remaining = [s for s in suggestions if suggestion_key(s["label"]) not in hide]
        if not remaining:  # everything it offered was accepted: the card has nothing left to ask
            self.hidden.append(HiddenCard(self.title(card), card.finding_ids, key, reason))
            return None
        self.hidden.append(HiddenCard(self.title(card), card.finding_ids, key, reason, labels))
        return replace(card, card=dict(card.card, suggestions=remaining))

    def _lift(self) -> None:
        if not self.lifted:
            return
        try:
            self._store.lift_suppressions(self.lifted, now=self.now)
        except SQLAlchemyError as exc:  # the cards are sent anyway; the next call lifts them again
            log.error("suppressions not lifted (%s)", type(exc).__name__)

    # -- what was sent ---------------------------------------------------------------------------------------------------
    def issued(self, sent: Iterable[RenderedCard]) -> tuple[IssuedCard, ...]:
        out = []
        for card in sent:
            uuid = card.card.get("uuid")
            if not uuid:
                continue
            out.append(IssuedCard(
                card_uuid=str(uuid).lower(), card_key=self.card_key(card), patient_key=self.patient_key,
                indicator=str(card.card.get("indicator")), fingerprint=self.fingerprint(card),
                title=self.stored_title(card),
                finding_ids=card.finding_ids, engine_ids=card.engine_ids,
                suggestions={str(s["uuid"]).lower(): suggestion_key(s["label"])
                             for s in card.card.get("suggestions") or () if s.get("uuid")},
                override_codes=tuple(r["code"] for r in card.card.get("overrideReasons") or () if r.get("code")),
                service_id=self.service_id, issuer=self.issuer, tenant=self.tenant,
                hook_instance=self.hook_instance, issued_at=self.now))
        return tuple(out)

    def card_keys(self, sent: Iterable[RenderedCard]) -> dict[tuple[str, ...], str]:
        """The card key of each card sent, by its finding ids (the explainer page's slots)."""
        keys = {card.finding_ids: self.card_key(card) for card in sent}
        keys.update({h.finding_ids: h.card_key for h in self.hidden if h.finding_ids})
        return keys


def _titled(rendered: RenderedCard, titles: list[str]) -> str:
    form = rendered.identity.split(":", 1)[0]
    if form == "data-needed":
        text = "Data needed for " + ", ".join(titles)
    elif form in ("not-applicable", "not applicable", "not available"):
        text = f"{', '.join(titles)}: {form.replace('-', ' ')}"
    else:
        text = titles[0] if titles else rendered.identity
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1] + "…"


@functools.lru_cache(maxsize=256)  # the engines' declared titles: constants of the code (bounded all the same)
def engine_title(engine_id: str) -> str:
    try:
        return find_engine(engine_id).title
    except KeyError:  # an engine retired since: its id says what it was
        return engine_id
