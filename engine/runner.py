"""Runs engines in isolation: one engine's failure becomes an error finding, never a failed hook."""
from __future__ import annotations

import logging
from typing import Iterable

from engine.base import Engine
from engine.finding import Finding, Status
from engine.inputs import FeatureSet

log = logging.getLogger(__name__)


def run_engines(engines: Iterable[Engine], features: FeatureSet) -> list[Finding]:
    findings: list[Finding] = []
    for engine in engines:
        try:
            findings.extend(engine.evaluate(features))
        except Exception as exc:  # noqa: BLE001 - isolation is the point
            # Log the engine and exception type only: messages may quote patient values.
            log.error("engine %s failed: %s", engine.id, type(exc).__name__)
            findings.append(
                engine.finding(Status.ERROR, message=f"{engine.title} could not be evaluated (internal error).")
            )
    return findings
