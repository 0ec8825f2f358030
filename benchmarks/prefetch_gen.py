"""Synthetic patients with N Observations shaped like Synthea's, for the size benchmarks (not a test fixture).

Each Observation carries what Synthea writes - meta, category, coded value with display and text, subject, encounter,
effective and issued times, a UCUM quantity or blood-pressure components - about 0.9 KiB each, so 1,000 of them make
a ~1 MiB prefetch. The readings are spread evenly over the last ``span_days`` before ``end`` (the newest an hour
before it), cycling through the codes the service's prefetch asks for, so the share inside each look-back window is
the same at every N.
"""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# (LOINC, display, category, unit, low, high); the blood-pressure panel is written with its two components.
KINDS = [
    ("8867-4", "Heart rate", "vital-signs", "/min", 55, 120),
    ("9279-1", "Respiratory rate", "vital-signs", "/min", 10, 28),
    ("8310-5", "Body temperature", "vital-signs", "Cel", 36.0, 39.2),
    ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "vital-signs", "%", 88, 100),
    ("85354-9", "Blood pressure panel with all children optional", "vital-signs", "mm[Hg]", 95, 170),
    ("29463-7", "Body Weight", "vital-signs", "kg", 60, 95),
    ("8302-2", "Body Height", "vital-signs", "cm", 160, 185),
    ("39156-5", "Body mass index (BMI) [Ratio]", "vital-signs", "kg/m2", 20, 34),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "laboratory", "mg/dL", 150, 260),
    ("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "laboratory", "mg/dL", 35, 70),
    ("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "laboratory", "mg/dL", 70, 190),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "laboratory", "mg/dL", 0.7, 1.6),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "laboratory", "%", 5.0, 8.5),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "laboratory", "mg/dL", 80, 190),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "laboratory", "g/dL", 10, 16),
]


def patient(patient_id: str) -> dict:
    return {"resourceType": "Patient", "id": patient_id, "gender": "male", "birthDate": "1958-07-14",
            "name": [{"use": "official", "family": "Bench", "given": ["Mark"]}],
            "extension": [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                           "extension": [{"url": "ombCategory", "valueCoding": {
                               "system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3", "display": "White"}},
                               {"url": "text", "valueString": "White"}]}]}


def observation(kind: tuple, when: datetime, patient_id: str, encounter: str, rng: random.Random) -> dict:
    code, display, category, unit, low, high = kind
    stamp = when.isoformat(timespec="seconds")
    resource = {
        "resourceType": "Observation", "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab"
                             if category == "laboratory" else "http://hl7.org/fhir/StructureDefinition/vitalsigns"]},
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": category, "display": category.replace("-", " ")}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{encounter}"},
        "effectiveDateTime": stamp, "issued": when.isoformat(timespec="milliseconds"),
    }
    if code == "85354-9":
        resource["component"] = [
            {"code": {"coding": [{"system": LOINC, "code": part, "display": name}], "text": name},
             "valueQuantity": {"value": round(rng.uniform(lo, hi)), "unit": unit, "system": UCUM, "code": unit}}
            for part, name, lo, hi in (("8462-4", "Diastolic Blood Pressure", 55, 100),
                                       ("8480-6", "Systolic Blood Pressure", low, high))]
    else:
        value = rng.uniform(low, high)
        resource["valueQuantity"] = {"value": round(value, 1), "unit": unit, "system": UCUM, "code": unit}
    return resource


def record(n: int, *, end: datetime, codes: set[str] | None = None, span_days: int = 3 * 365,
           patient_id: str = "bench-patient", seed: int = 1) -> list[dict]:
    """A Patient and ``n`` Observations (of ``codes`` only, when given), newest first."""
    rng = random.Random(seed)
    kinds = [k for k in KINDS if codes is None or k[0] in codes]
    if not kinds:
        raise ValueError("none of the generated kinds is asked for")
    step = timedelta(days=span_days) / max(n, 1)
    newest = end.astimezone(timezone.utc) - timedelta(hours=1)
    out = [patient(patient_id)]
    for i in range(n):
        encounter = f"enc-{i // 8}"
        out.append(observation(kinds[i % len(kinds)], newest - i * step, patient_id, encounter, rng))
    return out
