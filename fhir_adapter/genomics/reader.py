"""Genomic Observations and DiagnosticReports -> ``engine.genomic_record.GeneResult`` (and input problems).

Read, in the encodings EHRs and laboratories send (codes in fhir_adapter/data/terminology/genomics.json):

* HL7 Genomics Reporting **genotype** Observations (LOINC 84413-4) with the gene in a 48018-6 component (HGNC id,
  or its symbol) and the value as a PharmVar star-allele diplotype, an HGVS genotype, a single-variant genotype or
  text ("CYP2C19 *2/*17", "c.[1905+1G>A];[=]", "rs9923231 C/T");
* **variant** Observations (69548-6: DNA change 48004-6 or dbSNP id 81255-2, allelic state 53034-5, present or
  absent), grouped per gene and report;
* **HLA** results: a typing ("HLA-B*57:01:01+HLA-B*08:01") or one allele tested for presence (an Observation whose
  code or value names the allele, valued positive / negative / present / absent / detected);
* **phenotype** and **therapeutic-implication** Observations (53040-2, 51961-1, 83009-1, the IG's
  therapeutic-implication code, or a gene-specific code whose display names the gene), with the medication assessed
  (51963-7);
* the older **STU1 panel** (81247-9 / 55233-1) with gene, genotype, haplotype, DNA change and 53040-2 phenotype
  components.

Results may be standalone or the results of a DiagnosticReport (51969-4, 81247-9, or category GE), contained in it or
elsewhere in the data. A result that cannot be read - no gene, a value in no notation, a gene the CPIC tables do not
cover, a preliminary status, a report result missing from the data, variants of a star-allele gene - is an
InputProblem naming the resource and why; it is never guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any, Iterable, Mapping

from engine.finding import InputProblem
from engine.genomic_record import DIPLOTYPE, HLA, PHENOTYPE, VARIANTS, GeneResult, VariantCall
from engine.pharmacogenomics import knowledge
from fhir_adapter.genomics import notation
from fhir_adapter.genomics.codes import answer, codings_of, in_systems, is_report_code, kind_of, texts_of
from fhir_adapter.parse.dates import parse_fhir_datetime
from fhir_adapter.parse.json_values import dict_or_empty, list_or_empty, nonblank_str
from fhir_adapter.parse.references import resource_ref
from fhir_adapter.terminology.text_memo import MAX_TEXT, memoised_by_text

PROBLEM_NAME = "gene_results"  # the name genomic input problems carry (engine.pharmacogenomics.evidence)
_USABLE_STATUS = frozenset({"final", "amended", "corrected", "appended"})
_SKIPPED_STATUS = frozenset({"entered-in-error", "cancelled"})
_GENOTYPE_KINDS = ("genotype", "panel")
_IG = "HL7 Genomics Reporting"


@dataclass
class _Observation:
    resource: Mapping
    ref: str
    report: str | None = None
    report_date: date | datetime | None = None


@dataclass
class _Reading:
    results: list[GeneResult] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    gene_of: dict[str, str] = field(default_factory=dict)  # Observation ref -> gene read from it (for derivedFrom)
    variants: dict[tuple[str, str], list] = field(default_factory=dict)  # (gene, group) -> [(obs, calls)]

    def problem(self, source: str | None, reason: str) -> None:
        self.problems.append(InputProblem(source, PROBLEM_NAME, reason))


@cache
def _plain_codes() -> tuple[frozenset[str], frozenset[str]]:
    """The bare codes of genomic Observations and of the gene-studied component: a first, cheap filter."""
    from fhir_adapter.genomics.codes import data

    observation = frozenset(c["code"] for kind in data()["observation"].values() for c in kind)
    return observation, frozenset(c["code"] for c in data()["component"]["gene"])


@cache
def _gene_words() -> re.Pattern[str]:
    """Any gene symbol of the tables, or an HLA allele, as a whole word (one search per code text)."""
    symbols = sorted(knowledge.gene_symbols(), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(g) for g in symbols) + r")(?![\w-])|HLA-[A-Z]", re.I)


def is_genomic_walk(resource: Mapping) -> bool:
    """``is_genomic`` (fhir_adapter.genomics.scan) as written for any shape: every coding, component and text walked."""
    rtype = resource.get("resourceType")
    code = resource.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    if rtype == "DiagnosticReport":
        pairs = [(c.get("system"), c.get("code")) for c in codings if isinstance(c, dict)] \
            if isinstance(codings, list) else []
        categories = [(s, c) for cat in list_or_empty(resource.get("category")) for s, c, _ in codings_of(cat)]
        return is_report_code(pairs) or any(c == "GE" and (s or "").endswith("v2-0074") for s, c in categories)
    if rtype != "Observation":
        return False
    observation_codes, _ = _plain_codes()
    if isinstance(codings, list):
        for c in codings:
            if isinstance(c, dict) and c.get("code") in observation_codes:
                pairs = [(c.get("system"), c.get("code")) for c in codings if isinstance(c, dict)]
                if kind_of("observation", pairs) is not None:
                    return True
                break
    components = resource.get("component")
    if isinstance(components, list) and components and has_gene_component(components):
        return True
    if type(codings) is list and len(codings) == 1 and type(codings[0]) is dict:  # the usual shape: one coding
        display, text = codings[0].get("display"), code.get("text")  # type: ignore[union-attr]
        return _one_coding_names_gene(display if isinstance(display, str) else None,
                                      text if isinstance(text, str) else None)
    texts = [c.get("display") for c in codings or () if isinstance(c, dict) and isinstance(c.get("display"), str)]
    if isinstance(code, dict) and isinstance(code.get("text"), str):
        texts.append(code["text"])
    return any(_names_gene(t) for t in texts) and _gene_in_code(code) is not None


def has_gene_component(components: list) -> bool:
    """Whether a component is a gene studied: a coding with a gene-studied code, and the component's kind "gene"."""
    _, gene_codes = _plain_codes()
    for comp in components:
        if not isinstance(comp, dict):
            continue
        comp_code = comp.get("code")
        if not isinstance(comp_code, dict):
            continue
        for c in comp_code.get("coding") or ():
            if isinstance(c, dict) and c.get("code") in gene_codes:
                if kind_of("component", [(s, c) for s, c, _ in codings_of(comp.get("code"))]) == "gene":
                    return True
                break
    return False


