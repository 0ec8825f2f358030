"""Genotype -> phenotype, from the CPIC tables (engine/data/pharmacogenomics/genes.json).

Four methods, named by each gene's entry:

* ``function-pair`` (CYP2C19, CYP3A5, TPMT, NUDT15, SLCO1B1, CYP4F2): each allele's function, then the phenotype
  CPIC gives the pair of functions ("No function" + "No function" -> Poor Metabolizer).
* ``activity-score`` (CYP2C9, CYP2D6, DPYD): the sum of the alleles' activity values, then the phenotype of that
  score. CYP2D6 copies count (*1x2 = 2.0; *36+*10 = 0 + 0.25); a copy number not given (*1xN) counts at least twice,
  and the phenotype is given only when every copy number from two up gives the same one. DPYD variants are alleles
  (one copy when heterozygous, two when homozygous, Reference for the rest); with more than two variant alleles the
  two lowest activity values are used, as CPIC does.
* ``snp`` (VKORC1 -1639G>A; also SLCO1B1 rs4149056 and CYP4F2 rs2108622 when only that variant was tested): the
  number of variant copies.
* ``hla`` (HLA-A, HLA-B): each allele a guideline names is positive (one or two copies) or negative; a full typing of
  the gene answers for every allele, a single-allele test only for the allele tested.

An allele the table does not list, an allele of uncertain function or a result the rules cannot place gives no
phenotype (or CPIC's own "Indeterminate") with the reason; results of one gene that disagree give none either. Each
step is kept (``GenePhenotype.steps``) for the explainer page.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Iterable, Mapping, Sequence

from engine.genomic_record import DIPLOTYPE, HLA, PHENOTYPE, VARIANTS, GeneResult
from engine.pharmacogenomics import knowledge

INDETERMINATE = "Indeterminate"
_COPY_NUMBER = re.compile(r"^(?P<core>.+?)\s*[x×]\s*(?P<n>\d+|N|n|≥\s*\d+|>=\s*\d+)$")
_SUBALLELE = re.compile(r"^(\*\d+)[A-Za-z]+$")
_MAX_COPIES_CHECKED = 10  # "at least two copies": the phenotype must not change from 2 up to this many


@dataclass(frozen=True)
class Step:
    """One line of the derivation: what was read and what the table says ("*2: No function")."""

    label: str
    value: str


@dataclass(frozen=True, eq=False)
class GenePhenotype:
    """A gene's phenotype for the recommendation tables, and how it was reached."""

    gene: str
    phenotype: str | None  # a CPIC term, "Indeterminate", or None when no phenotype could be given
    result: GeneResult  # the result the phenotype comes from (the newest when several agree)
    diplotype: str | None = None  # as the card shows it: "*2/*2", "c.1905+1G>A/Reference", "HLA-B*57:01 positive"
    activity_score: float | None = None  # exact score; None when not an activity-score gene or not determined
    activity_text: str | None = None  # "2.0", or "at least 3.0" with an unknown copy number
    hla: Mapping[str, str] = field(default_factory=dict)  # "HLA-B*57:01" -> "positive" / "negative"
    steps: tuple[Step, ...] = ()
    problems: tuple[str, ...] = ()  # why a phenotype is missing, or what disagreed
    reported_by_lab: bool = False  # the phenotype is the laboratory's (no genotype was given)
    other_results: tuple[GeneResult, ...] = ()

    @property
    def determined(self) -> bool:
        return self.phenotype is not None and self.phenotype != INDETERMINATE

    @property
    def display(self) -> str:
        """'poor metabolizer', 'decreased function', 'HLA-B*57:01 positive'."""
        if self.hla:
            return ", ".join(f"{allele} {status}" for allele, status in self.hla.items())
        if self.phenotype is None:
            return "phenotype not determined"
        return lower_phenotype(self.phenotype)


def lower_phenotype(term: str) -> str:
    """'Poor Metabolizer' -> 'poor metabolizer'; '-1639 A/G' and '*3 carrier' unchanged."""
    return term.lower() if re.fullmatch(r"[A-Za-z ]+", term) else term


# -- one gene from its results ----------------------------------------------------------------------------------------
def gene_phenotypes(results: Iterable[GeneResult]) -> dict[str, GenePhenotype]:
    """The phenotype of every gene with a result, by gene symbol. Results of a gene are read newest first; results
    that give different phenotypes give none (both are named)."""
    by_gene: dict[str, list[GeneResult]] = {}
    for result in sorted(results, key=lambda r: _sort_key(r.effective), reverse=True):
        by_gene.setdefault(result.gene, []).append(result)
    return {gene: combine(gene, found) for gene, found in by_gene.items()}


