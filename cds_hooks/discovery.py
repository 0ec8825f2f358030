"""GET /cds-services: the discovery document, generated from the service declarations."""
from __future__ import annotations

from flask import Blueprint, jsonify

from cds_hooks.declaration import SERVICES

bp = Blueprint("discovery", __name__)


def discovery_document() -> dict:
    return {"services": [definition.discovery_entry() for definition in SERVICES]}


@bp.get("/cds-services")
def discovery():
    return jsonify(discovery_document())
