"""FHIR R4 access and the record → features adapter. The FHIR client is the only I/O in the project."""
