"""Runs engines in isolation and in two phases.

Phase 1: calculators, detectors, models and note engines, each on the features alone. Phase 2: rules
(``RuleEngine``), each given only the findings of the phase-1 engines it names in ``reads_findings``. An engine
that raises, in either phase, becomes an error finding; the other engines and the hook go on.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from engine.base import Engine, RuleEngine
from engine.finding import Finding, Status
from engine.inputs import FeatureSet

log = logging.getLogger(__name__)


def run_engines(engines: Iterable[Engine], features: FeatureSet) -> list[Finding]:
    """Findings of every engine: phase-1 engines in the order given, then the rules in the order given."""
    engines = list(engines)
    rules = [e for e in engines if isinstance(e, RuleEngine)]
    findings: list[Finding] = []
    by_engine: dict[str, list[Finding]] = {}
    for engine in engines:
        if isinstance(engine, RuleEngine):
            continue
        produced = run_isolated(engine, lambda engine=engine: engine.evaluate(features))
        by_engine.setdefault(engine.id, []).extend(produced)
        findings.extend(produced)
    for rule in rules:
        absent = [engine_id for engine_id in rule.reads_findings if engine_id not in by_engine]
        if absent:
            # The service declaration refuses this; an engine list built by hand can still get here.
            log.error("rule %s reads engines that did not run: %s", rule.id, ", ".join(absent))
            findings.append(rule.finding(Status.ERROR, message=(
                f"{rule.title} could not be evaluated: it reads {', '.join(absent)}, which did not run.")))
            continue
        read = tuple(f for engine_id in rule.reads_findings for f in by_engine[engine_id])
        findings.extend(run_isolated(rule, lambda rule=rule, read=read: rule.evaluate(features, read)))
    return findings


def run_isolated(engine: Engine, evaluate: Callable[[], list[Finding]]) -> list[Finding]:
    """``evaluate()``'s findings, or one error finding of ``engine`` when it raises."""
    try:
        return list(evaluate())
    except Exception as exc:  # noqa: BLE001 - isolation is the point
        # Log the engine and exception type only: messages may quote patient values.
        log.error("engine %s failed: %s", engine.id, type(exc).__name__)
        return [engine.finding(Status.ERROR, message=f"{engine.title} could not be evaluated (internal error).")]
