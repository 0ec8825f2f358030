"""Risk calculators. Importing this package registers every calculator module listed here."""
from engine.calculators import ckd_epi, pce, prevent  # noqa: F401 - imported to register the engines
from engine.calculators import (  # noqa: F401 - issue 3 calculators, registered after the first three
    ada_risk,
    cha2ds2_vasc,
    ckd_epi_cr_cys,
    fib4,
    has_bled,
    kdigo_ckd,
    kfre,
    news2,
    prevent_30y,
    qsofa,
)
