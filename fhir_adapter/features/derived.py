"""Derived features: BMI from weight and height, eGFR (CKD-EPI 2021) from creatinine, age and sex."""
from __future__ import annotations

from dataclasses import replace

from engine.finding import Evidence, InputProblem
from engine.inputs import feature_label, feature_unit
from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import age_on, chronological_key, day_of
from fhir_adapter.features.plausibility import PLAUSIBLE_RANGE
from fhir_adapter.features.quantities import quantity_feature
from fhir_adapter.features.selection import Selection, store
from fhir_adapter.features.windows import HISTORY_MAX_ENTRIES

# Weight and height are features in their own right and also feed BMI: when BMI is derived from them
# (or cannot be), their problems are repeated under bmi_kgm2 so that a BMI-based card shows them.
_FEEDS_BMI = frozenset({"weight_kg", "height_cm"})


def body_size(ctx: ExtractionContext) -> None:
    """Weight and height as features of their own, and BMI (observed or derived from them)."""
    mark = len(ctx.fs.problems)
    weight = quantity_feature(ctx, "weight_kg")
    height = quantity_feature(ctx, "height_cm")
    body_problems = [p for p in ctx.fs.problems[mark:] if p.name in _FEEDS_BMI]
    store(ctx.fs, "weight_kg", weight)
    store(ctx.fs, "height_cm", height)
    mark = len(ctx.fs.problems)
    _bmi(ctx, weight, height)
    bmi = ctx.fs.get("bmi_kgm2")
    if bmi is None or bmi.derived_from:
        ctx.fs.problems[mark:mark] = [InputProblem(p.source, "bmi_kgm2", p.reason) for p in body_problems]


def _bmi(ctx: ExtractionContext, weight: Selection, height: Selection) -> None:
    """BMI observed, else derived from weight and height; history = observed values plus derived ones."""
    observed = quantity_feature(ctx, "bmi_kgm2")
    ctx.fs.history["bmi_kgm2"] = _bmi_history(observed.history, weight.history, height.latest)
    # An observed BMI wins unless a more recent weight allows a fresher derived value.
    if observed.latest is not None and (weight.latest is None or chronological_key(observed.latest.effective)
                                        >= chronological_key(weight.latest.effective)):
        ctx.fs.put(observed.latest)
        return
    if weight.latest is not None and height.latest is not None:
        derived = _derive_bmi(weight.latest, height.latest)
        if derived is not None:
            ctx.fs.put(derived)
            return
        low, high = PLAUSIBLE_RANGE["bmi_kgm2"]
        value = weight.latest.value / (height.latest.value / 100.0) ** 2
        ctx.problem(None, "bmi_kgm2", f"BMI derived from weight and height is implausible ({value:.3g} kg/m2; "
                                      f"accepted {low:g}-{high:g}); not used")
    if observed.latest is not None:
        ctx.fs.put(observed.latest)
        return
    if weight.latest is None:
        derive = f"cannot derive: {weight.reason}"
    elif height.latest is None:
        derive = f"cannot derive: {height.reason}"
    else:
        derive = "derived value implausible"
    ctx.fs.mark_missing("bmi_kgm2", f"{observed.reason}; {derive}")


def _derive_bmi(weight: Evidence, height: Evidence) -> Evidence | None:
    value = weight.value / (height.value / 100.0) ** 2
    low, high = PLAUSIBLE_RANGE["bmi_kgm2"]
    if not low <= value <= high:
        return None
    # Positional (name, label, value, unit, effective, source, derived_from, note): one per weight in the history.
    return Evidence("bmi_kgm2", feature_label("bmi_kgm2"), value, feature_unit("bmi_kgm2"), weight.effective, None,
                    (weight, height), "derived: weight / height\u00b2")


def _bmi_history(observed: list[Evidence], weights: list[Evidence], height: Evidence | None) -> list[Evidence]:
    """Observed BMIs, plus BMI derived (latest height) for weights with no observed BMI on the same day."""
    days = {day_of(e.effective) for e in observed}
    merged = list(observed)
    if height is not None:
        for weight in weights:
            if day_of(weight.effective) not in days:
                derived = _derive_bmi(weight, height)
                if derived is not None:
                    merged.append(derived)
    merged.sort(key=lambda e: chronological_key(e.effective), reverse=True)
    return merged[:HISTORY_MAX_ENTRIES]


def egfr(ctx: ExtractionContext, creatinine: Selection) -> None:
    """The one eGFR of the patient (docs/calculators.md, "One eGFR per patient"), read by every engine.

    The lab-reported eGFR is used when it is from the same day as the newest creatinine, or newer: a same-day eGFR
    is the laboratory's own statement on that specimen - unless it differs materially from CKD-EPI 2021 recomputed
    from that same-day creatinine (engine.calculators.ckd_epi.reported_egfr_discordant). Then the recomputation is
    used: race-free, the equation the NKF-ASN Task Force (2021) recommends, reproducible from the record, whereas
    the laboratory's equation is not stated (it may be the race-based CKD-EPI 2009 or MDRD) or a result is wrong.
    The derived value carries the lab-reported one in its ``derived_from`` so that the eGFR card names both, and the
    difference is an input problem every eGFR-reading card counts. A newer creatinine gives a fresher CKD-EPI 2021
    value. Days, not times, are compared, so that the value and the history agree.
    """
    observed = quantity_feature(ctx, "egfr_mlmin173m2")
    history = _egfr_history(ctx, observed.history, creatinine.history)
    ctx.fs.history["egfr_mlmin173m2"] = history
    if observed.latest is not None and (creatinine.latest is None or day_of(observed.latest.effective)
                                        >= day_of(creatinine.latest.effective)):
        used = _compared_with_creatinine(ctx, observed.latest, creatinine.latest)
        ctx.fs.put(used)
        if history and history[0] is observed.latest:
            history[0] = used
        return
    derived, derive_reason = _derive_egfr(ctx, creatinine.latest, creatinine.reason)
    if derived is not None:
        ctx.fs.put(derived)
    elif observed.latest is not None:
        ctx.fs.put(observed.latest)
    else:
        ctx.fs.mark_missing("egfr_mlmin173m2", f"{observed.reason}; cannot derive: {derive_reason}")