def combine(gene: str, results: Sequence[GeneResult]) -> GenePhenotype:
    """One phenotype from a gene's results (newest first): genotypes decide, the laboratory's phenotype is used only
    when no genotype was given; genotypes that disagree decide nothing."""
    genotypes = [derive(r) for r in results if r.kind != PHENOTYPE]
    reported = [r for r in results if r.reported_phenotype]
    if genotypes and all(p.result.kind == HLA for p in genotypes):
        return _combined_hla(gene, genotypes)
    if not genotypes:
        lab = [_lab_phenotype(gene, r) for r in results]
        phenotypes = {p.phenotype for p in lab}
        if len(phenotypes) > 1:
            return _conflict(gene, lab)
        return _with_others(lab[0], results)
    kinds = {_outcome(p) for p in genotypes}
    if len(kinds) > 1:
        return _conflict(gene, genotypes)
    chosen = genotypes[0]
    problems = list(chosen.problems)
    for result in reported:
        lab = _canonical(gene, result.reported_phenotype)
        if chosen.phenotype and lab and lab != chosen.phenotype:
            problems.append(f"the laboratory reports {lower_phenotype(lab)} ({result.source}); CPIC's current tables "
                            f"give {lower_phenotype(chosen.phenotype)} for {chosen.diplotype}, which is used")
    if chosen.phenotype is None and reported:
        lab = _canonical(gene, reported[0].reported_phenotype)
        if lab:
            steps = chosen.steps + (Step("Phenotype reported by the laboratory", lower_phenotype(lab)),)
            return GenePhenotype(gene, lab, chosen.result, chosen.diplotype, steps=steps,
                                 problems=tuple(problems) + ("the diplotype could not be placed in CPIC's table; "
                                                             "the laboratory's phenotype is used",),
                                 reported_by_lab=True, other_results=tuple(results[1:]))
    return _replace(chosen, problems=tuple(problems), other_results=tuple(r for r in results if r is not chosen.result))


def derive(result: GeneResult) -> GenePhenotype:
    """The phenotype of one genotype result."""
    entry = knowledge.gene(result.gene)
    if entry is None:
        return GenePhenotype(result.gene, None, result, result.written,
                             problems=(f"{result.gene} is not a gene of the CPIC tables this service reads",))
    method = entry["method"]
    if result.kind == HLA:
        return _hla(result, entry)
    if result.kind == VARIANTS:
        if method == "activity-score" and "reference_allele" in entry:
            return _variant_alleles(result, entry)
        return _snp(result, entry)
    if result.kind == DIPLOTYPE:
        if method == "activity-score":
            return _activity(result, entry)
        if method == "function-pair":
            return _function_pair(result, entry)
    return GenePhenotype(result.gene, None, result, result.written,
                         problems=(f"a {result.kind} result cannot be read for {result.gene} ({method})",))


# -- function pairs ---------------------------------------------------------------------------------------------------
def _function_pair(result: GeneResult, entry: Mapping) -> GenePhenotype:
    functions, steps, problems = [], [], []
    for written in result.alleles:
        name, note = allele_name(written, entry["alleles"])
        if name is None:
            problems.append(f"{result.gene} {written} is not in CPIC's allele table ({note})")
            continue
        functions.append(entry["alleles"][name])
        steps.append(Step(f"{result.gene} {written}" + (f" (read as {name})" if name != written else ""),
                          entry["alleles"][name]))
    diplotype = "/".join(result.alleles)
    if problems or len(functions) != 2:
        return GenePhenotype(result.gene, None, result, diplotype, steps=tuple(steps),
                             problems=tuple(problems) or (f"{result.gene} {diplotype} is not two alleles",))
    phenotype = _pair_phenotype(entry, functions)
    if phenotype is None:
        return GenePhenotype(result.gene, None, result, diplotype, steps=tuple(steps),
                             problems=(f"CPIC's table has no phenotype for {' + '.join(functions)}",))
    steps.append(Step("Phenotype (CPIC table)", f"{' + '.join(sorted(functions))} → {phenotype}"))
    return GenePhenotype(result.gene, phenotype, result, diplotype, steps=tuple(steps))


def _pair_phenotype(entry: Mapping, functions: Sequence[str]) -> str | None:
    wanted = sorted(functions)
    return next((row["phenotype"] for row in entry["phenotype_by_functions"] if sorted(row["functions"]) == wanted),
                None)


