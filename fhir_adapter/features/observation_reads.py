"""Which Observations one extraction reads, so that the others are never fully parsed.

A record of ten years holds thousands of Observations; a service reads a few concepts, and each feature only the
readings inside its history window (engine/feature_catalog.py). Before the full parse (fhir_adapter.parse), each
Observation is looked at cheaply - its codes, status and date - and skipped when no feature being extracted could
use it:

* its codes are none of the concepts the features being extracted read;
* its status is entered-in-error or cancelled (selection ignores those as if never recorded);
* it is older than the history window of every feature that reads it (the *stale* ones), except the newest stale
  reading of each reading list: selection names the newest stale value in its "latest result (date) is older than
  the look-back" reason, so that one is kept (ties included).

The features built are exactly those of a full parse. ``covers`` lets the selection helpers check, on every read,
that a builder asks only for Observations this plan kept (an unplanned read raises instead of silently missing data).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Iterable, Mapping, Sequence

from fhir_adapter.features.quantities import quantity_spec
from fhir_adapter.parse.candidates import NOT_OURS, READ, SKIP, STALE, Stale, observation_concepts
from fhir_adapter.parse.datatypes import read_coded
from fhir_adapter.parse.dates import parse_fhir_datetime
from fhir_adapter.parse.json_values import list_or_empty
from fhir_adapter.parse.resources import observation_effective

# Statuses selection drops before anything else (fhir_adapter.features.selection._DROPPED_OBS_STATUS).
DROPPED_STATUS = frozenset({"entered-in-error", "cancelled"})

# The Observations each feature builder reads besides the quantity features (which read the first value set of
# their catalogue entry, and components of its first panel value set): concepts read as whole Observations, and
# concepts read as components of any Observation (supplemental oxygen: oxygen flow and FiO2 ride on the SpO2
# reading). Keep in step with the builders; ``ObservationReads.covers`` fails loudly when they drift apart.
_OTHER_READS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "smoker_current": (("smoking_status",), ()),
    "on_supplemental_o2": (("o2_flow", "fio2", "o2_device"), ("o2_flow", "fio2")),
    "consciousness_avpu": (("consciousness",), ()),
    "physically_active": (("pa_minutes_per_week", "pa_days_per_week", "pa_minutes_per_day"), ()),
    "pregnant": (("pregnancy_status", "pregnancy_test"), ()),
    "hypercapnic_target": (("news2_spo2_scale2",), ()),
}
# Built in one step whenever any of them is wanted (fhir_adapter.features.derived.body_size).
_BODY_SIZE = frozenset({"weight_kg", "height_cm", "bmi_kgm2"})


@dataclass(frozen=True)
class ObservationReads:
    """The Observations the features of one extraction read, and the earliest day each concept can matter from."""

    as_of: date
    # Concept read as a whole Observation or as a panel -> days back that can matter (None: any date).
    windows: Mapping[str, int | None]
    panels: frozenset[str]  # concepts whose components are read (blood-pressure and vital-signs panels)
    panel_parts: Mapping[str, frozenset[str]] = field(default_factory=dict)  # panel -> the component concepts read
    # Components read in any Observation of ours, and how far back (None: any date); empty: none.
    anywhere: frozenset[str] = frozenset()
    anywhere_window: int | None = None
    # Worked out once per extraction: days back -> the first day that can matter; concepts -> _remember_window.
    _cutoffs: dict[int, date] = field(default_factory=dict, compare=False, repr=False)
    _windows_of: dict[tuple[str, ...], tuple[bool, int | None]] = field(default_factory=dict, compare=False,
                                                                         repr=False)

    def covers(self, concept: str, panel: str | None = None, anywhere: bool = False) -> bool:
        """Whether Observations of ``concept`` (components of ``panel``, or components anywhere) were kept."""
        if anywhere:
            return concept in self.anywhere
        return concept in self.windows and (panel is None or panel in self.panels)

    def _remember_window(self, concepts: tuple[str, ...]) -> tuple[bool, int | None]:
        """(read at all, days back that can matter) for an Observation coded with ``concepts``, worked out and kept
        in _windows_of, which ``look`` reads first."""
        found = self._windows_of[concepts] = self._work_out_window(concepts)
        return found

    def _work_out_window(self, concepts: tuple[str, ...]) -> tuple[bool, int | None]:
        read = bool(self.anywhere)
        days: int | None = self.anywhere_window if read else 0
        for concept in concepts:
            if concept not in self.windows:
                continue
            window = self.windows[concept]
            if not read:
                read, days = True, window
            elif days is not None:
                days = None if window is None else max(days, window)
        return read, days

    def look(self, resource: Mapping, concepts: tuple[str, ...] | None = None
             ) -> tuple[int, tuple[str, ...], date | datetime | None]:
        """What this extraction does with one Observation, looked at cheaply (codes, status, date): ``NOT_OURS`` (no
        Observation concept of ours in its code: the parse drops it, as it always did), ``SKIP`` (ours, but no
        feature of the extraction can use it), ``READ``, or ``STALE`` (older than every window that reads it: read
        only if :meth:`stale_kept` keeps it). With its concepts, and for one to read or a stale one its
        ``observation_effective`` (so that it is worked out once). ``concepts``: its ``observation_concepts``, when
        the caller has already worked them out."""
        if concepts is None:
            concepts = observation_concepts(resource)
        if not concepts:
            return NOT_OURS, concepts, None
        window = self._windows_of.get(concepts)
        read, days = window if window is not None else self._remember_window(concepts)
        status = resource.get("status")
        if not read or (isinstance(status, str) and status in DROPPED_STATUS):  # a blank status is in no set
            return SKIP, concepts, None
        # observation_effective, its first choice tried here first: the usual Observation has it.
        when = parse_fhir_datetime(resource.get("effectiveDateTime"))
        if when is None:
            when = observation_effective(resource)
        if days is None:
            return READ, concepts, when
        cutoff = self._cutoffs.get(days)
        if cutoff is None:
            cutoff = self._cutoffs[days] = self.as_of - timedelta(days=days)
        day = when.date() if isinstance(when, datetime) else when  # day_of
        if day is not None and day < cutoff:
            return STALE, concepts, when
        return READ, concepts, when

    def stale_kept(self, stale: Sequence[Stale]) -> set[int]:
        """The stale Observations that are the newest (ties included) of some reading list a builder makes: the
        Observations of a concept, the ``k`` components of a panel, the ``k`` components of any Observation."""
        kept: set[int] = set()
        newest: dict[str, datetime] = {}
        windows = self.windows
        for s in stale:
            moment = s.moment
            for concept in s.concepts:
                if concept in windows:
                    found = newest.get(concept)
                    if found is None or moment > found:
                        newest[concept] = moment
        with_components = []
        for s in stale:
            moment = s.moment
            for concept in s.concepts:
                if newest.get(concept) == moment:  # None (a concept no window reads) is never a moment
                    kept.add(s.index)
                    break
            components = s.resource.get("component")
            if type(components) is list and components:
                with_components.append(s)
        groups = [(panel, [s for s in with_components if panel in s.concepts], self.panel_parts.get(panel, frozenset()))
                  for panel in self.panels]
        if self.anywhere:
            groups.append((None, with_components, self.anywhere))
        component_concepts: dict[int, set[str]] = {}  # Stale.index -> its component concepts (read once)
        for _, members, parts in groups:
            # Newest first; the components of an Observation are read only until every part has been found newer.
            # (Observations without components find no part, so they are left out of the walk from the start.)
            members = sorted(members, key=_MOMENT, reverse=True)
            found: dict[str, datetime] = {}
            for s in members:
                if len(found) == len(parts) and all(moment > s.moment for moment in found.values()):
                    break
                concepts = component_concepts.get(s.index)
                if concepts is None:
                    concepts = component_concepts[s.index] = _component_concepts(s.resource)
                for part in concepts & parts:
                    found.setdefault(part, s.moment)
                    if found[part] == s.moment:
                        kept.add(s.index)
        return kept


def _component_concepts(resource: Mapping) -> set[str]:
    """The concepts of an Observation's components, read as the parse reads them (read_coded's concepts are
    ``coding_concepts(read_codings(...))``, worked out in the same step)."""
    out: set[str] = set()
    for component in list_or_empty(resource.get("component")):
        out.update(read_coded(component.get("code") if type(component) is dict else None)[1])
    return out


_MOMENT = attrgetter("moment")


def observation_reads(features: Iterable[str], *, as_of: date, lookback: Mapping[str, int],
                      history_days: Mapping[str, int]) -> ObservationReads:
    """The plan for extracting ``features`` (with their dependencies already added) at ``as_of``."""
    names = set(features)
    if names & _BODY_SIZE:
        names |= _BODY_SIZE
    windows: dict[str, int | None] = {}
    panels: set[str] = set()
    panel_parts: dict[str, set[str]] = {}
    anywhere: set[str] = set()
    anywhere_window: int | None = 0

    def widen(current: int | None, days: int | None) -> int | None:
        return None if current is None or days is None else max(current, days)

    for name in names:
        spec = quantity_spec(name)
        if spec is not None:
            direct, panel, parts = spec.value_sets[:1], spec.panel_value_sets[:1], ()
        elif name in _OTHER_READS:
            (direct, parts), panel = _OTHER_READS[name], ()
        else:
            continue
        days = _history_window(name, lookback, history_days)
        for concept in (*direct, *panel):
            windows[concept] = widen(windows.get(concept, 0), days)
        panels.update(panel)
        for name_of_panel in panel:
            panel_parts.setdefault(name_of_panel, set()).update(direct)
        if parts:
            anywhere.update(parts)
            anywhere_window = widen(anywhere_window, days)
    return ObservationReads(as_of=as_of, windows=windows, panels=frozenset(panels),
                            panel_parts={p: frozenset(parts) for p, parts in panel_parts.items()},
                            anywhere=frozenset(anywhere),
                            anywhere_window=anywhere_window if anywhere else None)


def _history_window(name: str, lookback: Mapping[str, int], history_days: Mapping[str, int]) -> int | None:
    """The furthest back selection looks for ``name``: its history window, never shorter than its look-back."""
    if name not in lookback:
        return None
    return max(lookback[name], history_days.get(name, lookback[name]))