def _compared_with_creatinine(ctx: ExtractionContext, reported: Evidence, creatinine: Evidence | None) -> Evidence:
    """The lab-reported eGFR with CKD-EPI 2021 from the same-day creatinine in its note; when the two differ
    materially (engine.calculators.ckd_epi.reported_egfr_discordant), the CKD-EPI 2021 recomputation instead, with
    the lab-reported value among what it was derived from, and an input problem that names both."""
    if creatinine is None or day_of(creatinine.effective) != day_of(reported.effective):
        return reported
    recomputed, _ = _derive_egfr(ctx, creatinine, "")
    if recomputed is None:
        return reported
    note = f"lab-reported; CKD-EPI 2021 from the same-day creatinine: {recomputed.value:.1f}"
    try:
        from engine.calculators.ckd_epi import discordance_text, reported_egfr_discordant
    except ImportError:  # the adapter's contract with the calculator is ckd_epi_2021_creatinine only
        return replace(reported, note=f"{reported.note}; {note}" if reported.note else note)
    if reported_egfr_discordant(reported.value, recomputed.value):
        ctx.problem(reported.source, "egfr_mlmin173m2",
                    discordance_text(reported.value, recomputed.value, creatinine.value))
        return replace(recomputed, derived_from=recomputed.derived_from + (reported,),
                       note="CKD-EPI 2021; used instead of the lab-reported eGFR, which differs materially")
    return replace(reported, note=f"{reported.note}; {note}" if reported.note else note)


def _egfr_history(ctx: ExtractionContext, observed: list[Evidence], creatinines: list[Evidence]) -> list[Evidence]:
    """Reported eGFRs, plus CKD-EPI 2021 eGFR for each creatinine with no reported eGFR on the same day."""
    days = {day_of(e.effective) for e in observed}
    merged = list(observed)
    for creatinine in creatinines:
        if day_of(creatinine.effective) in days:
            continue
        derived, _ = _derive_egfr(ctx, creatinine, "")
        if derived is not None:
            merged.append(derived)
    merged.sort(key=lambda e: chronological_key(e.effective), reverse=True)
    return merged[:HISTORY_MAX_ENTRIES]


def _derive_egfr(ctx: ExtractionContext, creatinine: Evidence | None,
                 creatinine_reason: str) -> tuple[Evidence | None, str]:
    if creatinine is None:
        return None, creatinine_reason
    if id(creatinine) not in ctx.egfr_cache:
        ctx.egfr_cache[id(creatinine)] = _compute_egfr(ctx, creatinine)
    return ctx.egfr_cache[id(creatinine)]


def _compute_egfr(ctx: ExtractionContext, creatinine: Evidence) -> tuple[Evidence | None, str]:
    age, sex = ctx.fs.get("age_years"), ctx.fs.get("sex")
    if age is None:
        return None, "age unknown"
    if sex is None:
        return None, "sex unknown"
    # CKD-EPI takes the age at the time of the measurement.
    measured = day_of(creatinine.effective)
    if ctx.born is not None and measured is not None and age_on(ctx.born, measured) != age.value:
        # Positional, as below: one per creatinine in the history.
        age = Evidence("age_years", feature_label("age_years"), age_on(ctx.born, measured), "years", measured,
                       age.source, (), "age at the creatinine date")
    try:
        from engine.calculators.ckd_epi import ckd_epi_2021_creatinine
    except ImportError:
        return None, "CKD-EPI 2021 calculator not available"
    try:
        value = float(ckd_epi_2021_creatinine(creatinine_mgdl=float(creatinine.value),
                                              age_years=float(age.value), sex=str(sex.value)))
    except ValueError as exc:  # e.g. age under 18; the calculator's messages carry no patient values
        return None, f"CKD-EPI 2021 not applicable: {exc}"
    except Exception as exc:  # noqa: BLE001 - a calculator bug must not fail the whole hook
        return None, f"CKD-EPI 2021 could not be computed ({type(exc).__name__})"
    low, high = PLAUSIBLE_RANGE["egfr_mlmin173m2"]
    if not low <= value <= high:
        return None, f"derived eGFR implausible ({value:.3g})"
    return Evidence("egfr_mlmin173m2", feature_label("egfr_mlmin173m2"), value, feature_unit("egfr_mlmin173m2"),
                    creatinine.effective, None, (creatinine, age, sex), "CKD-EPI 2021"), ""
