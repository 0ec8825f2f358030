"""Base class shared by calculators, detectors, rules and models.

An engine declares what it is (id, version, title, kind, citation, the features it reads) as class
attributes and implements ``evaluate(features) -> list[Finding]``. The helpers here build the
common findings (computed, insufficient data, not applicable) so that every engine explains itself the
same way; ``SingleFindingEngine`` is the shape of the engines that answer with exactly one finding.
"""
from __future__ import annotations

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