# -- activity scores --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Copies:
    core: str  # the table's allele name
    copies: int | None  # None: a copy number that was not given (at least ``at_least``)
    at_least: int = 2


def _activity(result: GeneResult, entry: Mapping) -> GenePhenotype:
    steps, problems = [], []
    parts: list[tuple[float, _Copies]] = []
    for written in result.alleles:
        for piece in re.split(r"\s*\+\s*", written):  # CYP2D6 tandem arrangements: *36+*10, *13+*2
            copies, note = _copy_number(piece, entry["alleles"])
            if copies is None:
                problems.append(f"{result.gene} {piece} is not in CPIC's allele table ({note})")
                continue
            value = entry["alleles"][copies.core]["activity"]
            function = entry["alleles"][copies.core]["function"]
            if value is None:
                problems.append(f"{result.gene} {copies.core} has {function.lower()}: no activity value")
                steps.append(Step(f"{result.gene} {piece}", f"{function}, no activity value"))
                continue
            parts.append((value, copies))
            count = (f"× {copies.copies}" if copies.copies and copies.copies > 1
                     else f"× at least {copies.at_least} (copy number not given)" if copies.copies is None else "")
            steps.append(Step(f"{result.gene} {piece}" + (f" (read as {copies.core})" if copies.core not in piece else ""),
                              f"{function}, activity value {value:g} {count}".strip()))
    diplotype = "/".join(result.alleles)
    if problems:
        phenotype = INDETERMINATE if all("no activity value" in p for p in problems) else None
        return GenePhenotype(result.gene, phenotype, result, diplotype, steps=tuple(steps), problems=tuple(problems))
    return _score_phenotype(result, entry, diplotype, parts, steps)


def _score_phenotype(result: GeneResult, entry: Mapping, diplotype: str, parts: list[tuple[float, _Copies]],
                     steps: list[Step]) -> GenePhenotype:
    def score(unknown_copies: int) -> float:
        return sum(value * (c.copies if c.copies is not None else max(unknown_copies, c.at_least))
                   for value, c in parts)

    low = score(2)
    phenotype = score_phenotype(entry, low)
    uncertain = any(c.copies is None and value > 0 for value, c in parts)
    if uncertain:
        outcomes = {score_phenotype(entry, score(n)) for n in range(2, _MAX_COPIES_CHECKED + 1)}
        text = f"at least {low:g}"
        if len(outcomes) > 1:
            steps.append(Step("Activity score", f"{text} (copy number not given)"))
            return GenePhenotype(result.gene, None, result, diplotype, activity_text=text, steps=tuple(steps),
                                 problems=(f"{result.gene} {diplotype}: the copy number is not given and the "
                                           f"phenotype depends on it ({', '.join(sorted(o or '?' for o in outcomes))})",))
        steps.append(Step("Activity score", f"{text}: {phenotype} for any copy number"))
        return GenePhenotype(result.gene, phenotype, result, diplotype, activity_text=text, steps=tuple(steps))
    steps.append(Step("Activity score (sum)", f"{low:g} → {phenotype or 'no phenotype in the table'}"))
    if phenotype is None:
        return GenePhenotype(result.gene, None, result, diplotype, low, f"{low:g}", steps=tuple(steps),
                             problems=(f"no CPIC phenotype for activity score {low:g}",))
    return GenePhenotype(result.gene, phenotype, result, diplotype, low, f"{low:g}", steps=tuple(steps))


def score_phenotype(entry: Mapping, score: float) -> str | None:
    for band in entry["phenotype_by_activity_score"]:
        high = band["max"]
        if band["min"] - 1e-9 <= score and (high is None or score <= high + 1e-9):
            return band["phenotype"]
    return None


def _copy_number(piece: str, alleles: Mapping) -> tuple[_Copies | None, str]:
    piece = piece.strip()
    match = _COPY_NUMBER.match(piece)
    copies: int | None = 1
    at_least = 2
    if match:
        piece, n = match.group("core").strip(), match.group("n").replace(" ", "")
        if n.isdigit():
            copies = int(n)
        else:
            copies = None
            digits = re.sub(r"\D", "", n)
            at_least = int(digits) if digits else 2
    name, note = allele_name(piece, alleles)
    if name is None:
        return None, note
    return _Copies(name, copies, at_least), note


