"""GET /cds-services: the discovery document, generated from the service declarations."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from cds_hooks.declaration import SERVICES

bp = Blueprint("discovery", __name__)


def discovery_document(config=None) -> dict:
    """Every declared service, less those switched off by their setting (``enabled_by``) when ``config`` is given."""
    return {"services": [definition.discovery_entry() for definition in SERVICES
                         if config is None or definition.enabled(config)]}


@bp.get("/cds-services")
def discovery():
    return jsonify(discovery_document(current_app.config))
