"""Prefetch templates built from the adapter's code value sets, so a service asks for exactly what its engines read."""
from __future__ import annotations

from typing import Iterable

from fhir_adapter.codes import OBSERVATION_CODES

LOINC = "http://loinc.org"


def observation_query(features: Iterable[str]) -> str:
    codes: list[str] = []
    for feature in features:
        for code in OBSERVATION_CODES.get(feature, ()):
            if code not in codes:
                codes.append(code)
    code_param = ",".join(f"{LOINC}|{code}" for code in codes)
    return f"Observation?patient={{{{context.patientId}}}}&code={code_param}&_sort=-date"
