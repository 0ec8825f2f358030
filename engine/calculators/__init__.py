"""Risk calculators. Importing this package registers every calculator module listed here."""
from engine.calculators import ckd_epi, pce, prevent  # noqa: F401 - imported to register the engines