def _one_coding_names_gene(display: str | None, text: str | None) -> bool:
    """For a code of one coding: whether its display or text names a gene (what decides the last test of
    is_genomic, which reads nothing else of such a code), remembered for short texts."""
    if len(display or "") + len(text or "") <= 2 * MAX_TEXT:
        return _remembered_names_gene(display, text)
    return _names_gene_in(display, text)


def _names_gene_in(display: str | None, text: str | None) -> bool:
    return (any(_names_gene(t) for t in (display, text) if t is not None)
            and _gene_in_code({"coding": [{"display": display}], "text": text}) is not None)


_remembered_names_gene = lru_cache(maxsize=4096)(_names_gene_in)


@memoised_by_text()
def _names_gene(text: str) -> bool:
    """Whether a code's display or text names a gene of the tables (the same few displays recur on every chart)."""
    return _gene_words().search(text) is not None


def read_genomic(entries: Iterable[tuple[Mapping, str | None]]) -> tuple[list[GeneResult], list[InputProblem]]:
    """Every gene result of the genomic Observations and DiagnosticReports given (already about the patient)."""
    entries = list(entries)
    index: dict[str, Mapping] = {}
    for resource, full_url in entries:
        if resource.get("resourceType") == "Observation":
            index[resource_ref(resource, full_url)] = resource
            if full_url:
                index[full_url] = resource
    reading = _Reading()
    seen: set[str] = set()  # Observation references: the same result may come in two prefetch bundles
    observations: list[_Observation] = []
    for resource, full_url in entries:
        if resource.get("resourceType") != "DiagnosticReport":
            continue
        status = nonblank_str(resource.get("status"))
        report_ref = resource_ref(resource, full_url)
        if status in _SKIPPED_STATUS:
            continue
        report_date = _effective(resource)
        contained = {f"#{nonblank_str(c.get('id'))}": c for c in list_or_empty(resource.get("contained"))
                     if isinstance(c, dict) and c.get("resourceType") == "Observation"}
        for result in list_or_empty(resource.get("result")):
            reference = nonblank_str(dict_or_empty(result).get("reference"))
            if reference is None:
                continue
            found = contained.get(reference) or index.get(reference) or index.get(_relative(reference))
            if found is None:
                reading.problem(report_ref, f"its result {reference} is not in the data (a prefetch without "
                                            f"_include=DiagnosticReport:result?); not read")
                continue
            ref = f"{report_ref}{reference}" if reference.startswith("#") else resource_ref(found)
            for obs in _with_members(found, index, contained, ref):
                if obs.ref not in seen:
                    seen.add(obs.ref)
                    obs.report, obs.report_date = report_ref, report_date
                    observations.append(obs)
        if not list_or_empty(resource.get("result")) and (resource.get("presentedForm") or resource.get("conclusion")):
            reading.problem(report_ref, "a genomic report with text only (no coded results): not read")
    for resource, full_url in entries:
        if resource.get("resourceType") == "Observation" and resource_ref(resource, full_url) not in seen:
            for obs in _with_members(resource, index, {}, resource_ref(resource, full_url)):
                if obs.ref not in seen:
                    seen.add(obs.ref)
                    observations.append(obs)
    implications = []
    for obs in observations:
        if not _usable(obs, reading):
            continue
        kind = _observation_kind(obs.resource)
        if kind in ("phenotype", "implication") or (kind is None and _gene_in_code(obs.resource.get("code"))):
            implications.append(obs)
        elif kind == "haplotype":
            continue  # a haplotype is read through the genotype it belongs to
        else:
            _read_genotype(obs, kind, reading)
    for obs in implications:
        _read_phenotype(obs, reading)
    _group_variants(reading)
    return reading.results, reading.problems


