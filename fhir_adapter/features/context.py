"""The state of one extract_features call, shared by the feature builders."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from engine.finding import Evidence, InputProblem
from engine.inputs import FeatureSet
from fhir_adapter.features.dates import day_of
from fhir_adapter.parse import ParsedRecord

# Full FHIR model validation costs ~0.3 ms per resource, so by default it is applied to the value
# chosen for FeatureSet.values (and to every Condition, medication, Procedure, Goal or family history
# used), not to the older history entries, which pass every other rule. options["validate_history"]
# = True validates those too (offline evaluation); a resource already found invalid is never used.
VALIDATE_HISTORY_DEFAULT = False

# A reading timed this far after FeatureSet.now is future-dated; less is clock skew between systems.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class ExtractionContext:
    """One extract_features call: the request (date, clock, windows, options), the parsed record and the
    FeatureSet being built."""

    as_of: date
    now: datetime | None
    lookback: dict[str, int]
    history_days: dict[str, int]
    options: Mapping[str, Any]
    parsed: ParsedRecord
    fs: FeatureSet
    born: date | None = None
    validate_history: bool = VALIDATE_HISTORY_DEFAULT
    egfr_cache: dict[int, tuple[Evidence | None, str]] = field(default_factory=dict)

    def problem(self, source: str | None, name: str | None, reason: str) -> None:
        self.fs.problems.append(InputProblem(source, name, reason))

    def future_reason(self, when: date | datetime) -> str | None:
        """Why ``when`` is in the future relative to the request, or None."""
        day = day_of(when)
        if day is not None and day > self.as_of:
            return f"dated in the future ({day.isoformat()}); not used"
        if (self.now is not None and isinstance(when, datetime) and when.tzinfo is not None
                and when > self.now + CLOCK_SKEW):
            return f"timed after the request time ({when.isoformat()}); not used"
        return None
