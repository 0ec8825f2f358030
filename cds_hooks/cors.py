"""CORS, for browser-based CDS clients (e.g. the CDS Hooks Sandbox): the origins listed in ``CORS_ORIGINS``.

In dev mode with no origins configured, every origin is allowed (``Access-Control-Allow-Origin: *``), and the
start-up log says so: a developer pointing the sandbox (https://sandbox.cds-hooks.org) at a local service would
otherwise see "no cards" - the browser blocks the discovery call - with nothing on screen saying why. Outside dev
mode, no origins configured (the default) → no CORS headers at all, so browsers refuse cross-origin calls. Preflights
(OPTIONS) are answered without authentication, because browsers never send credentials on them; the real request
that follows is authenticated as usual. Credentials travel in the Authorization header, never in cookies, so
``Access-Control-Allow-Credentials`` stays off. A wildcard origin is accepted in dev mode only.
"""
from __future__ import annotations

import logging

from flask import Flask
from flask_cors import CORS

PREFLIGHT_MAX_AGE_S = 600
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
    if not origins:
        return
    CORS(app, resources={r"/cds-services.*": {}}, origins=origins, methods=["GET", "POST", "OPTIONS"],
         allow_headers=["Authorization", "Content-Type"], supports_credentials=False,
         max_age=PREFLIGHT_MAX_AGE_S, vary_header=True, send_wildcard=origins == ["*"])