# -- genotypes, variants and HLA ---------------------------------------------------------------------------------------
def _read_genotype(obs: _Observation, kind: str | None, reading: _Reading) -> None:
    resource, ref = obs.resource, obs.ref
    components = _components(resource)
    genes = _genes(components, resource)
    texts = texts_of(resource) + [t for c in components.get("genotype", []) for t in texts_of(c)]
    if kind == "variant" or (kind == "panel" and components.get("dna_change") and not components.get("genotype")):
        _read_variant(obs, genes, components, reading)
        if kind == "panel":
            _panel_phenotype(obs, genes, components, reading)
        return
    gene = _one_gene(genes, texts, ref, reading)
    if gene is None:
        return
    reading.gene_of[ref] = gene
    haplotypes = [t for c in components.get("haplotype", []) for t in texts_of(c)[:1]]
    if not texts and len(haplotypes) == 2:
        texts = ["/".join(notation.without_gene(h, gene) for h in haplotypes)]
    encoding = (f"{_IG} genotype (LOINC 84413-4)" if kind == "genotype"
                else "STU1 genetic variant panel (LOINC 81247-9)" if kind == "panel" else "genotype Observation")
    if obs.report:
        encoding += ", in a DiagnosticReport"
    result = _genotype_result(gene, texts, resource, ref, encoding, obs, reading)
    if result is None:
        if kind == "panel" and components.get("phenotype"):
            _panel_phenotype(obs, [gene], components, reading)
        return
    reported = _reported_phenotype(components.get("phenotype", []))
    if reported:
        result = _replace(result, reported_phenotype=reported)
    reading.results.append(result)


