"""Population scoring: the hooks' pipeline run over every patient of a FHIR Bulk Data export, on Dask.

    INPUT (NDJSON per resource type, .ndjson[.gz], or a folder of Bundles)
      ─▶ route: each source streamed once, each resource appended to one of P partition files by a stable hash of
         its patient id (population.partitioning)
      ─▶ score: one Dask task per partition groups its resources by patient and runs
         cds_hooks.pipeline.evaluate_resources with each service's engines, writing Parquet (population.scoring)
      ─▶ report: one self-contained HTML file (population.report)

Tools live here, outside the pure core: engine/ and cards/ know nothing of Dask, Parquet or Bulk Data.
"""
