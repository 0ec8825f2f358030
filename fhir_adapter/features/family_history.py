"""family_history_diabetes: FamilyMemberHistory of a first-degree relative, or the problem-list finding."""
from __future__ import annotations

from dataclasses import replace

from engine.finding import Evidence
from engine.inputs import feature_label
from fhir_adapter.features.conditions import condition_evidence, qualifying_conditions
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key
from fhir_adapter.features.evidence import absent_evidence, matching_coding

_DROPPED_FAMILY_HISTORY = frozenset({"entered-in-error", "health-unknown"})


def family_history_diabetes(ctx: ExtractionContext) -> None:
    """First-degree relative with diabetes (FamilyMemberHistory), or the finding on the patient's problem list."""
    name = "family_history_diabetes"
    second_degree: list[str] = []
    unknown_degree: list[str] = []
    for fmh in sorted(ctx.parsed.family_history, key=lambda f: chronological_key(f.date), reverse=True):
        if fmh.status in _DROPPED_FAMILY_HISTORY:
            continue
        who = fmh.relationship_text or next((c.display or c.code for c in fmh.relationship if c.code), None) or "?"
        if "family_first_degree" in fmh.relationship_concepts:
            invalid = ctx.parsed.check(fmh, name)
            if invalid is not None:
                ctx.fs.problems.append(invalid)
                continue
            cond = next(c for c in fmh.conditions if c.concepts)
            coding = matching_coding(cond.codes, "diabetes")
            note = f"first-degree relative ({who}) with {coding.label() if coding else 'diabetes'}"
            ctx.fs.put(Evidence(name=name, label=feature_label(name), value=True, effective=fmh.date,
                                source=fmh.ref, note=note))
            return
        (second_degree if "family_second_degree" in fmh.relationship_concepts else unknown_degree).append(who)
    found, _ = qualifying_conditions(ctx, name, ("family_history_diabetes_finding",), True)
    if found:
        evidence = condition_evidence(name, found[0], ("family_history_diabetes_finding",), True)
        ctx.fs.put(replace(evidence, note=f"{evidence.note}; relative's degree not recorded"))
        return
    negatives, _ = qualifying_conditions(ctx, name, ("no_family_history_diabetes_finding",), True)
    note = "no first-degree relative with diabetes recorded (FamilyMemberHistory or problem list)"
    if second_degree:
        note += "; second-degree relative(s) only: " + ", ".join(second_degree)
    if unknown_degree:
        note += "; relationship not a recognised blood relative: " + ", ".join(unknown_degree)
    if negatives:
        ctx.fs.put(Evidence(name=name, label=feature_label(name), value=False, effective=negatives[0].onset,
                            source=negatives[0].ref, note="recorded: no family history of diabetes"
                            + (f"; {note}" if second_degree or unknown_degree else "")))
        return
    ctx.fs.put(absent_evidence(name, note))
