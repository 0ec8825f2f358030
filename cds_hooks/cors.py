"""CORS, for browser-based CDS clients (e.g. a sandbox): only the origins listed in ``CORS_ORIGINS``.

No origins configured (the default) → no CORS headers at all, so browsers refuse cross-origin calls. Preflights
(OPTIONS) are answered without authentication, because browsers never send credentials on them; the real request
that follows is authenticated as usual. Credentials travel in the Authorization header, never in cookies, so
``Access-Control-Allow-Credentials`` stays off. A wildcard origin is accepted in dev mode only.
"""
from __future__ import annotations

from flask import Flask
from flask_cors import CORS

PREFLIGHT_MAX_AGE_S = 600


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
    if not origins:
        return
    CORS(app, resources={r"/cds-services.*": {}}, origins=origins, methods=["GET", "POST", "OPTIONS"],
         allow_headers=["Authorization", "Content-Type"], supports_credentials=False,
         max_age=PREFLIGHT_MAX_AGE_S, vary_header=True)
