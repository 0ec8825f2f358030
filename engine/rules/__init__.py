"""Treatment rules: second-phase engines (engine.base.RuleEngine) that read the findings of the scores and detectors
their service runs and say what the guideline recommends for this patient (docs/treatment.md). Importing this package
registers every rule listed here."""
from engine.rules import (  # noqa: F401 - imported to register the engines
    anticoagulation,
    blood_pressure,
    diabetes_kidney,
    lifestyle,
    statin,
)
