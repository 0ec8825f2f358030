"""The curated chronic-condition list (engine/data/concepts.json) and its code logic.

Each concept carries the codes a suggested Condition is written with (one SNOMED CT, one ICD-10-CM)
and names the terminology value sets that mean "already documented" (a problem list entry E11.65
documents type 2 diabetes even though the suggestion would be E11.9). Those value sets, and the
matcher, are the project's one terminology (``fhir_adapter.terminology``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from engine.models.settings import DATA_DIR

from fhir_adapter.terminology import concepts_of_coding, value_set

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"

CONCEPTS_PATH = DATA_DIR / "concepts.json"


@dataclass(frozen=True)
class Concept:
    id: str
    name: str
    snomed_code: str
    snomed_display: str
    icd10cm_code: str
    icd10cm_display: str
    documented_by_value_sets: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    ambiguous_abbreviations: tuple[str, ...] = ()
    context: str = ""
    not_after: tuple[str, ...] = ()  # modifiers that make the term another condition ("portal" hypertension)

    @classmethod
    def from_json(cls, data: dict) -> "Concept":
        return cls(
            id=data["id"], name=data["name"],
            snomed_code=data["snomed"]["code"], snomed_display=data["snomed"]["display"],
            icd10cm_code=data["icd10cm"]["code"], icd10cm_display=data["icd10cm"]["display"],
            documented_by_value_sets=tuple(data.get("documented_by_value_sets", ())),
            synonyms=tuple(data.get("synonyms", ())),
            abbreviations=tuple(data.get("abbreviations", ())),
            ambiguous_abbreviations=tuple(data.get("ambiguous_abbreviations", ())),
            context=data.get("context") or data["name"],
            not_after=tuple(data.get("not_after", ())),
        )

    @property
    def snomed_codes(self) -> frozenset[str]:
        """The suggestion's SNOMED CT code and every SNOMED CT code of the value sets that document the concept."""
        out = {self.snomed_code}
        for name in self.documented_by_value_sets:
            out.update(c.code for c in value_set(name).all_codes() if c.system == SNOMED)
        return frozenset(out)

    def codings(self) -> list[dict]:
        """FHIR codings for a suggested Condition: SNOMED CT first, then ICD-10-CM."""
        return [
            {"system": SNOMED, "code": self.snomed_code, "display": self.snomed_display},
            {"system": ICD10CM, "code": self.icd10cm_code, "display": self.icd10cm_display},
        ]

    def is_documented(self, codes: set[tuple[str, str]] | frozenset[tuple[str, str]]) -> bool:
        """True when any (system, code) pair already stands for this concept (is in one of its value sets)."""
        wanted = set(self.documented_by_value_sets)
        for system, code in codes:
            if code and wanted & set(concepts_of_coding(system, code)):
                return True
        return False

@dataclass(frozen=True)
class ConceptSet:
    version: str
    concepts: tuple[Concept, ...]
    blocking_phrases: tuple[str, ...]
    case_sensitive_abbreviations: frozenset[str] = frozenset()  # matched only in the case written

    def get(self, concept_id: str) -> Concept:
        for concept in self.concepts:
            if concept.id == concept_id:
                return concept
        raise KeyError(concept_id)

    def __len__(self) -> int:
        return len(self.concepts)


def load_concepts(path: Path | str | None = None) -> ConceptSet:
    """The concept list; the packaged one is parsed once per process."""
    return _load(str(path or CONCEPTS_PATH))


@lru_cache(maxsize=4)
def _load(path: str) -> ConceptSet:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return ConceptSet(
        version=str(data.get("version", "")),
        concepts=tuple(Concept.from_json(c) for c in data["concepts"]),
        blocking_phrases=tuple(data.get("blocking_phrases", ())),
        case_sensitive_abbreviations=frozenset(data.get("case_sensitive_abbreviations", {}).get("abbreviations", ())),
    )