def _variant_alleles(result: GeneResult, entry: Mapping) -> GenePhenotype:
    """DPYD: the variants found are the alleles; the two lowest activity values decide (CPIC)."""
    aliases = entry.get("aliases", {})
    values: list[tuple[float, str]] = []
    steps, problems = [], []
    for call in result.variants:
        name = call.name if call.name in entry["alleles"] else aliases.get(call.name) or aliases.get(call.name.lower())
        if name is None:
            problems.append(f"{result.gene} {call.name} is not in CPIC's allele table")
            continue
        allele = entry["alleles"][name]
        if allele["activity"] is None:
            problems.append(f"{result.gene} {name} has {allele['function'].lower()}: no activity value")
            continue
        zygosity = "homozygous" if call.copies == 2 else "heterozygous"
        steps.append(Step(f"{result.gene} {call.name} ({zygosity})",
                          f"{name}: {allele['function']}, activity value {allele['activity']:g}"))
        values += [(allele["activity"], name)] * call.copies
    if problems:
        return GenePhenotype(result.gene, None, result, result.written, steps=tuple(steps), problems=tuple(problems))
    values.sort()
    if len(values) > 2:
        steps.append(Step("More than two variant alleles (phase unknown)",
                          f"the two lowest activity values are used: {values[0][1]}, {values[1][1]}"))
        values = values[:2]
    reference = entry["reference_allele"]
    while len(values) < 2:
        values.append((entry["alleles"][reference]["activity"], reference))
        steps.append(Step(f"{result.gene} {reference} allele", f"Normal function, activity value "
                                                                f"{entry['alleles'][reference]['activity']:g}"))
    diplotype = "/".join(name.split(" (")[0] for _, name in values)
    parts = [(value, _Copies(name, 1)) for value, name in values]
    return _score_phenotype(result, entry, diplotype, parts, steps)


# -- single variants ----------------------------------------------------------------------------------------------------
def _snp(result: GeneResult, entry: Mapping) -> GenePhenotype:
    snps = entry.get("snps", {})
    if len(result.variants) != 1 or result.variants[0].name not in snps:
        return GenePhenotype(result.gene, None, result, result.written,
                             problems=(f"{result.gene}: the variants given ({result.written}) are not ones CPIC's "
                                       f"tables place",))
    call = result.variants[0]
    table = snps[call.name]
    phenotype = table["phenotype_by_variant_count"][call.copies]
    ref, alt = table["gene_strand"]
    genotype = {0: f"{ref}/{ref}", 1: f"{ref}/{alt}", 2: f"{alt}/{alt}"}[call.copies]
    steps = (Step(f"{result.gene} {call.name} ({table['hgvs']})", f"{genotype}: {call.copies} variant "
                  f"cop{'y' if call.copies == 1 else 'ies'}"),
             Step("Phenotype (CPIC)", phenotype))
    return GenePhenotype(result.gene, phenotype, result, f"{table['hgvs']} {genotype}", steps=steps)


# -- HLA ----------------------------------------------------------------------------------------------------------------
def _hla(result: GeneResult, entry: Mapping) -> GenePhenotype:
    statuses: dict[str, str] = {}
    steps = []
    for allele in entry.get("alleles_of_interest", ()):
        if result.hla_typed:
            found = any(_same_hla(allele, typed) for typed in result.hla_alleles)
            statuses[allele] = "positive" if found else "negative"
            steps.append(Step(f"{allele} in the typing {', '.join(result.hla_alleles)}", statuses[allele]))
        elif any(_same_hla(allele, tested) for tested in result.hla_alleles) and result.hla_present is not None:
            statuses[allele] = "positive" if result.hla_present else "negative"
            steps.append(Step(f"{allele} tested", "present" if result.hla_present else "absent"))
    if not statuses:
        return GenePhenotype(result.gene, None, result, result.written,
                             problems=(f"{result.written}: not an HLA allele a CPIC guideline names, and not a full "
                                       f"typing of {result.gene}",))
    diplotype = ", ".join(f"{a} {s}" for a, s in statuses.items())
    return GenePhenotype(result.gene, diplotype, result, diplotype, hla=statuses, steps=tuple(steps))


def _same_hla(allele: str, written: str) -> bool:
    """'HLA-B*57:01' matches 'HLA-B*57:01:01' and 'B*57:01' (two-field resolution), not 'HLA-B*57:02'."""
    def fields(text: str) -> tuple[str, ...]:
        text = text.strip().upper().removeprefix("HLA-")
        gene, _, rest = text.partition("*")
        return (gene, *rest.split(":")[:2])
    return fields(allele) == fields(written)


