"""extract_features: the entry point that runs every feature builder over one patient's resources."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Iterable, Mapping

from engine.feature_catalog import FEATURE_SPECS, with_dependencies
from engine.inputs import FeatureSet
from fhir_adapter.features.acute_care import consciousness, supplemental_o2
from fhir_adapter.features.allergies import allergy_list, statin_intolerance
from fhir_adapter.features.conditions import CONDITION_RULES, condition_feature
from fhir_adapter.features.context import VALIDATE_HISTORY_DEFAULT, ExtractionContext
from fhir_adapter.features.demographics import age, ethnicity, race, race_category, sex
from fhir_adapter.features.derived import body_size, egfr
from fhir_adapter.features.family_history import family_history_diabetes
from fhir_adapter.features.genomics import gene_results
from fhir_adapter.features.kidney_replacement import dialysis_or_transplant, on_dialysis
from fhir_adapter.features.lifestyle import physical_activity, smoking
from fhir_adapter.features.medications import MEDICATION_RULES, medication_feature, medication_list
from fhir_adapter.features.observation_reads import observation_reads
from fhir_adapter.features.oxygen_target import hypercapnic_target
from fhir_adapter.features.pregnancy import pregnant
from fhir_adapter.features.quantities import SIMPLE_QUANTITY_FEATURES, quantity_feature
from fhir_adapter.features.selection import store
from fhir_adapter.features.windows import DEFAULT_HISTORY_DAYS, DEFAULT_LOOKBACK_DAYS, merged_windows
from fhir_adapter.parse import parse_resources


def extract_features(resources: Iterable[dict] | Mapping, *, as_of: date | None = None,
                     lookback_days: Mapping[str, int] | None = None,
                     patient_id: str | None = None,
                     now: datetime | None = None,
                     options: Mapping[str, Any] | None = None,
                     history_days: Mapping[str, int] | None = None,
                     features: Iterable[str] | None = None) -> FeatureSet:
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
    ``features``: the features the caller's engines read (None: every feature). Only those and the features they are
    derived from (``depends_on`` in engine/feature_catalog.py: eGFR needs creatinine, age and sex; BMI weight and
    height) are built; the others are absent from the FeatureSet. Parse problems and ``condition_codes`` are kept
    whatever is asked for.
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
    wanted = set(FEATURE_SPECS) if features is None else with_dependencies(features)
    lookback = merged_windows(DEFAULT_LOOKBACK_DAYS, lookback_days)
    history = merged_windows(DEFAULT_HISTORY_DAYS, history_days)
    # Observations no wanted feature can use (other concepts, dropped statuses, older than every window) are not
    # parsed at all (fhir_adapter/features/observation_reads.py).
    reads = observation_reads(wanted, as_of=as_of, lookback=lookback, history_days=history)
    ctx = ExtractionContext(as_of=as_of, now=now, lookback=lookback, history_days=history, options=opts,
                            parsed=parse_resources(resources, patient_id=patient_id, observation_reads=reads), fs=fs,
                            validate_history=opts.get("validate_history", VALIDATE_HISTORY_DEFAULT) is True)
    fs.problems.extend(ctx.parsed.problems)
    fs.condition_codes = set(ctx.parsed.condition_codes)

    def needed(*names: str) -> bool:
        return not wanted.isdisjoint(names)

    demographics = [(name, build) for name, build in (("age_years", age), ("sex", sex), ("race", race),
                                                        ("ethnicity", ethnicity),
                                                        ("race_omb_category", race_category)) if needed(name)]
    patient = ctx.parsed.patient
    for name, build in demographics:
        if patient is None:
            fs.mark_missing(name, "no usable Patient resource in the input")
        else:
            build(ctx, patient)

    for name in SIMPLE_QUANTITY_FEATURES:
        if needed(name):
            store(fs, name, quantity_feature(ctx, name))
    for name in ("sbp_mmhg", "dbp_mmhg"):
        if needed(name):
            store(fs, name, quantity_feature(ctx, name))
    if needed("smoker_current"):
        store(fs, "smoker_current", smoking(ctx), history=False)
    if needed("on_supplemental_o2"):
        store(fs, "on_supplemental_o2", supplemental_o2(ctx))
    if needed("consciousness_avpu"):
        store(fs, "consciousness_avpu", consciousness(ctx))
    if needed("physically_active"):
        store(fs, "physically_active", physical_activity(ctx), history=False)

    if needed("creatinine_mgdl"):  # also wanted whenever eGFR is, which may be derived from it
        creatinine = quantity_feature(ctx, "creatinine_mgdl")
        store(fs, "creatinine_mgdl", creatinine)
        if needed("egfr_mlmin173m2"):
            egfr(ctx, creatinine)
    if needed("weight_kg", "height_cm", "bmi_kgm2"):
        body_size(ctx)

    for name in CONDITION_RULES:
        if needed(name):
            condition_feature(ctx, name)
    if needed("dialysis_or_transplant"):
        dialysis_or_transplant(ctx)
    if needed("on_dialysis"):
        on_dialysis(ctx)
    if needed("pregnant"):
        pregnant(ctx)
    if needed("family_history_diabetes"):
        family_history_diabetes(ctx)
    if needed("hypercapnic_target"):
        hypercapnic_target(ctx)
    for name in MEDICATION_RULES:
        if needed(name):
            medication_feature(ctx, name)
    if needed("statin_intolerance"):
        statin_intolerance(ctx)
    # The medication list, allergies and genomic results are always built: treatment and safety rules read them, and they are cheap
    # (the records are already parsed).
    medication_list(ctx)
    allergy_list(ctx)
    gene_results(ctx)

    # A declared feature that no rule above reads (yet) is missing with that reason, not silently absent.
    for name in FEATURE_SPECS:
        if name in wanted and name not in fs.values and name not in fs.missing:
            fs.mark_missing(name, "the adapter does not read this feature from the record")
    return fs
