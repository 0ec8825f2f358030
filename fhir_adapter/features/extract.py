"""extract_features: the entry point that runs every feature builder over one patient's resources."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Iterable, Mapping

from engine.inputs import FeatureSet
from fhir_adapter.features.acute_care import consciousness, supplemental_o2
from fhir_adapter.features.conditions import CONDITION_RULES, condition_feature
from fhir_adapter.features.context import VALIDATE_HISTORY_DEFAULT, ExtractionContext
from fhir_adapter.features.demographics import age, ethnicity, race, sex
from fhir_adapter.features.derived import body_size, egfr
from fhir_adapter.features.family_history import family_history_diabetes
from fhir_adapter.features.kidney_replacement import dialysis_or_transplant
from fhir_adapter.features.lifestyle import physical_activity, smoking
from fhir_adapter.features.medications import MEDICATION_RULES, medication_feature
from fhir_adapter.features.oxygen_target import hypercapnic_target
from fhir_adapter.features.pregnancy import pregnant
from fhir_adapter.features.quantities import SIMPLE_QUANTITY_FEATURES, blood_pressure, quantity_feature
from fhir_adapter.features.selection import store
from fhir_adapter.features.windows import DEFAULT_HISTORY_DAYS, DEFAULT_LOOKBACK_DAYS, merged_windows
from fhir_adapter.parse import parse_resources


def extract_features(resources: Iterable[dict] | Mapping, *, as_of: date | None = None,
                     lookback_days: Mapping[str, int] | None = None,
                     patient_id: str | None = None,
                     now: datetime | None = None,
                     options: Mapping[str, Any] | None = None,
                     history_days: Mapping[str, int] | None = None) -> FeatureSet:
    """Build the FeatureSet of one patient at ``as_of`` from FHIR R4 resources.

    ``resources``: resources and/or Bundles (any iterable, or one Bundle/resource dict).
    ``as_of``: the request date; defaults to the date of ``now`` (in its own time zone).
    ``lookback_days``: per-feature overrides of DEFAULT_LOOKBACK_DAYS (keys are feature names).
    ``history_days``: per-feature overrides of DEFAULT_HISTORY_DAYS (never shorter than the look-back).
    ``patient_id``: the request's patient (CDS Hooks context.patientId); resources about anyone
    else are skipped. Without it, the Patient in the input (if any) decides.
    ``now``: the moment of the request, stored in FeatureSet.now (a naive datetime is taken as UTC);
    readings timed after it (beyond 5 minutes of clock skew) are future-dated.
    ``options``: engine options from the service configuration, stored in FeatureSet.options; the
    adapter itself reads "hypercapnic_condition_counts" and "physically_active_min_per_week".
    Never raises on bad input: problems are recorded on the FeatureSet.
    """
    if isinstance(now, datetime) and now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    elif not isinstance(now, datetime):
        now = None
    if as_of is None:
        if now is None:
            raise TypeError("extract_features needs as_of or now")
        as_of = now.date()
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    opts = dict(options) if isinstance(options, Mapping) else {}
    fs = FeatureSet(as_of=as_of, now=now, options=opts)
    ctx = ExtractionContext(as_of=as_of, now=now, lookback=merged_windows(DEFAULT_LOOKBACK_DAYS, lookback_days),
                            history_days=merged_windows(DEFAULT_HISTORY_DAYS, history_days), options=opts,
                            parsed=parse_resources(resources, patient_id=patient_id), fs=fs,
                            validate_history=opts.get("validate_history", VALIDATE_HISTORY_DEFAULT) is True)
    fs.problems.extend(ctx.parsed.problems)
    fs.condition_codes = set(ctx.parsed.condition_codes)

    patient = ctx.parsed.patient
    if patient is None:
        reason = "no usable Patient resource in the input"
        for name in ("age_years", "sex", "race", "ethnicity"):
            fs.mark_missing(name, reason)
    else:
        age(ctx, patient)
        sex(ctx, patient)
        race(ctx, patient)
        ethnicity(ctx, patient)

    for name in SIMPLE_QUANTITY_FEATURES:
        store(fs, name, quantity_feature(ctx, name))
    store(fs, "sbp_mmhg", blood_pressure(ctx, "sbp_mmhg", "sbp"))
    store(fs, "dbp_mmhg", blood_pressure(ctx, "dbp_mmhg", "dbp"))
    store(fs, "smoker_current", smoking(ctx), history=False)
    store(fs, "on_supplemental_o2", supplemental_o2(ctx))
    store(fs, "consciousness_avpu", consciousness(ctx))
    store(fs, "physically_active", physical_activity(ctx), history=False)

    creatinine = quantity_feature(ctx, "creatinine_mgdl")
    store(fs, "creatinine_mgdl", creatinine)
    egfr(ctx, creatinine)
    body_size(ctx)

    for name in CONDITION_RULES:
        condition_feature(ctx, name)
    dialysis_or_transplant(ctx)
    pregnant(ctx)
    family_history_diabetes(ctx)
    hypercapnic_target(ctx)
    for name in MEDICATION_RULES:
        medication_feature(ctx, name)
    return fs
