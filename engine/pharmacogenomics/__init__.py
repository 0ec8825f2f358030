"""Pharmacogenomics: CPIC genotype -> phenotype -> recommendation, and the IWPC warfarin dose (docs/pharmacogenomics.md).

``knowledge`` reads the CPIC tables (engine/data/pharmacogenomics/), ``phenotype`` derives phenotypes from the
results the adapter read (engine/genomic_record.py), ``recommendations`` finds the CPIC row for a drug, ``warfarin``
computes the IWPC doses. Importing this package registers the engines (``engine.registry.pharmacogenomics``).
"""
from engine.pharmacogenomics import ordering, summary  # noqa: F401 - registers the patient-view and order engines
