"""The patient's pharmacogenomic results with what CPIC recommends: on patient-view for the drugs they affect, on
order-select and order-sign for the drugs being ordered (docs/pharmacogenomics.md).

One card at most: the actionable phenotypes (CPIC tables that change what is prescribed or how) and the current
medications each affects, with the most urgent recommendation and its CPIC classification; the explainer page shows
each diplotype, how its phenotype was derived and the recommendation table of each affected drug. The prefetch
follows from the engine's declaration: the features it reads (the Patient; height and weight for the IWPC warfarin
dose) and its records (the medication list; genotype, variant and phenotype Observations by their LOINC codes,
genomic DiagnosticReports with their results, the IG's therapeutic-implication Observations).
"""
from __future__ import annotations

from cds_hooks.alert_memory import first_alerts
from cds_hooks.declaration import HookCall, service

PGX_ENGINES = ("pgx-summary",)
PGX_ORDER_ENGINES = ("pharmacogenomics-order",)
_ORDER = ("for each drafted drug of a CPIC guideline, the patient's phenotype from the pharmacogenomic results on file "
          "(CYP2C19, CYP2C9, CYP2D6, CYP3A5, DPYD, TPMT, NUDT15, SLCO1B1, VKORC1, HLA-A, HLA-B): when CPIC recommends "
          "a change the card says what, with CPIC's classification and the guideline, and offers to change the order "
          "(a dose update, or cancelling it for an alternative such as prasugrel or ticagrelor instead of clopidogrel "
          "for a CYP2C19 poor metabolizer); a CPIC level A drug with no result on file gets an info card suggesting "
          "the test; warfarin gets the IWPC pharmacogenetic dose next to the clinical-only dose.")


@service(
    id="pharmacogenomics",
    hook="patient-view",
    title="Pharmacogenomic results and the drugs they affect (CPIC)",
    description=(
        "Reads the patient's pharmacogenomic results (HL7 Genomics Reporting genotype, variant, HLA, phenotype and "
        "therapeutic-implication Observations, alone or in a DiagnosticReport; the older STU1 panel) and, with the "
        "CPIC allele function and phenotype tables, gives each gene's phenotype: CYP2C19, CYP2C9, CYP2D6, CYP3A5, "
        "DPYD, TPMT, NUDT15, SLCO1B1, VKORC1, CYP4F2, HLA-A and HLA-B. One card lists the actionable phenotypes and "
        "the current medications they affect, with CPIC's recommendation and its classification; warfarin gets the "
        "IWPC pharmacogenetic dose next to the clinical-only dose."
    ),
    engines=PGX_ENGINES,
)
def pharmacogenomics(call: HookCall):
    return call.run_engines()


@service(
    id="pharmacogenomics-order-select",
    hook="order-select",
    title="Pharmacogenomics of the selected drug (CPIC)",
    description="When a drug is selected for ordering: " + _ORDER,
    engines=PGX_ORDER_ENGINES,
)
def pharmacogenomics_order_select(call: HookCall):
    return first_alerts(call, call.run_engines())


@service(
    id="pharmacogenomics-order-sign",
    hook="order-sign",
    title="Pharmacogenomics of the drafted drugs before signing (CPIC)",
    description="Before the orders are signed, every drafted drug: " + _ORDER + " An alert already shown at "
                "selection is not repeated.",
    engines=PGX_ORDER_ENGINES,
)
def pharmacogenomics_order_sign(call: HookCall):
    return first_alerts(call, call.run_engines())
