"""Check the genotype-to-phenotype rules against CPIC's own diplotype tables.

    python scripts/check_cpic_phenotypes.py path/to/CYP2C19.json path/to/DPYD.json ...

Each file is a CPIC gene phenotype export in the PharmCAT layout (``namedAlleles`` and ``diplotypes`` with
``diplotypekey`` and ``phenotype``; PharmCAT ships them under src/main/resources/org/pharmgkb/pharmcat/phenotype/).
For every diplotype the file lists, the phenotype engine/pharmacogenomics/phenotype.py derives from
engine/data/pharmacogenomics/genes.json is compared with the phenotype CPIC gives; the script prints the counts and
every disagreement, and exits 1 when there is one. The files are not shipped: CPIC data are read where they are.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.genomic_record import DIPLOTYPE, VARIANTS, GeneResult, VariantCall
from engine.pharmacogenomics import knowledge
from engine.pharmacogenomics.phenotype import derive


def check(path: Path) -> tuple[str, int, list[str]]:
    table = json.loads(path.read_text())
    gene = table["gene"]
    entry = knowledge.gene(gene)
    disagreements: list[str] = []
    for row in table["diplotypes"]:
        alleles = [name for name, count in row["diplotypekey"].items() for _ in range(count)]
        if entry is not None and "reference_allele" in entry:
            calls = tuple(VariantCall(name, alleles.count(name)) for name in dict.fromkeys(alleles)
                          if name != entry["reference_allele"])
            result = GeneResult(gene, VARIANTS, "check", row["diplotype"], "CPIC table", variants=calls)
        else:
            result = GeneResult(gene, DIPLOTYPE, "check", row["diplotype"], "CPIC table", alleles=tuple(alleles))
        derived = derive(result).phenotype or "Indeterminate"
        if derived != row["phenotype"]:
            disagreements.append(f"{gene} {row['diplotype']}: CPIC {row['phenotype']}, derived {derived}")
    return gene, len(table["diplotypes"]), disagreements


def main(paths: list[str]) -> int:
    failed = False
    for path in paths:
        gene, total, disagreements = check(Path(path))
        print(f"{gene}: {total - len(disagreements)}/{total} CPIC diplotypes reproduced")
        for line in disagreements[:20]:
            print("  " + line)
        failed |= bool(disagreements)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
