"""The record -> features adapter: FHIR resources in, an engine.inputs.FeatureSet out.

Every feature is either an Evidence (value in the canonical unit, unit, date, source reference,
conversion / derivation note) or a MissingInput with a reason; every value that was present but
not used (invalid resource, unknown unit, implausible, stale, future-dated, censored, not final)
is an InputProblem. Lab and vital-sign features also get a history: every usable value inside
the feature's history window, newest first. Rules, windows and bounds are documented in
docs/features.md.

Modules: ``extract`` (extract_features, the entry point), ``observation_reads`` (which Observations are
parsed at all), ``context`` (per-call state),
``windows`` (look-back / history windows), ``selection`` (newest usable reading + history),
``plausibility``, ``quantities`` (labs, vitals, BP), ``lifestyle`` (smoking, physical activity),
``acute_care`` (ACVPU, supplemental O2), ``demographics``, ``derived`` (BMI, eGFR),
``conditions`` (problem list), ``kidney_replacement``, ``pregnancy``, ``family_history``,
``oxygen_target`` (88-92 % SpO2 target), ``medications``, ``evidence`` and ``dates`` (helpers).
Import from this package, not from the modules.
"""
from fhir_adapter.features.context import CLOCK_SKEW, VALIDATE_HISTORY_DEFAULT
from fhir_adapter.features.demographics import OMB_BLACK, OMB_HISPANIC, OMB_NOT_HISPANIC, OMB_WHITE
from fhir_adapter.features.extract import extract_features
from fhir_adapter.features.lifestyle import PHYSICALLY_ACTIVE_MIN_PER_WEEK
from fhir_adapter.features.plausibility import PLAUSIBLE_RANGE
from fhir_adapter.features.windows import DEFAULT_HISTORY_DAYS, DEFAULT_LOOKBACK_DAYS, HISTORY_MAX_ENTRIES

__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_HISTORY_DAYS",
    "DEFAULT_LOOKBACK_DAYS",
    "HISTORY_MAX_ENTRIES",
    "OMB_BLACK",
    "OMB_HISPANIC",
    "OMB_NOT_HISPANIC",
    "OMB_WHITE",
    "PHYSICALLY_ACTIVE_MIN_PER_WEEK",
    "PLAUSIBLE_RANGE",
    "VALIDATE_HISTORY_DEFAULT",
    "extract_features",
]