def _genotype_result(gene: str, texts: list[str], resource: Mapping, ref: str, encoding: str, obs: _Observation,
                     reading: _Reading) -> GeneResult | None:
    entry = knowledge.gene(gene)
    base = dict(gene=gene, source=ref, encoding=encoding, effective=_effective(resource) or obs.report_date,
                report=obs.report)
    if entry is None:
        reading.problem(ref, f"{gene}: not a gene of the CPIC tables this service reads; not used")
        return None
    if entry["method"] == "hla":
        return _hla_result(gene, texts, resource, base, reading)
    for text in texts:
        if "snps" in entry and entry["method"] == "snp" or (entry.get("snps") and notation.rs_id(text)):
            call = _snp_call(entry, text)
            if call is not None:
                return GeneResult(kind=VARIANTS, written=text, variants=(call,), **base)
        if entry["method"] in ("function-pair", "activity-score") and "reference_allele" not in entry:
            pair = notation.star_diplotype(text, gene)
            if pair is not None:
                return GeneResult(kind=DIPLOTYPE, written=_written(gene, text), alleles=pair, **base)
        if "reference_allele" in entry:  # DPYD: alleles are named variants
            names = {**{n: n for n in entry["alleles"]}, **entry.get("aliases", {})}
            pair = notation.named_diplotype(text, gene, names)
            if pair is not None:
                calls = tuple(VariantCall(n, pair.count(n)) for n in dict.fromkeys(pair)
                              if n != entry["reference_allele"])
                return GeneResult(kind=VARIANTS, written=_written(gene, text), variants=calls, **base)
            variants = notation.hgvs_variants(text)
            if variants is not None:
                return GeneResult(kind=VARIANTS, written=text, variants=variants, **base)
        if notation.hgvs_variants(text) is not None or notation.hgvs_change(text):
            reading.problem(ref, f"{gene} given as variants ({text}); star alleles are not called from variants "
                                 f"here: not used")
            return None
    shown = texts[0] if texts else "no value"
    reading.problem(ref, f"{gene} result '{shown}' is in no notation this service reads (a diplotype such as "
                         f"*1/*2, an HGVS genotype, a variant genotype); not used")
    return None


def _hla_result(gene: str, texts: list[str], resource: Mapping, base: dict, reading: _Reading) -> GeneResult | None:
    code_texts = [t for _, _, d in codings_of(resource.get("code")) for t in (d,) if t]
    code_text = nonblank_str(dict_or_empty(resource.get("code")).get("text"))
    presence = _presence(resource, texts)
    for text in texts + code_texts + ([code_text] if code_text else []):
        parsed = notation.hla_alleles(text)
        if parsed is None:
            continue
        alleles, ambiguous = parsed
        alleles = tuple(a for a in alleles if a.startswith(f"{gene}*"))
        if not alleles:
            continue
        if ambiguous:
            reading.problem(base["source"], f"{gene} typing '{text}' is ambiguous (alternatives separated by '/'); "
                                            f"not used")
            return None
        if presence is not None:
            return GeneResult(kind=HLA, written=f"{', '.join(alleles)} {'positive' if presence else 'negative'}",
                              hla_alleles=alleles, hla_present=presence, **base)
        if len(alleles) >= 2 or "+" in text:
            return GeneResult(kind=HLA, written=text, hla_alleles=alleles, hla_typed=True, **base)
        return GeneResult(kind=HLA, written=f"{alleles[0]} present", hla_alleles=alleles, hla_present=True, **base)
    reading.problem(base["source"], f"{gene} result '{texts[0] if texts else 'no value'}' names no HLA allele; "
                                    f"not used")
    return None


def _presence(resource: Mapping, texts: list[str]) -> bool | None:
    if answer(resource, "present"):
        return True
    if answer(resource, "absent"):
        return False
    from fhir_adapter.genomics.codes import data

    words = data()["words"]
    for text in texts:
        if notation.word_in(text, words["absent"]):
            return False
        if notation.word_in(text, words["present"]):
            return True
    return None


def _snp_call(entry: Mapping, text: str) -> VariantCall | None:
    for rsid, table in entry.get("snps", {}).items():
        snp = notation.SnpTable(rsid, table["hgvs"], tuple(table["gene_strand"]), tuple(table["plus_strand"]))
        copies = notation.snp_copies(text, snp)
        if copies is not None:
            return VariantCall(rsid, copies)
    return None


