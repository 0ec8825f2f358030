"""Diagnosis detectors ("possible undiagnosed condition"). Importing this package registers every detector listed here.

Each detector fires only when its condition is not on the active problem list; see docs/detectors.md.
"""
from engine.detectors import (  # noqa: F401 - imported to register the engines
    anemia,
    ckd,
    diabetes,
    familial_hypercholesterolemia,
    hypertension,
    obesity,
)
