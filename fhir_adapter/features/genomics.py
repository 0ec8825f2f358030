"""FeatureSet.gene_results: the patient's pharmacogenomic results, newest first (fhir_adapter/genomics reads them)."""
from __future__ import annotations

from fhir_adapter.features.context import ExtractionContext
from fhir_adapter.features.dates import chronological_key
from fhir_adapter.genomics import read_genomic


def gene_results(ctx: ExtractionContext) -> None:
    if not ctx.parsed.genomic:
        return
    results, problems = read_genomic(ctx.parsed.genomic)
    ctx.fs.gene_results = tuple(sorted(results, key=lambda r: chronological_key(r.effective), reverse=True))
    ctx.fs.problems.extend(problems)