# -- helpers -----------------------------------------------------------------------------------------------------------
def allele_name(written: str, alleles: Mapping) -> tuple[str | None, str]:
    """The table's name for an allele as written: itself, or its core allele for a suballele (*4A -> *4)."""
    written = written.strip()
    if written in alleles:
        return written, ""
    if not written.startswith("*") and f"*{written}" in alleles:
        return f"*{written}", ""
    match = _SUBALLELE.match(written)
    if match and match.group(1) in alleles:
        return match.group(1), f"suballele {written} read as {match.group(1)}"
    return None, "not listed"


def _lab_phenotype(gene: str, result: GeneResult) -> GenePhenotype:
    term = _canonical(gene, result.reported_phenotype)
    if term is None:
        return GenePhenotype(gene, None, result, None, problems=(
            f"the laboratory's phenotype '{result.reported_phenotype}' is not a CPIC {gene} phenotype",))
    steps = (Step("Phenotype reported by the laboratory", f"{result.reported_phenotype}"),)
    return GenePhenotype(gene, term, result, None, steps=steps, reported_by_lab=True,
                         problems=("no genotype on file: the laboratory's phenotype is used",))


def _canonical(gene: str, reported: str | None) -> str | None:
    """The laboratory's phenotype as the CPIC term this gene's tables use ('Poor metabolizer' -> 'Poor Metabolizer';
    'Extensive metabolizer', the term before 2017, -> 'Normal Metabolizer')."""
    if not reported:
        return None
    entry = knowledge.gene(gene) or {}
    terms = {row["phenotype"] for row in entry.get("phenotype_by_functions", ())}
    terms |= {band["phenotype"] for band in entry.get("phenotype_by_activity_score", ())}
    for table in entry.get("snps", {}).values():
        terms |= set(table["phenotype_by_variant_count"])
    text = " ".join(reported.replace("-", " ").split()).lower()
    text = text.replace("extensive metabolizer", "normal metabolizer").replace("metaboliser", "metabolizer")
    text = text.replace("ultra rapid", "ultrarapid")
    return next((term for term in terms if term.lower() == text), None)


def _outcome(p: GenePhenotype) -> str | None:
    return p.phenotype


def _combined_hla(gene: str, derived: Sequence[GenePhenotype]) -> GenePhenotype:
    """HLA results together: each allele's status from every result that answers for it (a typing answers for all,
    a single-allele test for one); an allele with both statuses is left out, and said so."""
    statuses: dict[str, set[str]] = {}
    for p in derived:
        for allele, status in p.hla.items():
            statuses.setdefault(allele, set()).add(status)
    agreed = {allele: next(iter(s)) for allele, s in statuses.items() if len(s) == 1}
    problems = [problem for p in derived for problem in p.problems if not p.hla]
    problems += [f"{allele} results disagree (positive and negative); it is not used until they are reconciled"
                 for allele, s in statuses.items() if len(s) > 1]
    steps = tuple(step for p in derived for step in p.steps)
    lead = next((p for p in derived if p.hla), derived[0])
    if not agreed:
        return GenePhenotype(gene, None, lead.result, lead.diplotype, steps=steps, problems=tuple(problems),
                             other_results=tuple(p.result for p in derived if p is not lead))
    text = ", ".join(f"{a} {s}" for a, s in agreed.items())
    return GenePhenotype(gene, text, lead.result, text, hla=agreed, steps=steps, problems=tuple(problems),
                         other_results=tuple(p.result for p in derived if p is not lead))


def _conflict(gene: str, derived: Sequence[GenePhenotype]) -> GenePhenotype:
    described = "; ".join(f"{p.diplotype or p.result.written} → {p.display} ({p.result.source})" for p in derived)
    return GenePhenotype(gene, None, derived[0].result, derived[0].diplotype,
                         steps=tuple(s for p in derived for s in p.steps),
                         problems=(f"{gene} results disagree: {described}; no phenotype is used until they are "
                                   f"reconciled",),
                         other_results=tuple(p.result for p in derived[1:]))


def _with_others(phenotype: GenePhenotype, results: Sequence[GeneResult]) -> GenePhenotype:
    return _replace(phenotype, other_results=tuple(r for r in results if r is not phenotype.result))


def _replace(phenotype: GenePhenotype, **changes) -> GenePhenotype:
    from dataclasses import replace

    return replace(phenotype, **changes)


def _sort_key(value) -> tuple:
    if isinstance(value, datetime):
        return (1, value.date(), value.time().isoformat())
    if isinstance(value, date):
        return (1, value, "")
    return (0, date.min, "")
