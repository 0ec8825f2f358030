"""encounter-start: acute deterioration scores (NEWS2, qSOFA) from recent vital signs.

The ``@service`` declaration derives the prefetch from the features the two scores read: the vital-sign
observations, and what documents a hypercapnic SpO2 target for NEWS2 scale 2 (an active Goal, a NEWS2 scale-2
observation, or - when the service option allows - the problem list). The Encounter itself is not fetched: neither
score reads it, and the vitals are found by patient.
"""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service

ACUTE_ENGINES = ("news2", "qsofa")


@service(
    id="acute-deterioration-scores",
    hook="encounter-start",
    title="Acute deterioration scores (NEWS2, qSOFA)",
    description=(
        "At the start of an encounter: NEWS2 (Royal College of Physicians 2017, SpO2 scale 2 when a hypercapnic "
        "target is documented) and qSOFA (Seymour 2016) from recent vital signs (24 hours by default); older vitals "
        "give no score but say what to measure."
    ),
    engines=ACUTE_ENGINES,
)
def acute_deterioration_scores(call: HookCall):
    return call.run_engines()
