"""GET /cds-services: the discovery document, generated from the service declarations."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from cds_hooks.declaration import SERVICES

bp = Blueprint("discovery", __name__)
BODIES = "cds_discovery_bodies"  # app.extensions key: the encoded document by the declarations shown
MAX_BODIES = 64


def discovery_document(config=None) -> dict:
    """Every declared service, less those switched off by their setting (``enabled_by``) when ``config`` is given."""
    return _document_of(d for d in SERVICES if config is None or d.enabled(config))


def _document_of(definitions) -> dict:
    return {"services": [definition.discovery_entry() for definition in definitions]}


@bp.get("/cds-services")
def discovery():
    # The document depends only on which declarations are on (and on debug, which makes Flask indent JSON; the app's
    # other JSON settings are fixed once it serves), so it is encoded once per combination seen - a handful - instead
    # of being rebuilt and encoded on every call. Which are on is read on every call: a setting changed in app.config
    # after start-up (tests do) still shows at once. The body is made from the same declarations as its key, and the
    # entry keeps them, so their ids in the key cannot be reused by others meanwhile.
    app = current_app
    shown = tuple(definition for definition in SERVICES if definition.enabled(app.config))
    key = (tuple(map(id, shown)), app.debug)
    bodies = app.extensions.setdefault(BODIES, {})
    entry = bodies.get(key)
    if entry is None:
        if len(bodies) >= MAX_BODIES:
            bodies.clear()
        entry = bodies[key] = (shown, jsonify(_document_of(shown)).get_data())
    return app.response_class(entry[1], mimetype=app.json.mimetype)
