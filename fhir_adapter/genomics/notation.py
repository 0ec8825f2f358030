"""Reading the notations genomic results are written in, without interpreting them: star-allele diplotypes
(PharmVar: "CYP2C19 *2/*17", "*1/*1xN", "*36+*10/*10"), HGVS genotypes ("c.[1905+1G>A];[=]"), single-variant
genotypes ("rs9923231 C/T", "-1639 G>A GA"), HLA alleles and typings ("HLA-B*57:01", GL strings) and zygosity words.

Every reader returns None when the text is not in its notation: the caller tries the next one, and reports the value
as unreadable when none reads it. Nothing here decides what an allele means (engine/pharmacogenomics does).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from engine.genomic_record import VariantCall

# One star allele: *2, *35B, *4N, with a copy number (*1x2, *1xN, *1x≥3) or in a tandem (*36+*10, *13+*2).
_STAR = r"\*\s?\d+[A-Za-z]?(?:\.\d+)?(?:\s*[x×]\s*(?:\d+|N|n|≥\s*\d+|>=\s*\d+))?"
_STAR_ALLELE = re.compile(rf"^{_STAR}(?:\s*\+\s*{_STAR})*$")
_HGVS_ALLELE_PAIR = re.compile(r"c\.\[(?P<a>[^\]]*)\];\[(?P<b>[^\]]*)\]")
_HGVS_UNPHASED = re.compile(r"c\.\[(?P<a>[^\]]*)\(;\)(?P<b>[^\]]*)\]")
_HGVS_SINGLE = re.compile(r"(?<![\w.])c\.(?P<v>-?[\d*+_\-]+(?:[ACGT]>[ACGT]|del[ACGT]*|dup[ACGT]*|ins[ACGT]+))")
_RSID = re.compile(r"\b(rs\d+)\b", re.IGNORECASE)
_HLA_ALLELE = re.compile(r"(?:HLA-)?(?P<gene>[A-Z]{1,4}\d?)\*(?P<fields>\d{2,3}(?::\d{2,3}){1,3}[A-Z]?)", re.IGNORECASE)


def without_gene(text: str, gene: str) -> str:
    """'CYP2C19 *1/*2', 'CYP2C19*1/CYP2C19*2' -> '*1/*2'."""
    return re.sub(rf"{re.escape(gene)}\s*:?\s*", "", text, flags=re.IGNORECASE).strip()


def gene_named(text: str, genes: Iterable[str]) -> str | None:
    """The one gene of ``genes`` the text names (whole word; 'CYP2C9*2' names CYP2C9); None if none or several."""
    found = {g for g in genes if re.search(rf"(?<![\w-]){re.escape(g)}(?![\w-])", text, re.IGNORECASE)}
    return found.pop() if len(found) == 1 else None


def star_diplotype(text: str, gene: str) -> tuple[str, str] | None:
    """Two star alleles, as written after the gene name ('*2', '*1x2', '*36+*10'); None when not a diplotype."""
    body = without_gene(text, gene)
    body = re.sub(r"\s+", " ", body).strip().strip(".")
    parts = [p.strip() for p in re.split(r"\s*[/|]\s*", body)]
    if len(parts) != 2 or not all(_STAR_ALLELE.match(p) for p in parts):
        return None
    return tuple(re.sub(r"\*\s+", "*", re.sub(r"\s*\+\s*", "+", p)) for p in parts)  # type: ignore[return-value]


def named_diplotype(text: str, gene: str, names: Mapping[str, str]) -> tuple[str, str] | None:
    """Two alleles named in a gene's table or its aliases ('Reference/c.1905+1G>A (*2A)', '*1/*2A' for DPYD)."""
    body = without_gene(text, gene)
    parts = [p.strip() for p in re.split(r"\s*/\s*(?![^()]*\))", body)]
    if len(parts) != 2:
        return None
    resolved = []
    for part in parts:
        key = names.get(part) or names.get(part.lower())
        if key is None:
            hgvs = _HGVS_SINGLE.search(part)
            key = names.get(f"c.{hgvs.group('v')}") if hgvs else None
        if key is None:
            return None
        resolved.append(key)
    return tuple(resolved)  # type: ignore[return-value]


