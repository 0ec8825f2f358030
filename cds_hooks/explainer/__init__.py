"""The explainer page behind every card: "How this was calculated".

* Hook time (cds_hooks.processing): an :class:`ExplainerRecorder` gives the card renderer a link for each card, then
  stores the call's findings with their evidence and input series in one row (cds_hooks.store.explainer_call).
* Page time (cds_hooks.explainer.page): ``GET /explain/<token>`` checks the signed token, reads the row and renders
  the page on the server (HTML with inline CSS and SVG plots; no scripts, nothing fetched).

Settings: ``EXPLAINER_ENABLED``, ``EXPLAINER_SECRET``, ``EXPLAINER_TTL_S``, ``PUBLIC_BASE_URL`` (docs/explainer.md).
"""
from __future__ import annotations

import functools
import logging
import secrets
from dataclasses import dataclass

from flask import Flask, current_app, request
from werkzeug.sansio.utils import get_current_url

from cds_hooks.explainer.recorder import PAGE_PATH, ExplainerRecorder
from cds_hooks.explainer.tokens import ExplainerTokens
from cds_hooks.store import Store, store_of

log = logging.getLogger(__name__)

EXTENSION = "cds_explainer"
__all__ = ["ExplainerRecorder", "PAGE_PATH", "init_app", "recorder_for_request"]


@dataclass(frozen=True)
class Explainer:
    tokens: ExplainerTokens
    store: Store


def init_app(app: Flask) -> None:
    """Register the page and decide whether cards get links.

    No ``EXPLAINER_SECRET``: in dev mode a random secret for this process (links die with it); in production the
    service starts without explainer links and says so, rather than sign with a guessable key. A secret that is set
    but too short stops the start-up (ValueError): a misconfiguration, not a choice."""
    from cds_hooks.explainer.page import bp

    app.register_blueprint(bp)  # always: links from an earlier run get a clear 404/410, not a 401
    config = app.config
    app.extensions[EXTENSION] = None
    if not config.get("EXPLAINER_ENABLED", True):
        log.info("explainer pages are off (EXPLAINER_ENABLED=false): cards carry no 'How this was calculated' link")
        return
    secret = config.get("EXPLAINER_SECRET")
    if not secret:
        if not config.get("DEV_MODE"):
            log.warning("CDS_EXPLAINER_SECRET is not set: cards carry no 'How this was calculated' link. Set it to "
                        "a random string of at least 32 characters, the same for every worker")
            return
        secret = secrets.token_urlsafe(48)
        log.warning("DEV MODE: CDS_EXPLAINER_SECRET is not set; explainer links are signed with a random secret of "
                    "this process and stop working when it exits")
    app.extensions[EXTENSION] = Explainer(ExplainerTokens(secret, float(config["EXPLAINER_TTL_S"])), store_of(app))


def recorder_for_request() -> ExplainerRecorder | None:
    """A recorder for the hook call being served, or None when explainer links are off."""
    explainer: Explainer | None = current_app.extensions.get(EXTENSION)
    if explainer is None:
        return None
    base = current_app.config.get("PUBLIC_BASE_URL") or request_root_url(request.scheme, request.host,
                                                                        request.root_path)
    return ExplainerRecorder(tokens=explainer.tokens, store=explainer.store, base_url=str(base))


@functools.lru_cache(maxsize=64)
def request_root_url(scheme: str, host: str, root_path: str) -> str:
    """``request.url_root``, which werkzeug builds anew for every request (its IRI conversion is most of a hook call's
    URL work): a function of these three parts, so a few entries serve every call (bounded: ``Host`` is the client's).
    ``request.host`` is read by the caller, so an untrusted host is refused as before."""
    return get_current_url(scheme, host, root_path)
