"""What a recorded valve condition says beyond its feature, read from the condition's own evidence (the note the
adapter writes: the matched coding's display and code, "Presence of prosthetic heart valve (ICD-10-CM Z95.2)"), so
that the value sets stay declared once.

* A mechanical valve: ICD-10(-CM) Z95.2 'Presence of prosthetic heart valve' includes a valve NOS, and bioprosthetic
  (TAVR) valves are often coded with it; a DOAC is contraindicated only with a mechanical valve (2020 ACC/AHA VHD),
  so the valve counts as mechanical only when its display says "mechanical".
* A mitral stenosis's type: the VKA-over-DOAC recommendation in AF (2023 ACC/AHA/ACCP/HRS, INVICTUS) concerns
  moderate-to-severe rheumatic mitral stenosis. An ICD-10(-CM) I05 code is rheumatic; I34.2 is non-rheumatic, and
  not it; any other code (SNOMED CT 79619009 'Mitral valve stenosis', as problem lists coded in SNOMED CT record it)
  does not say, and since most mitral stenosis is rheumatic the type is to be confirmed, not taken as either.
"""
from __future__ import annotations

import re

from engine.finding import Evidence

_RHEUMATIC_MITRAL_CODE = re.compile(r"\(ICD-10(?:-CM)? I05\.")
_NON_RHEUMATIC_MITRAL_CODE = re.compile(r"\(ICD-10(?:-CM)? I34\.2")


def valve_is_mechanical(condition: Evidence) -> bool:
    return "mechanical" in (condition.note or "").lower()


def rheumatic_mitral_stenosis(condition: Evidence) -> bool:
    return _RHEUMATIC_MITRAL_CODE.search(condition.note or "") is not None


def non_rheumatic_mitral_stenosis(condition: Evidence) -> bool:
    return _NON_RHEUMATIC_MITRAL_CODE.search(condition.note or "") is not None


def mitral_stenosis_type_uncoded(condition: Evidence) -> bool:
    return not rheumatic_mitral_stenosis(condition) and not non_rheumatic_mitral_stenosis(condition)


QUALIFIERS = {"mechanical": valve_is_mechanical, "rheumatic": rheumatic_mitral_stenosis,
              "non_rheumatic": non_rheumatic_mitral_stenosis}
