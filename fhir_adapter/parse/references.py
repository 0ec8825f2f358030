"""Resource references: the reference of a resource, its subject, and the normal forms they are compared in."""
from __future__ import annotations

from typing import Mapping

from fhir_adapter.parse.json_values import nonblank_str


def resource_ref(resource: Mapping, full_url: str | None = None) -> str:
    """"Observation/123"; the bundle fullUrl when the resource has no id."""
    rid = resource.get("id")
    if isinstance(rid, str):
        rid = rid.strip()
        if rid:
            rtype = resource.get("resourceType")
            return f"{rtype if isinstance(rtype, str) and rtype.strip() else 'Resource'}/{rid}"
    if full_url:
        return full_url
    return f"{nonblank_str(resource.get('resourceType')) or 'Resource'}/(no id)"


def subject_ref(resource: Mapping) -> str | None:
    subject = resource.get("subject")
    if type(subject) is not dict:
        return None
    reference = subject.get("reference")
    return reference if isinstance(reference, str) and reference.strip() else None


def normalise_patient_ref(ref: str) -> str:
    """"http://x/fhir/Patient/1/_history/2" -> "Patient/1"; other forms unchanged."""
    r = ref.strip()
    if "/_history/" in r:
        r = r.split("/_history/", 1)[0]
    if "/Patient/" in r and not r.startswith("urn:"):
        r = "Patient/" + r.rsplit("/Patient/", 1)[1]
    return r


def normalise_medication_ref(ref: str) -> str:
    r = ref.split("/_history/", 1)[0]
    if "/Medication/" in r and not r.startswith("urn:"):
        r = "Medication/" + r.rsplit("/Medication/", 1)[1]
    return r
