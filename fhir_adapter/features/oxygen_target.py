"""hypercapnic_target: a documented 88-92 % SpO2 target (Goal, NEWS2 scale-2 Observation, or option)."""
from __future__ import annotations

from dataclasses import replace

from engine.finding import Evidence
from engine.inputs import feature_label
from fhir_adapter import units
from fhir_adapter.features.conditions import condition_evidence, qualifying_conditions
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key, day_of
from fhir_adapter.features.evidence import absent_evidence
from fhir_adapter.features.selection import readings_of, select
from fhir_adapter.parse import SPO2_TARGET_TEXT, GoalRecord

_ACTIVE_GOAL = frozenset({"active", "accepted"})


def _spo2_goal_note(goal: GoalRecord) -> str | None:
    """How ``goal`` documents an 88-92 % SpO2 target, or None if it does not."""
    for target in goal.targets:
        if "spo2" not in target.concepts or target.high is None:
            continue
        try:
            high = units.convert_quantity(target.high.as_mapping(), "percent").value
            low = units.convert_quantity(target.low.as_mapping(), "percent").value if target.low else None
        except units.UnitError:
            continue
        # BTS 2017 oxygen guideline (O'Driscoll BR et al., Thorax 2017;72:i1): 88-92 % for patients at risk of
        # hypercapnic respiratory failure, 94-98 % otherwise; an upper limit of 92 % or less is the former.
        if 85.0 <= high <= 92.0 and (low is None or low <= high):
            shown = f"{low:g}-{high:g} %" if low is not None else f"<= {high:g} %"
            return f"SpO2 target {shown} (Goal)"
    if goal.description and SPO2_TARGET_TEXT.search(goal.description):
        return f"SpO2 target in the goal text '{goal.description[:60]}'"
    return None


def hypercapnic_target(ctx: ExtractionContext) -> None:
    """A documented 88-92 % SpO2 target: an active Goal, or a NEWS2 scale-2 observation (see docs)."""
    name = "hypercapnic_target"
    for goal in sorted(ctx.parsed.goals, key=lambda g: chronological_key(g.start), reverse=True):
        if goal.lifecycle_status not in _ACTIVE_GOAL:
            continue
        start = day_of(goal.start)
        if start is not None and start > ctx.as_of:
            continue
        note = _spo2_goal_note(goal)
        if note is None:
            continue
        invalid = ctx.parsed.check(goal, name)
        if invalid is not None:
            ctx.fs.problems.append(invalid)
            continue
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, effective=goal.start,
                            source=goal.ref, note=note))
        return
    scale2 = select(ctx, name, readings_of(ctx.parsed, "news2_spo2_scale2"),
                    lambda r: (True, "NEWS2 SpO2 scale 2 recorded"), keep_history=False)
    if scale2.latest is not None:
        ctx.fs.put(scale2.latest)
        return
    found, _ = qualifying_conditions(ctx, name, ("hypercapnic_respiratory_failure",), False)
    if found and ctx.options.get("hypercapnic_condition_counts") is True:
        evidence = condition_evidence(name, found[0], ("hypercapnic_respiratory_failure",), False)
        ctx.fs.put(replace(evidence, note=f"{evidence.note}; hypercapnic respiratory failure taken as the "
                                          f"88-92 % target (service option)"))
        return
    note = "no documented 88-92 % SpO2 target (active Goal or NEWS2 scale-2 observation)"
    if found:
        note += (f"; hypercapnic respiratory failure is on the problem list ({found[0].ref}) but the RCP 2017 "
                 f"NEWS2 report asks for a prescribed target before scale 2 is used")
    ctx.fs.put(absent_evidence(name, note))
