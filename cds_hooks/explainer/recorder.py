"""Hook-time side of the explainer: a link on every card of the call, then one row with the call's evidence."""
from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from sqlalchemy.exc import SQLAlchemyError

from cds_hooks.explainer import evidence
from cds_hooks.explainer.tokens import ExplainerClaims, ExplainerTokens
from cds_hooks.store import ExplainerRow, Store
from engine.finding import Finding

if TYPE_CHECKING:
    from cds_hooks.suppression import HiddenCard

log = logging.getLogger(__name__)

PAGE_PATH = "/explain/"


class ExplainerRecorder:
    """One per hook call. ``url_for`` is handed to the card renderer (cards.render.RenderOptions.explain_url); after
    rendering, ``record`` stores what the pages show, in one insert, or takes the links off the cards when it cannot
    (a link to nothing is worse than no link)."""

    def __init__(self, *, tokens: ExplainerTokens, store: Store, base_url: str) -> None:
        self._tokens = tokens
        self._store = store
        self.base_url = base_url.rstrip("/")
        self.call_key = secrets.token_urlsafe(24)  # 192 random bits; the row's only handle
        now = tokens.now()
        self.issued_at = int(now)  # the token's whole seconds
        self.answered_s = now
        self.slots: list[tuple[str, ...]] = []

    def url_for(self, finding_ids: Iterable[str]) -> str:
        token = self._tokens.sign(ExplainerClaims(self.call_key, self._slot(tuple(finding_ids)), self.issued_at))
        return self.base_url + PAGE_PATH + token

    def _slot(self, ids: tuple[str, ...]) -> int:
        if ids not in self.slots:
            self.slots.append(ids)
        return self.slots.index(ids)

    def record(self, call: Any, findings: Sequence[Finding], cards: list[dict], *,
               hidden: Sequence["HiddenCard"] = (), card_keys: Mapping[tuple[str, ...], str] | None = None) -> bool:
        """Store the call's evidence; False (and the links removed from ``cards``) when the database refuses.

        ``hidden``: the cards left out because of feedback (each gets a page of its own, linked from the others);
        ``card_keys``: each card's identity across calls, so that a page can say later that its card is now hidden."""
        try:
            for card in hidden:
                if card.finding_ids:
                    self._slot(tuple(card.finding_ids))
            document = evidence.capture(service=call.service, as_of=call.as_of, answered_at=self.issued_at,
                                        answered_s=self.answered_s, findings=findings, slots=self.slots,
                                        features=getattr(call, "features", None), hidden=hidden, card_keys=card_keys)
            encoding, payload = evidence.encode(document)
            self._store.save_explainer(ExplainerRow(
                key=self.call_key, created_at=float(self.issued_at),
                expires_at=float(self.issued_at) + self._tokens.ttl_s, service_id=getattr(call.service, "id", None),
                encoding=encoding, payload=payload))
            return True
        except SQLAlchemyError as exc:
            log.error("explainer evidence not stored (%s); the cards go out without explainer links",
                      type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - the cards matter more than their explainer pages
            log.error("explainer evidence not captured (%s); the cards go out without explainer links",
                      type(exc).__name__)
        remove_links(cards, self.base_url + PAGE_PATH)
        return False


def remove_links(cards: list[dict], url_prefix: str) -> None:
    for card in cards:
        links = [link for link in card.get("links") or [] if not str(link.get("url", "")).startswith(url_prefix)]
        if links:
            card["links"] = links
        else:
            card.pop("links", None)  # an empty array is not allowed: the field goes
