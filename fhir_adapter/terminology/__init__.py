"""The one terminology of the project: value sets and drug knowledge as data, and the matcher over them.

Used by the record parser (which value sets a coding belongs to), the feature builders, the diagnosis detectors and
the notes engine ("already on the problem list?"), and prefetch derivation (which codes to ask for). Nothing here
does I/O beyond reading the package's own data files, so the pure engine may import it.

- ``valuesets``: value sets (enumerated codes, ICD prefixes, included VSAC/eCQM expansions, medication names,
  synonyms for unrecognised-code reports);
- ``drugs``: RxNorm ingredients, drug classes, clinical-drug and branded products, statin intensity.
"""
from fhir_adapter.terminology.valuesets import (
    ATC,
    ICD10,
    ICD10CM,
    ICD10PCS,
    LOINC,
    OMB_RACE_ETHNICITY,
    RXNORM,
    SNOMED,
    UCUM,
    Code,
    Inclusion,
    Prefix,
    ValueSet,
    about,
    codes_for,
    concept_of_coding,
    concepts_named_in,
    concepts_of_coding,
    concepts_of_codings,
    concepts_of_pairs,
    medication_concepts_by_text,
    normalise_system,
    value_set,
    value_set_names,
)

__all__ = [
    "ATC", "ICD10", "ICD10CM", "ICD10PCS", "LOINC", "OMB_RACE_ETHNICITY", "RXNORM", "SNOMED", "UCUM",
    "Code", "Inclusion", "Prefix", "ValueSet", "about", "codes_for", "concept_of_coding", "concepts_named_in",
    "concepts_of_coding", "concepts_of_codings", "concepts_of_pairs", "medication_concepts_by_text",
    "normalise_system", "value_set", "value_set_names",
]