def _read_variant(obs: _Observation, genes: list[str], components: Mapping, reading: _Reading) -> None:
    """One variant Observation: collected per gene and report, read together (the other alleles are reference)."""
    resource, ref = obs.resource, obs.ref
    gene = _one_gene(genes, [], ref, reading)
    if gene is None:
        return
    entry = knowledge.gene(gene)
    if entry is None or not ("reference_allele" in entry or entry.get("snps")):
        reading.problem(ref, f"{gene} variant result: CPIC phenotypes of {gene} are read from diplotypes, not from "
                             f"single variants; not used")
        return
    present = answer(resource, "present") or (None if answer(resource, "absent") else "present")
    changes = [t for c in components.get("dna_change", []) for t in texts_of(c)]
    ids = [t for c in components.get("dbsnp", []) + components.get("discrete_variant", []) for t in texts_of(c)]
    name = next((n for t in changes if (n := notation.hgvs_change(t))), None) or \
        next((n for t in ids if (n := notation.rs_id(t))), None)
    if name is None:
        reading.problem(ref, f"{gene} variant without a c.HGVS change or dbSNP id; not read")
        return
    copies = 0 if present is None else _copies(components)
    if copies is None:
        reading.problem(ref, f"{gene} {name}: present, but the allelic state (heterozygous / homozygous) is not "
                             f"given; not used")
        return
    group = obs.report or (str(_effective(resource) or ""))
    reading.variants.setdefault((gene, group), []).append((obs, VariantCall(name, copies), entry))


def _copies(components: Mapping) -> int | None:
    for comp in components.get("allelic_state", []):
        if answer(comp, "homozygous"):
            return 2
        if answer(comp, "heterozygous"):
            return 1
        from fhir_adapter.genomics.codes import data

        for text in texts_of(comp):
            if notation.word_in(text, data()["words"]["homozygous"]):
                return 2
            if notation.word_in(text, data()["words"]["heterozygous"]):
                return 1
    return None


def _group_variants(reading: _Reading) -> None:
    for (gene, _group), items in reading.variants.items():
        entry = items[0][2]
        calls: list[VariantCall] = []
        for obs, call, _ in items:
            if call.copies == 0:
                continue
            name = call.name
            if "reference_allele" not in entry:  # a SNP gene: the variant is named by its rs id or its HGVS
                name = next((rs for rs, t in entry["snps"].items() if name in (rs, t["hgvs"])), None)
                if name is None:
                    reading.problem(obs.ref, f"{gene} {call.name} is not the variant CPIC's {gene} table reads; "
                                             f"not used")
                    continue
            calls.append(VariantCall(name, call.copies))
        first = items[0][0]
        if "reference_allele" not in entry:
            tested = {rs for obs, call, _ in items for rs, t in entry["snps"].items() if call.name in (rs, t["hgvs"])}
            if not tested:
                continue
            rsid = next(iter(tested))
            calls = [c for c in calls if c.name == rsid] or [VariantCall(rsid, 0)]
        written = "; ".join(f"{c.name} {'homozygous' if c.copies == 2 else 'heterozygous'}" for c in calls) or \
            f"none of the {len(items)} variants tested found"
        reading.results.append(GeneResult(
            gene=gene, kind=VARIANTS, source=first.ref, written=written,
            encoding=f"{_IG} variant Observations (LOINC 69548-6)" + (", in a DiagnosticReport" if first.report else ""),
            effective=_effective(first.resource) or first.report_date, variants=tuple(calls), report=first.report,
            note=f"{len(items)} variant result(s) read together; alleles not reported are the reference allele"))


