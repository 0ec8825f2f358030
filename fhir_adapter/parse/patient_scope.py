"""Whose record this is: choosing the Patient and rejecting resources about anyone else."""
from __future__ import annotations

from typing import Mapping

from engine.finding import InputProblem
from fhir_adapter.parse.json_values import nonblank_str
from fhir_adapter.parse.parsed_record import ParsedRecord
from fhir_adapter.parse.records import PatientRecord
from fhir_adapter.parse.references import normalise_patient_ref, resource_ref
from fhir_adapter.parse.resources import parse_patient


def choose_patient(parsed: ParsedRecord, patients: list[tuple[Mapping, str | None]],
                   patient_id: str | None, validate: str) -> set[str] | None:
    """Pick the Patient; return the subject references that mean "this patient" (None: no filter)."""
    chosen: PatientRecord | None = None
    for res, full_url in patients:
        try:
            record = parse_patient(res, full_url)
        except Exception as exc:  # noqa: BLE001
            parsed.problems.append(InputProblem(resource_ref(res, full_url), None,
                                                f"Patient could not be read ({type(exc).__name__}); skipped"))
            continue
        if patient_id is not None and record.id != patient_id:
            parsed.problems.append(InputProblem(record.ref, None,
                                                "Patient resource is not the patient of the request; skipped"))
            continue
        if chosen is None:
            chosen = record
        elif record.ref != chosen.ref:
            parsed.problems.append(InputProblem(record.ref, None,
                                                "more than one Patient in the input; only the first is used"))
    pid = patient_id or (chosen.id if chosen else None)
    if chosen is not None and validate != "none":
        problem = parsed.check(chosen)
        if problem is not None:
            parsed.problems.append(problem)
            chosen = None  # demographics from an invalid Patient are not used; its id still filters
    parsed.patient = chosen
    if pid is None and (chosen is None or not chosen.full_url):
        return None
    refs: set[str] = set()
    if pid is not None:
        refs.update({f"Patient/{pid}", f"urn:uuid:{pid}"})
    for res, full_url in patients:
        if full_url and (pid is None or nonblank_str(res.get("id")) == pid):
            refs.add(full_url)
    return refs


def subject_problem(subject: str | None, allowed: set[str]) -> str | None:
    if subject is None:
        return "no subject reference, so it cannot be confirmed to be this patient's; skipped"
    if subject in allowed or normalise_patient_ref(subject) in allowed:
        return None
    return "belongs to a different patient than the request; skipped"
