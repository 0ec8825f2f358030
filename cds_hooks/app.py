"""Application factory (Flask tutorial style): ``create_app(config=None)``."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from cds_hooks.config import load_config
from cds_hooks.logs import configure_logging
from cds_hooks.json_codec import OrjsonProvider


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.json = OrjsonProvider(app)  # request bodies and responses through orjson
    app.config.update(load_config(config))
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.json.sort_keys = False  # keep card fields in spec order
    configure_logging(app.config["LOG_LEVEL"])  # first: the start-up warnings below go through it too

    from cds_hooks import (audit, auth, cors, discovery, errors, explainer, feedback, hooks, qa, services, store,
                           suppression)

    services.load_all()
    errors.init_app(app)
    store.init_app(app)  # lazy: the database is opened by the first request of each process
    suppression.init_app(app)  # what feedback hides, per patient (docs/feedback.md)
    audit.init_app(app)  # before auth, so the audited latency includes authentication
    auth.init_app(app)
    cors.init_app(app)
    app.register_blueprint(discovery.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(feedback.bp)
    app.register_blueprint(qa.bp)
    explainer.init_app(app)  # the "How this was calculated" pages; opened by a browser with a signed token, no JWT
    if app.config["WARM_MODELS"]:
        services.warm_models()
    return app
