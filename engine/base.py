"""Base class shared by calculators, detectors, rules and models.

An engine declares what it is (id, version, title, kind, citation, the features it reads) as class
attributes and implements ``evaluate(features) -> list[Finding]``. The helpers here build the
common "not computed" findings so that every engine explains itself the same way.
"""
from __future__ import annotations

from typing import ClassVar, Iterable

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

    def relevant_problems(self, features: FeatureSet) -> tuple[InputProblem, ...]:
        return features.problems_for(set(self.requires) | set(self.optional))

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
