"""Pure clinical logic: features in, findings out. No Flask, no HTTP, no I/O."""
from engine.finding import Finding, Kind, Severity, Status  # noqa: F401