# -- phenotypes and therapeutic implications ---------------------------------------------------------------------------
def _read_phenotype(obs: _Observation, reading: _Reading) -> None:
    resource, ref = obs.resource, obs.ref
    components = _components(resource)
    phenotype = answer(resource, "phenotype") or _reported_phenotype(components.get("phenotype", []))
    if phenotype is None:
        texts = texts_of(resource) + [t for c in components.get("phenotype", []) for t in texts_of(c)]
        phenotype = next((t for t in texts if _phenotype_words(t)), None)
    hla_gene = _gene_in_code(resource.get("code"))
    if hla_gene and hla_gene.startswith("HLA-"):
        texts = texts_of(resource)
        result = _hla_result(hla_gene, texts, resource, dict(
            gene=hla_gene, source=ref, encoding="HLA allele presence Observation", report=obs.report,
            effective=_effective(resource) or obs.report_date), reading)
        if result is not None:
            reading.results.append(result)
        return
    drugs = tuple(t for c in components.get("medication", []) for t in texts_of(c)[:1])
    gene = _implication_gene(resource, components, drugs, reading)
    if phenotype is None:
        if gene is None or not any(reading.gene_of.get(d) == gene for d in _derived_from(resource)):
            shown = (texts_of(resource) or ["no value"])[0]
            reading.problem(ref, f"a genomic implication ('{shown}') without a CPIC phenotype; not used")
        return
    if gene is None:
        reading.problem(ref, f"phenotype '{phenotype}' names no gene (no gene component, no genotype it is derived "
                             f"from, no single-gene drug assessed); not used")
        return
    kind = _observation_kind(resource)
    encoding = (f"{_IG} therapeutic implication" if kind == "implication" else
                "phenotype Observation (LOINC 53040-2)" if kind == "phenotype" else "gene-specific phenotype "
                "Observation")
    reading.results.append(GeneResult(
        gene=gene, kind=PHENOTYPE, source=ref, written=phenotype, encoding=encoding, reported_phenotype=phenotype,
        effective=_effective(resource) or obs.report_date, drugs=drugs, report=obs.report))


def _panel_phenotype(obs: _Observation, genes: list[str], components: Mapping, reading: _Reading) -> None:
    phenotype = _reported_phenotype(components.get("phenotype", []))
    if phenotype and len(genes) == 1:
        reading.results.append(GeneResult(
            gene=genes[0], kind=PHENOTYPE, source=obs.ref, written=phenotype, reported_phenotype=phenotype,
            encoding="STU1 genetic variant panel (LOINC 81247-9), phenotype component",
            effective=_effective(obs.resource) or obs.report_date, report=obs.report))


def _implication_gene(resource: Mapping, components: Mapping, drugs: tuple[str, ...],
                      reading: _Reading) -> str | None:
    genes = _genes(components, resource)
    if len(genes) == 1:
        return genes[0]
    derived = {reading.gene_of[d] for d in _derived_from(resource) if d in reading.gene_of}
    if len(derived) == 1:
        return derived.pop()
    named = _gene_in_code(resource.get("code"))
    if named:
        return named
    from engine.pharmacogenomics.drugs import drugs_in

    found = {g for d in drugs for drug in drugs_in(d) for gl in knowledge.guidelines_by_drug().get(drug, ())
             for g in gl.genes}
    return found.pop() if len(found) == 1 and not found & set(knowledge.hla_alleles_of_interest()) else None


def _reported_phenotype(components: list[Mapping]) -> str | None:
    for comp in components:
        term = answer(comp, "phenotype")
        if term:
            return term
        for text in texts_of(comp):
            if _phenotype_words(text):
                return text
    return None


def _phenotype_words(text: str) -> bool:
    lowered = text.lower()
    return any(w in lowered for w in ("metabolizer", "metaboliser", "function")) and len(text) < 60


# -- pieces -------------------------------------------------------------------------------------------------------------
def _components(resource: Mapping) -> dict[str, list[Mapping]]:
    out: dict[str, list[Mapping]] = {}
    for comp in list_or_empty(resource.get("component")):
        comp = dict_or_empty(comp)
        kind = kind_of("component", [(s, c) for s, c, _ in codings_of(comp.get("code"))])
        if kind:
            out.setdefault(kind, []).append(comp)
    return out


