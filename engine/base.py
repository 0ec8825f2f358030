"""Base class shared by calculators, detectors, rules and models.

An engine declares what it is (id, version, title, kind, citation, the features it reads) as class
attributes and implements ``evaluate(features) -> list[Finding]``. The helpers here build the
common findings (computed, insufficient data, not applicable) so that every engine explains itself the
same way; ``SingleFindingEngine`` is the shape of the engines that answer with exactly one finding.

Engines run in two phases (engine.runner): calculators, detectors, models and note engines first, then the
``RuleEngine``s, which read the findings of the first phase. A ``NoteEngine`` reads clinical notes, not features.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import ClassVar, Iterable, Sequence

from engine.finding import Citation, Evidence, Finding, InputProblem, Kind, MissingInput, Status
from engine.inputs import FeatureSet


class Engine:
    id: ClassVar[str]
    version: ClassVar[str]
    title: ClassVar[str]
    kind: ClassVar[Kind] = Kind.RISK
    citation: ClassVar[Citation]
    # Features this engine reads; the service layer uses the union to decide what to extract.
    requires: ClassVar[tuple[str, ...]] = ()
    optional: ClassVar[tuple[str, ...]] = ()
    # FHIR resource types read as records rather than features (the medication list, the allergy list): the service
    # prefetches them too. Drafted orders come in the hook context, not the prefetch, and are never listed here.
    reads_records: ClassVar[tuple[str, ...]] = ()

    def evaluate(self, features: FeatureSet) -> list[Finding]:  # pragma: no cover - interface
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------------------
    def finding(self, status: Status, *, finding_id: str | None = None, **kwargs) -> Finding:
        return Finding(
            id=finding_id or self.id,
            engine_id=self.id,
            engine_version=self.version,
            kind=self.kind,
            status=status,
            title=kwargs.pop("title", self.title),
            citation=kwargs.pop("citation", self.citation),
            **kwargs,
        )

    def gather(self, features: FeatureSet, names: Iterable[str]) -> tuple[list[Evidence], list[MissingInput]]:
        present, missing = [], []
        for name in names:
            ev = features.get(name)
            if ev is None:
                missing.append(features.missing_reason(name))
            else:
                present.append(ev)
        return present, missing

    def gather_usable(self, features: FeatureSet, names: Iterable[str],
                      unusable: Sequence[MissingInput]) -> tuple[list[Evidence], list[MissingInput]]:
        """Like ``gather``, but values reported in ``unusable`` are left out of the evidence and reported
        after the missing ones, as if they were missing."""
        present, missing = self.gather(features, names)
        unusable_names = {m.name for m in unusable}
        return [ev for ev in present if ev.name not in unusable_names], missing + list(unusable)

    def relevant_problems(self, features: FeatureSet) -> tuple[InputProblem, ...]:
        return features.problems_for(set(self.requires) | set(self.optional))

    def computed(self, features: FeatureSet, **kwargs) -> Finding:
        """A computed finding, carrying the input problems of the features this engine reads."""
        return self.finding(Status.COMPUTED, input_problems=self.relevant_problems(features), **kwargs)

    def insufficient(self, features: FeatureSet, inputs, missing, **kwargs) -> Finding:
        labels = ", ".join(m.label for m in missing)
        return self.finding(
            Status.INSUFFICIENT_DATA,
            inputs=tuple(inputs),
            missing=tuple(missing),
            input_problems=self.relevant_problems(features),
            message=kwargs.pop("message", f"Cannot compute: missing {labels}."),
            **kwargs,
        )

    def not_applicable(self, features: FeatureSet, inputs, message: str, **kwargs) -> Finding:
        return self.finding(
            Status.NOT_APPLICABLE,
            inputs=tuple(inputs),
            input_problems=self.relevant_problems(features),
            message=message,
            **kwargs,
        )


class SingleFindingEngine(Engine):
    """An engine that answers every evaluation with exactly one finding (most calculators).

    The finding's id is ``<engine id>:<finding_suffix>``; ``computed``, ``insufficient`` and
    ``not_applicable`` use it unless told otherwise. Subclasses implement ``_assess``. The error finding
    the runner makes when an engine fails keeps the bare engine id, as for every engine.
    """

    finding_suffix: ClassVar[str]

    @property
    def finding_id(self) -> str:
        return f"{self.id}:{self.finding_suffix}"

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        return [self._assess(features)]

    def _assess(self, features: FeatureSet) -> Finding:  # pragma: no cover - interface
        raise NotImplementedError

    def computed(self, features: FeatureSet, **kwargs) -> Finding:
        return super().computed(features, **{"finding_id": self.finding_id, **kwargs})

    def insufficient(self, features: FeatureSet, inputs, missing, **kwargs) -> Finding:
        return super().insufficient(features, inputs, missing, **{"finding_id": self.finding_id, **kwargs})

    def not_applicable(self, features: FeatureSet, inputs, message: str, **kwargs) -> Finding:
        return super().not_applicable(features, inputs, message, **{"finding_id": self.finding_id, **kwargs})


class RuleEngine(Engine):
    """An engine of the second phase: it reads the findings of the scores and detectors it names in
    ``reads_findings`` (e.g. "statin if 10-year risk >= 7.5 %" reads the PCE finding) instead of recomputing them.

    The runner evaluates every other engine first and then each rule with only the findings of the engines it
    declares (error and insufficient-data findings included: what to say then is the rule's decision). A service
    must declare every engine its rules read; see cds_hooks.declaration.service.
    """

    kind: ClassVar[Kind] = Kind.TREATMENT
    reads_findings: ClassVar[tuple[str, ...]] = ()

    def evaluate(self, features: FeatureSet,  # type: ignore[override]
                 findings: Sequence[Finding]) -> list[Finding]:  # pragma: no cover - interface
        raise NotImplementedError

    def findings_of(self, findings: Iterable[Finding], engine_id: str) -> list[Finding]:
        return [f for f in findings if f.engine_id == engine_id]


class NoteEngine(Engine):
    """An engine that reads the patient's clinical notes and active problem-list codes, not features.

    Notes are not features, so the service pipeline extracts them from the patient-scoped record and binds them
    with ``with_notes``; the bound engine is then an ordinary engine to the runner (same id, same isolation, same
    error finding when it fails). ``note`` is anything with ``source``, ``date`` and ``text``.
    """

    def evaluate_notes(self, notes: Sequence, active_condition_codes: set[tuple[str, str]],
                       as_of: date) -> list[Finding]:  # pragma: no cover - interface
        raise NotImplementedError

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        return []  # nothing to read from features alone

    def with_notes(self, notes: Sequence, active_condition_codes: set[tuple[str, str]],
                   problems: Sequence[InputProblem] = ()) -> Engine:
        """This engine with the notes it reads; ``problems`` (notes that could not be read) go on its findings."""
        return _NotesBound(self, tuple(notes), set(active_condition_codes), tuple(problems))


class _NotesBound(Engine):
    def __init__(self, engine: NoteEngine, notes: tuple, codes: set[tuple[str, str]],
                 problems: tuple[InputProblem, ...]) -> None:
        self._engine = engine
        self._notes = notes
        self._codes = codes
        self._problems = problems
        # The error finding the runner makes must carry the note engine's own identity.
        self.id, self.version, self.title = engine.id, engine.version, engine.title
        self.kind, self.citation = engine.kind, engine.citation

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        findings = self._engine.evaluate_notes(self._notes, self._codes, features.as_of)
        if not self._problems:
            return findings
        return [replace(f, input_problems=f.input_problems + tuple(p for p in self._problems
                                                                    if p not in f.input_problems))
                for f in findings]
