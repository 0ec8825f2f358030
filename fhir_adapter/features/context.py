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
    # now + CLOCK_SKEW, the latest moment not in the future (worked out once: is_future runs for every reading).
    _now_limit: datetime | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._now_limit = self.now + CLOCK_SKEW if self.now is not None else None

    def problem(self, source: str | None, name: str | None, reason: str) -> None:
        self.fs.problems.append(InputProblem(source, name, reason))

    def is_future(self, when: date | datetime | None) -> bool:
        """Whether ``when`` is in the future relative to the request: on a day after as_of, or (a time with its zone)
        more than CLOCK_SKEW after now. The one test behind future_reason, and the reading selection's."""
        day = when.date() if isinstance(when, datetime) else when
        if day is not None and day > self.as_of:
            return True
        limit = self._now_limit
        return limit is not None and isinstance(when, datetime) and when.tzinfo is not None and when > limit

    def future_reason(self, when: date | datetime) -> str | None:
        """Why ``when`` is in the future relative to the request (see is_future), or None."""
        if not self.is_future(when):
            return None
        day = day_of(when)
        if day is not None and day > self.as_of:
            return f"dated in the future ({day.isoformat()}); not used"
        return f"timed after the request time ({when.isoformat()}); not used"