def _genes(components: Mapping, resource: Mapping) -> list[str]:
    """The genes of the gene-studied components (HGNC id, else the symbol in display or text)."""
    genes: list[str] = []
    symbols = knowledge.gene_symbols()
    for comp in components.get("gene", []):
        concept = dict_or_empty(comp.get("valueCodeableConcept"))
        found = None
        for system, code, display in codings_of(concept):
            if in_systems(system, "hgnc") and code:
                found = knowledge.hgnc_symbols().get(code.strip().upper().replace("HGNC:", "HGNC:")) or \
                    knowledge.hgnc_symbols().get(code.strip())
            found = found or (notation.gene_named(display or "", symbols) if display else None)
            if found:
                break
        found = found or notation.gene_named(nonblank_str(concept.get("text")) or "", symbols) or \
            notation.gene_named(nonblank_str(comp.get("valueString")) or "", symbols)
        if found and found not in genes:
            genes.append(found)
    return genes


def _one_gene(genes: list[str], texts: list[str], ref: str, reading: _Reading) -> str | None:
    if len(genes) == 1:
        return genes[0]
    symbols = genes or knowledge.gene_symbols()
    named = {g for t in texts if (g := notation.gene_named(t, symbols))}
    if len(named) == 1:
        return named.pop()
    reading.problem(ref, "the gene of this genomic result cannot be told" + (
        f" (several genes studied: {', '.join(genes)})" if len(genes) > 1 else
        " (no gene-studied component with a gene of the CPIC tables, and no gene named in the value)") + "; not used")
    return None


def _gene_in_code(code: Any) -> str | None:
    """A gene (or an HLA allele's gene) named in an Observation code's display or text: the 'gene-specific' codes."""
    concept = dict_or_empty(code)
    texts = [d for _, _, d in codings_of(concept) if d] + [t for t in (nonblank_str(concept.get("text")),) if t]
    for text in texts:
        parsed = notation.hla_alleles(text)
        if parsed and parsed[0][0].split("*")[0] in knowledge.gene_symbols():
            return parsed[0][0].split("*")[0]
        gene = notation.gene_named(text, knowledge.gene_symbols())
        if gene:
            return gene
    return None


def _observation_kind(resource: Mapping) -> str | None:
    return kind_of("observation", [(s, c) for s, c, _ in codings_of(resource.get("code"))])


def _usable(obs: _Observation, reading: _Reading) -> bool:
    status = nonblank_str(obs.resource.get("status"))
    if status in _SKIPPED_STATUS:
        return False
    if status not in _USABLE_STATUS:
        reading.problem(obs.ref, f"genomic result with status '{status or 'missing'}' (not final); not used")
        return False
    return True


def _with_members(resource: Mapping, index: Mapping[str, Mapping], contained: Mapping[str, Mapping],
                  ref: str) -> list[_Observation]:
    """The Observation and, for a grouper, the members it lists (hasMember) that are in the data."""
    out = [_Observation(resource, ref)]
    for member in list_or_empty(resource.get("hasMember")):
        reference = nonblank_str(dict_or_empty(member).get("reference"))
        found = reference and (contained.get(reference) or index.get(reference) or index.get(_relative(reference)))
        if isinstance(found, dict) and found is not resource:
            out.append(_Observation(found, resource_ref(found) if not reference.startswith("#") else
                                    f"{ref.split('#')[0]}{reference}"))
    return out


def _derived_from(resource: Mapping) -> list[str]:
    return [r for d in list_or_empty(resource.get("derivedFrom"))
            if (r := nonblank_str(dict_or_empty(d).get("reference")))] + \
        [_relative(r) for d in list_or_empty(resource.get("derivedFrom"))
         if (r := nonblank_str(dict_or_empty(d).get("reference")))]


def _relative(reference: str) -> str:
    """'http://example.org/fhir/Observation/x' -> 'Observation/x'."""
    parts = reference.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference


def _effective(resource: Mapping) -> date | datetime | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        found = parse_fhir_datetime(resource.get(key))
        if found is not None:
            return found
    period = dict_or_empty(resource.get("effectivePeriod"))
    return parse_fhir_datetime(period.get("end")) or parse_fhir_datetime(period.get("start")) or \
        parse_fhir_datetime(resource.get("issued"))


def _written(gene: str, text: str) -> str:
    body = notation.without_gene(text, gene)
    return f"{gene} {body}"


def _replace(result: GeneResult, **changes) -> GeneResult:
    from dataclasses import replace

    return replace(result, **changes)
