"""Genomic results from FHIR: genotype, variant, HLA, phenotype and therapeutic-implication Observations, standalone or
in DiagnosticReports, read into ``engine.genomic_record.GeneResult`` (docs/pharmacogenomics.md).

``notation`` reads the notations (star alleles, HGVS, variant genotypes, HLA), ``codes`` the codes
(fhir_adapter/data/terminology/genomics.json), ``reader`` the resources, ``scan`` which resources are genomic."""
from fhir_adapter.genomics.reader import PROBLEM_NAME, read_genomic
from fhir_adapter.genomics.scan import is_genomic

__all__ = ["PROBLEM_NAME", "is_genomic", "read_genomic"]
