"""Configuration: embedded defaults, overridden by ``CDS_*`` environment variables, overridden by ``create_app(config)``.

Environment values are parsed as JSON when they parse (``CDS_MAX_CARDS=5`` → 5, ``CDS_DEV_MODE=true`` → True),
otherwise kept as strings — Flask's ``from_prefixed_env`` behaviour.
"""
from __future__ import annotations

from typing import Any, Mapping

ENV_PREFIX = "CDS"

DEFAULTS: dict[str, Any] = {
    # FHIR client (see fhir_adapter.client.ClientSettings)
    "FHIR_CONNECT_TIMEOUT_S": 3.05,
    "FHIR_READ_TIMEOUT_S": 10.0,
    "FHIR_RETRIES": 2,
    "FHIR_BACKOFF_S": 0.2,
    "FHIR_DEADLINE_S": 8.0,  # whole prefetch resolution of one hook call
    "FHIR_PAGE_CAP": 10,
    "FHIR_MAX_ENTRIES": 5000,
    "FHIR_MAX_BODY_BYTES": 32 * 1024 * 1024,  # largest FHIR response read (memory bound)
    # Cards
    "MAX_CARDS": 10,
    # Not-applicable results (e.g. CHA2DS2-VASc without atrial fibrillation, age outside a validated range) are not
    # cards by default: they stay in the findings, which the explainer page shows. True puts them on one card.
    "SHOW_NOT_APPLICABLE": False,
    # The heart-disease demonstration model (a trained MLP, not for clinical use) is a service only when true: off, it
    # is not in discovery and its URL answers 404, so no clinician sees a demonstration score by accident.
    "ENABLE_DEMO_MODEL": False,
    # Order-select / order-sign: an alert about a drafted order (same patient, draft and rule) is shown once in this
    # time, not again at order-sign after order-select (docs/order-checks.md); kept in the database, for all workers.
    "ORDER_ALERT_TTL_S": 12 * 3600,
    # Request handling
    "MAX_BODY_BYTES": 5 * 1024 * 1024,
    "VALIDATE_RESPONSES": True,  # check every response against the CDS Hooks response schema before sending
    "AS_OF": None,  # ISO date to evaluate records at (tests, replays); default: today (UTC)
    "NOW": None,  # ISO date-time of the request clock for recency rules (replays); default: now (UTC)
    # Engine options: vitals recency for NEWS2/qSOFA, KFRE baseline region ("north-american" | "non-north-american").
    "ENGINE_OPTIONS": {"vitals_max_age_h": 24, "kfre_region": "north-american"},
    "LOG_LEVEL": "INFO",
    "LOG_TRACEBACKS": False,
    # Load the sentence encoder and embed the knowledge base at start-up (seconds, once per process) instead of
    # on the first note or question; off in tests and for the offline CLI.
    "WARM_MODELS": True,
    # Security (docs/security.md)
    "DEV_MODE": False,  # True: no client authentication, http fhirServer allowed, loud warning; never in production
    "PUBLIC_BASE_URL": None,  # URL under which /cds-services is reached (behind a proxy); the JWT aud is built from it
    "TRUSTED_ISSUERS": {},  # {iss: {jwks|jwks_file|jwks_url, jku: [...], fhir_servers: [...], tenants, subjects}}
    "TRUSTED_ISSUERS_FILE": None,  # a JSON file of the same shape (TRUSTED_ISSUERS entries win)
    "JWT_ALGORITHMS": ["ES384", "RS384"],  # a subset of these two; nothing else is ever accepted
    # exp at most this far ahead: 5 min, the ceiling SMART Backend Services (v2) sets for client authentication JWTs
    "JWT_MAX_LIFETIME_S": 300,
    "JWT_LEEWAY_S": 30,  # clock skew allowed on exp/iat
    "JWKS_CACHE_S": 3600,  # JWK Sets fetched from jku/jwks_url are reused this long
    "JWKS_REFRESH_MIN_INTERVAL_S": 60,  # an unknown kid refetches a JWK Set at most this often
    "JWKS_FETCH_TIMEOUT_S": 3.0,
    "CORS_ORIGINS": [],  # browser origins allowed to call the service; none by default
    # Storage: feedback, audit, JWT replay
    "DATA_DIR": "./var",  # the SQLite file lives here unless DATABASE_URL is set
    "DATABASE_URL": None,  # any SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db
    # Bring the database schema to the code's newest migration when a process first opens it (docs/database.md);
    # false: refuse a database behind the code until `precision-cds db upgrade` has run (a role without DDL rights).
    "DATABASE_AUTO_UPGRADE": True,
    # SQLite: commit each JWT id seen with an fsync (synchronous=FULL), so that even a power cut cannot forget one;
    # false (default): without, as the explainer evidence - a kill of any process keeps them (docs/security.md).
    "JWT_REPLAY_FSYNC": False,
    # Audit records are committed off the request path in batches (cds_hooks/audit_writer.py): at most this long
    # after the call, or as soon as this many wait; past the queue bound (database refusing) the oldest are dropped.
    "AUDIT_FLUSH_INTERVAL_S": 0.05,
    "AUDIT_BATCH_MAX": 256,
    "AUDIT_QUEUE_MAX": 10_000,
    "FEEDBACK_KEEP_COMMENTS": False,  # free-text override comments may name the patient: kept only when True
    # Feedback that changes what is shown (docs/feedback.md). Feedback names only cards this service issued to the
    # same client at most FEEDBACK_CARD_WINDOW_S ago (the issued cards are kept that long).
    "FEEDBACK_CARD_WINDOW_S": 7 * 24 * 3600,
    # Feedback items one POST may carry (413 above it): a hook call answers with at most MAX_CARDS cards, so this
    # leaves room for an EHR that batches the feedback of several calls, and bounds what one request can cost.
    "FEEDBACK_MAX_ITEMS": 100,
    "SUPPRESSION_ENABLED": True,  # false: feedback is stored and reported, and hides nothing
    # Days an override hides the card for the same patient, by reason code, merged over the defaults of
    # cds_hooks/suppression/policy.py (null: until the inputs change; 0: never hides). Critical cards never hide.
    "SUPPRESSION_DAYS": {},
    "SUPPRESSION_ACCEPTED_DAYS": 30,  # an accepted suggestion: until the record shows it done, at most this long
    # Explainer pages behind the cards (docs/explainer.md): links signed with EXPLAINER_SECRET (>= 32 characters,
    # the same in every worker); without it, no links in production and a per-process random secret in dev mode.
    "EXPLAINER_ENABLED": True,
    "EXPLAINER_SECRET": None,
    "EXPLAINER_TTL_S": 7 * 24 * 3600,  # links and the evidence kept for them live this long after the hook call
}


def load_config(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merged settings; used by create_app and by the CLI (which has no Flask app)."""
    import json
    import os

    env = os.environ if environ is None else environ
    merged = dict(DEFAULTS)
    prefix = ENV_PREFIX + "_"
    for key, raw in env.items():
        if not key.startswith(prefix):
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        merged[key[len(prefix):]] = value
    if overrides:
        merged.update(overrides)
    return merged
