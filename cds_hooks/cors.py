"""CORS, for browser-based CDS clients (e.g. the CDS Hooks Sandbox): the origins listed in ``CORS_ORIGINS``.

In dev mode with no origins configured, every origin is allowed (``Access-Control-Allow-Origin: *``), and the
start-up log says so: a developer pointing the sandbox (https://sandbox.cds-hooks.org) at a local service would
otherwise see "no cards" - the browser blocks the discovery call - with nothing on screen saying why. Outside dev
mode, no origins configured (the default) → no CORS headers at all, so browsers refuse cross-origin calls. Preflights
(OPTIONS) are answered without authentication, because browsers never send credentials on them; the real request
that follows is authenticated as usual. Credentials travel in the Authorization header, never in cookies, so
``Access-Control-Allow-Credentials`` stays off. A wildcard origin is accepted in dev mode only.

A hook call's response gets its CORS headers in the view (``add_hook_call_headers``): the very headers flask-cors
would add, computed by flask-cors's own ``get_cors_headers`` once per (Origin, private-network request) and kept in a
bounded cache. flask-cors's after-request step, which re-derives them for every response (some 40 us of a hook call),
then sees them already set and leaves the response alone; every other response (discovery, feedback, preflights,
errors) still gets them from flask-cors as before.

That shortcut leans on flask-cors internals (``flask_cors.core``; ``try_match_pattern`` appeared after 4.0) and on its
after-request step leaving a response that already has ``Access-Control-Allow-Origin`` alone, hence the pin to
flask-cors 6 in pyproject.toml; should the internals be missing anyway, the shortcut is off and flask-cors adds every
response's headers itself (same headers, a little slower).
"""
from __future__ import annotations

import functools
import logging

from flask import Flask, Response, current_app, request
from flask_cors import CORS
from werkzeug.datastructures import Headers

try:  # internals of flask-cors, for the hook call shortcut only
    from flask_cors.core import (
        ACL_REQUEST_HEADER_PRIVATE_NETWORK,
        get_cors_headers,
        get_cors_options,
        parse_resources,
        try_match_pattern,
    )
except (ImportError, AttributeError):
    HAS_FLASK_CORS_INTERNALS = False
else:
    HAS_FLASK_CORS_INTERNALS = True

PREFLIGHT_MAX_AGE_S = 600
RESOURCE = r"/cds-services.*"  # every CDS Hooks endpoint: discovery, hook calls, feedback
HOOK_CALL_RULE = "/cds-services/<service_id>"  # the hook call view's route (cds_hooks/hooks.py routes it by this)
HOOK_CALL_PATH = HOOK_CALL_RULE.replace("<service_id>", "hook")  # a hook call's path, as the resource pattern sees it
EXTENSION = "cds_cors_hook_headers"
log = logging.getLogger(__name__)


def allowed_origins(config) -> list[str]:
    origins = config.get("CORS_ORIGINS") or []
    if isinstance(origins, str):
        origins = [o.strip() for o in origins.split(",") if o.strip()]
    if not isinstance(origins, list) or not all(isinstance(o, str) and o for o in origins):
        raise ValueError("CORS_ORIGINS must be a list of origins such as ['https://ehr.example.org']")
    if "*" in origins and not config.get("DEV_MODE"):
        raise ValueError("CORS_ORIGINS may not contain '*' outside dev mode: list the EHR origins")
    return [o.rstrip("/") for o in origins]


def init_app(app: Flask) -> None:
    origins = allowed_origins(app.config)
    if not origins and app.config.get("DEV_MODE"):
        origins = ["*"]
        log.warning("DEV MODE: CORS allows every origin (Access-Control-Allow-Origin: *), so browser clients such as "
                    "the CDS Hooks Sandbox can call this service; in production list the EHR origins in "
                    "CDS_CORS_ORIGINS.")
    app.extensions[EXTENSION] = None
    if not origins:
        return
    settings = dict(resources={RESOURCE: {}}, origins=origins, methods=["GET", "POST", "OPTIONS"],
                    allow_headers=["Authorization", "Content-Type"], supports_credentials=False,
                    max_age=PREFLIGHT_MAX_AGE_S, vary_header=True, send_wildcard=origins == ["*"])
    CORS(app, **settings)
    if HAS_FLASK_CORS_INTERNALS:
        app.extensions[EXTENSION] = HookCallHeaders(_resource_options(app, settings))
    else:
        log.info("flask-cors internals not found: hook calls get their CORS headers from flask-cors's after-request "
                 "step, like every other response")


def _resource_options(app: Flask, settings: dict) -> dict:
    """The options flask-cors applies to a hook call: combined as ``CORS.init_app`` combines them (its defaults, the
    app's ``CORS_*`` settings, ours, then the resource's own), for the first resource matching a hook call's path,
    as its after-request step picks it."""
    options = get_cors_options(app, settings, settings)
    for pattern, resource in parse_resources(options.get("resources")):
        if try_match_pattern(HOOK_CALL_PATH, pattern, caseSensitive=True):
            return get_cors_options(app, options, resource)
    raise ValueError("no CORS resource covers the hook calls")


class HookCallHeaders:
    """flask-cors's CORS headers of a POST, by the request headers they depend on (Origin, and the private-network
    request), made by flask-cors itself and kept for the next call with the same ones."""

    def __init__(self, options: dict) -> None:
        self._options = options
        self.headers = functools.lru_cache(maxsize=256)(self._headers)  # Origin is the client's: bounded

    def _headers(self, origin: str | None, private_network: str | None) -> tuple[tuple[str, str], ...]:
        asked = Headers()
        if origin is not None:
            asked.add("Origin", origin)
        if private_network is not None:
            asked.add(ACL_REQUEST_HEADER_PRIVATE_NETWORK, private_network)
        # What set_cors_headers adds: one value per header name (MultiDict.items gives the first of each).
        return tuple(get_cors_headers(self._options, asked, "POST").items())


def add_hook_call_headers(response: Response) -> Response:
    """Add to a hook call's response (a POST on a CORS resource) the CORS headers flask-cors would add after it."""
    hook_headers: HookCallHeaders | None = current_app.extensions.get(EXTENSION)
    if hook_headers is not None:
        sent = request.headers
        for name, value in hook_headers.headers(sent.get("Origin"), sent.get(ACL_REQUEST_HEADER_PRIVATE_NETWORK)):
            response.headers.add(name, value)
    return response