def hgvs_variants(text: str) -> tuple[VariantCall, ...] | None:
    """Variants of an HGVS genotype: 'c.[1905+1G>A];[=]' one copy, 'c.[X];[X]' two, 'c.[X];[Y]' one each;
    None when the text is not an HGVS genotype (a bare 'c.X' has no zygosity: see ``hgvs_change``)."""
    match = _HGVS_ALLELE_PAIR.search(text)
    if match:
        calls: dict[str, int] = {}
        for side in (match.group("a"), match.group("b")):
            for change in filter(None, (s.strip() for s in side.split(";"))):
                if change in ("=", "0"):
                    continue
                name = "c." + change
                calls[name] = calls.get(name, 0) + 1
        return tuple(VariantCall(n, c) for n, c in calls.items())
    match = _HGVS_UNPHASED.search(text)
    if match:  # two variants, phase not known: one copy each
        return tuple(VariantCall("c." + m.strip(), 1) for m in (match.group("a"), match.group("b")) if m.strip())
    return None


def hgvs_change(text: str) -> str | None:
    """The c.HGVS change of a text ('NM_000110.4(DPYD):c.1905+1G>A' -> 'c.1905+1G>A')."""
    match = _HGVS_SINGLE.search(text)
    return f"c.{match.group('v')}" if match else None


def rs_id(text: str) -> str | None:
    match = _RSID.search(text)
    return match.group(1).lower() if match else None


@dataclass(frozen=True)
class SnpTable:
    """A variant a gene's phenotype is read from (genes.json ``snps``): its names and its alleles on both strands."""

    rsid: str
    hgvs: str
    gene_strand: tuple[str, str]  # (reference, variant), e.g. ("G", "A") for VKORC1 c.-1639G>A
    plus_strand: tuple[str, str]


def snp_copies(text: str, table: SnpTable) -> int | None:
    """How many variant alleles a genotype of this variant has: 'rs9923231 C/T' -> 1, '-1639 A/A' -> 2, 'GG' -> 0.

    The two letters are read on the strand they belong to (VKORC1's C/T is the + strand, G/A the gene's); letters
    that fit neither strand, or a text naming another variant, give None."""
    named = rs_id(text)
    if named and named != table.rsid:
        return None
    body = _RSID.sub(" ", text).replace(table.hgvs, " ")
    body = re.sub(r"(?i)c\.-?\d+[ACGT]>[ACGT]|-?\d+\s*[ACGT]\s*>\s*[ACGT]|VKORC1|CYP4F2|SLCO1B1|genotype", " ", body)
    letters = re.findall(r"(?<![A-Za-z])([ACGT])\s*[/;|]?\s*([ACGT])(?![A-Za-z])", body.upper())
    if len(letters) != 1:
        return None
    pair = letters[0]
    for ref, alt in (table.gene_strand, table.plus_strand):
        if set(pair) <= {ref, alt}:
            return sum(1 for letter in pair if letter == alt)
    return None


def hla_alleles(text: str) -> tuple[tuple[str, ...], bool] | None:
    """HLA alleles named in a text ('HLA-B*57:01:01+HLA-B*08:01', 'B*15:02') as 'HLA-B*57:01:01', and whether an
    ambiguity ('/', GL string) was present; None when no HLA allele is named."""
    found = [f"HLA-{m.group('gene').upper()}*{m.group('fields').upper()}" for m in _HLA_ALLELE.finditer(text)]
    if not found:
        return None
    ambiguous = bool(re.search(r"\*[\d:]+[A-Z]?\s*/\s*(?:HLA-)?[A-Z]{1,4}\d?\*", text, re.IGNORECASE))
    return tuple(dict.fromkeys(found)), ambiguous


def word_in(text: str, words: Iterable[str]) -> bool:
    """Whether any of the words (or phrases) is in the text, whole, case-insensitive."""
    lowered = f" {re.sub(r'[^a-z0-9-]+', ' ', text.lower())} "
    return any(f" {w} " in lowered for w in words)
