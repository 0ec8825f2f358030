"""encounter-start: acute deterioration scores (NEWS2, qSOFA) from recent vital signs.

The prefetch is derived from the features the two scores read (``feature_prefetch.prefetch_for``): the vital-sign
observations, and what documents a hypercapnic SpO2 target for NEWS2 scale 2 (an active Goal, a NEWS2 scale-2
observation, or - when the service option allows - the problem list). The Encounter itself is not fetched: neither
score reads it, and the vitals are found by patient.
"""
from __future__ import annotations

from cds_hooks.declaration import HookCall, service
from cds_hooks.services.feature_prefetch import prefetch_for

ACUTE_ENGINES = ("news2", "qsofa")
# Exactly the features NEWS2 and qSOFA read (checked by tests/protocol/test_services_issue3.py).
ACUTE_FEATURES = (
    "respiratory_rate_min", "spo2_pct", "on_supplemental_o2", "sbp_mmhg", "heart_rate_min", "temperature_c",
    "consciousness_avpu", "gcs_total", "hypercapnic_target", "age_years", "pregnant",
)


@service(
    id="acute-deterioration-scores",
    hook="encounter-start",
    title="Acute deterioration scores (NEWS2, qSOFA)",
    description=(
        "At the start of an encounter: NEWS2 (Royal College of Physicians 2017, SpO2 scale 2 when a hypercapnic "
        "target is documented) and qSOFA (Seymour 2016) from recent vital signs (24 hours by default); older vitals "
        "give no score but say what to measure."
    ),
    prefetch=prefetch_for(ACUTE_FEATURES),
    engines=ACUTE_ENGINES,
)
def acute_deterioration_scores(call: HookCall):
    return call.run_engines()
