"""patient-view: one pharmacogenomic summary of the patient's results on file (engine "pgx-summary").

The card lists the actionable phenotypes (those for which a CPIC table changes what is prescribed or how) and, for
each, the active medications it affects; its recommendation line is the most urgent recommendation for a current
medication, with CPIC's classification and the guideline. Behind the card, on the explainer page: one result per gene
(the diplotype, how the phenotype was reached) and one per affected current medication (the drug's CPIC table with
the row that applies, and its source), and the IWPC warfarin dose next to the clinical-only dose when warfarin is
taken. A patient with no pharmacogenomic result gets no card; one with only normal results gets none either (the
results are on the explainer page of the call).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

from engine.base import Engine
from engine.finding import Citation, Evidence, Finding, Kind, Measure, Recommendation, Severity, Status, Term
from engine.inputs import FeatureSet
from engine.pharmacogenomics import knowledge
from engine.pharmacogenomics.drugs import drugs_in
from engine.pharmacogenomics.evidence import (
    RESULTS_FEATURE,
    derivation_terms,
    method_text,
    phenotype_problems,
    recommendation,
    result_evidence,
    table_rows,
)
from engine.pharmacogenomics.phenotype import GenePhenotype, gene_phenotypes
from engine.pharmacogenomics.recommendations import Lookup, lookups_for_drug
from engine.pharmacogenomics.warfarin_finding import warfarin_dose_finding
from engine.registry import pharmacogenomic

SUMMARY_MAX_TEXT = 118  # the summary's value: "Pharmacogenomics: " + this stays under 140 characters
MAX_GENE_LINES = 4
DETAIL_CHARS = 700  # the card budget (cards/markdown.py): the result, gene and recommendation lines must fit
CPIC = Citation(short="CPIC guidelines",
                full="Clinical Pharmacogenetics Implementation Consortium (CPIC) guidelines, as listed on each result: "
                     "allele function, phenotype and recommendation tables (CC0).",
                url="https://cpicpgx.org/guidelines/", topic="Pharmacogenomics")
_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class CurrentDrug:
    drug: str
    entry: object  # engine.clinical_record.MedicationEntry


@pharmacogenomic
class PharmacogenomicSummary(Engine):
    id = "pgx-summary"
    version = "1.0.0"
    title = "Pharmacogenomics"
    kind = Kind.TREATMENT
    citation = CPIC
    # The IWPC warfarin dose reads these when warfarin is taken; genomic results and the medication list are read
    # from FeatureSet.gene_results and FeatureSet.medications.
    optional: ClassVar[tuple[str, ...]] = ("age_years", "height_cm", "weight_kg", "race_omb_category")
    reads_records: ClassVar[tuple[str, ...]] = ("MedicationRequest", "MedicationStatement", "genomic-results",
                                                "genomic-reports", "therapeutic-implications")

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        phenotypes = gene_phenotypes(features.gene_results)
        adapter_problems = tuple(p for p in features.problems if p.name == RESULTS_FEATURE)
        if not phenotypes:
            # A result was sent but none could be read: say so, never stay silent as if there were none.
            return [self._unreadable(features, adapter_problems)] if adapter_problems else []
        current = current_drugs(features)
        findings = [self._gene_finding(features, p) for p in phenotypes.values()]
        lookups = [lk for c in current for lk in lookups_for_drug(c.drug, phenotypes) if lk.used]
        findings += [self._drug_finding(features, lk, c) for c in current for lk in lookups if lk.drug == c.drug
                     and lk.row is not None]
        warfarin = None
        if any(c.drug == "warfarin" for c in current):
            warfarin = warfarin_dose_finding(self, features, phenotypes)
            findings.append(warfarin)
        findings.insert(0, self._summary(features, phenotypes, lookups, adapter_problems, warfarin))
        return findings

    # -- the card ------------------------------------------------------------------------------------------------
    def _summary(self, features: FeatureSet, phenotypes: dict[str, GenePhenotype], lookups: list[Lookup],
                 adapter_problems, warfarin: Finding | None) -> Finding:
        affecting = [lk for lk in lookups if lk.actionable and lk.row.indicator and not _genotype_dosed(lk.row)]
        actionable = actionable_phenotypes(phenotypes)
        inputs = tuple(result_evidence(p) for p in phenotypes.values())
        problems = _merged(phenotype_problems(phenotypes.values()), adapter_problems, self.relevant_problems(features))
        warfarin_line = _warfarin_line(warfarin) if warfarin is not None and (
            "CYP2C9" in phenotypes or "VKORC1" in phenotypes) else None
        unread_line = _unreadable_line(adapter_problems)
        if not actionable and not affecting and warfarin_line is None and unread_line is None:
            return self.finding(Status.COMPUTED, finding_id=f"{self.id}:summary", value="no actionable result",
                                 inputs=inputs, input_problems=problems, explainer_only=True,
                                 message="No result on file calls for a change to what CPIC's tables recommend.")
        on_list = {gene: [lk for lk in affecting if _reads(lk, gene)] for gene in actionable}
        order = sorted(actionable, key=lambda g: -max((_RANK[lk.row.indicator] + 1 for lk in on_list[g]), default=0))
        lines = [gene_line(phenotypes[g], actionable[g], on_list[g]) for g in order]
        items = [summary_item(phenotypes[g], on_list[g]) for g in order]
        labels = list(order)
        if warfarin_line is not None:
            lines.insert(0 if not affecting else len([g for g in order if on_list[g]]), warfarin_line)
            items.append(f"warfarin IWPC {warfarin.value:g} mg/week" if warfarin.computed
                         else "warfarin (IWPC dose: data needed)")
            labels.insert(lines.index(warfarin_line), "warfarin")
        if unread_line is not None:
            lines.append(unread_line)
            items.append("a result not read")
            labels.append("not read")
        lead = max(affecting, key=lambda lk: (_RANK[lk.row.indicator], -_strength_rank(lk.strength)), default=None)
        value = fitted_summary(items)
        reserved = len(value) + 8 + (len(lead.row.recommendation) + len(lead.guideline.label) + 50 if lead else 0)
        shown = fitted_lines(lines, room=DETAIL_CHARS - reserved)
        severity = Severity(lead.row.indicator) if lead is not None else Severity.INFO
        rec = None
        if lead is not None:
            text = lead.row.recommendation
            if lead.drug not in text.lower():
                text = f"{lead.drug}: {text[0].lower() + text[1:]}"
            rec = Recommendation(text=text, guideline=lead.guideline.label,
                                 strength=f"CPIC {lead.strength.lower()}", citation=lead.guideline.citation)
        return self.finding(
            Status.COMPUTED, finding_id=f"{self.id}:summary", value=value, severity=severity, inputs=inputs,
            input_problems=problems, recommendation=rec,
            measures=tuple(Measure(label=g, value=phenotypes[g].display if g in phenotypes else "IWPC dose", unit="",
                                   sentence=line) for g, line in zip(labels, shown)),
            explanation=tuple(t for p in phenotypes.values() for t in derivation_terms(p)),
            method=summary_method(phenotypes.values()))

    def _unreadable(self, features: FeatureSet, adapter_problems) -> Finding:
        """Genomic results were sent and none could be read: an info card that says which and why."""
        line = _unreadable_line(adapter_problems)
        return self.finding(Status.COMPUTED, finding_id=f"{self.id}:summary", value="genomic result not read",
                            input_problems=tuple(adapter_problems), severity=Severity.INFO,
                            message=line + " Review the report or repeat the test; no phenotype is assumed.",
                            measures=(Measure(label="not read", value="", unit="", sentence=line),))

    # -- explainer-page results ----------------------------------------------------------------------------------
    def _gene_finding(self, features: FeatureSet, phenotype: GenePhenotype) -> Finding:
        source = knowledge.gene_source(phenotype.gene)
        citation = Citation(short=f"CPIC {phenotype.gene} tables", full=f"{source.get('name', '')}. "
                            f"{source.get('version', '')}".strip(), url=source.get("url"), doi=source.get("doi"),
                            topic="Pharmacogenomics")
        status = Status.COMPUTED
        return self.finding(
            status, finding_id=f"{self.id}:{phenotype.gene}", title=f"{phenotype.gene} phenotype",
            citation=citation, value=phenotype.display, inputs=(result_evidence(phenotype),),
            explanation=tuple(derivation_terms(phenotype)), input_problems=phenotype_problems([phenotype]),
            method=f"{source.get('name', 'CPIC tables')}; {source.get('checked', '')}".rstrip("; "),
            message="; ".join(phenotype.problems) or None, explainer_only=True)

    def _drug_finding(self, features: FeatureSet, lookup: Lookup, current: CurrentDrug) -> Finding:
        entry = current.entry
        med = Evidence(name=f"medication:{lookup.drug}", label=lookup.drug, value=getattr(entry, "name", lookup.drug),
                       effective=getattr(entry, "start", None), source=getattr(entry, "source", None),
                       note=getattr(entry, "dose", None))
        guideline = lookup.guideline
        terms = [t for p in lookup.used for t in derivation_terms(p)]
        terms.append(Term("CPIC table row", f"{lookup.row.recommendation} ({lookup.strength})"))
        return self.finding(
            Status.COMPUTED, finding_id=f"{self.id}:{lookup.drug}", title=f"{lookup.drug} and "
            f"{', '.join(p.gene for p in lookup.used)} ({guideline.label})", citation=guideline.citation,
            value=", ".join(f"{p.gene} {p.display}" for p in lookup.used), category=lookup.strength,
            inputs=tuple(result_evidence(p) for p in lookup.used) + (med,), explanation=tuple(terms),
            thresholds=table_rows(guideline, lookup.drug, lookup.row), message=lookup.row.implication,
            method=method_text(guideline, lookup.used), recommendation=recommendation(lookup),
            assumptions=(guideline.note,) if guideline.note else (),
            input_problems=phenotype_problems(lookup.used), explainer_only=True)


# -- pieces ---------------------------------------------------------------------------------------------------------------
def summary_method(phenotypes) -> str:
    """The tables the phenotypes come from, with their versions, and how drugs were matched."""
    sources = []
    for p in phenotypes:
        source = knowledge.gene_source(p.gene)
        text = f"{source.get('name')} ({source.get('version')})" if source.get("version") else source.get("name")
        if text and text not in sources:
            sources.append(text)
    return ("Genotype to phenotype: " + "; ".join(sources) + ". Each phenotype is looked up in the CPIC table of "
            "every drug its gene affects; current medications come from the medication list.")


def current_drugs(features: FeatureSet) -> list[CurrentDrug]:
    """The active medications that are drugs of the CPIC tables, each drug once (the newest entry)."""
    out: dict[str, CurrentDrug] = {}
    for entry in features.medications:
        if not entry.active:
            continue
        for drug in drugs_in(entry.name, entry.ingredients):
            out.setdefault(drug, CurrentDrug(drug, entry))
    return list(out.values())


def actionable_phenotypes(phenotypes: dict[str, GenePhenotype]) -> dict[str, list[str]]:
    """Gene -> the drugs whose CPIC row for this patient's phenotype changes the prescription. A row that reads an HLA
    allele counts for HLA only when the allele is present (a negative HLA-B*15:02 is a condition of the CYP2C9 rows for
    phenytoin, not a finding); warfarin, dosed from the genotype whatever it is, is said on its own line."""
    out: dict[str, list[str]] = {}
    for drug in knowledge.guideline_drugs():
        for lookup in lookups_for_drug(drug, phenotypes):
            if not lookup.actionable or not lookup.row.indicator or _genotype_dosed(lookup.row):
                continue
            for key in lookup.row.when:
                gene = knowledge.gene_of_condition(key)
                phenotype = phenotypes.get(gene)
                if phenotype is None or (phenotype.hla and phenotype.hla.get(key) != "positive"):
                    continue
                drugs = out.setdefault(gene, [])
                if drug not in drugs:
                    drugs.append(drug)
    return out


def _genotype_dosed(row) -> bool:
    """A row that applies to any genotype (warfarin: the dose is computed from it)."""
    return any(isinstance(c, dict) and c.get("any") for c in row.when.values())


def _warfarin_line(finding: Finding) -> str:
    if not finding.computed:
        missing = ", ".join(m.label.lower() for m in finding.missing)
        return f"Warfarin (on the list): the IWPC pharmacogenetic dose needs {missing}, not on file."
    clinical = next((m for m in finding.measures if m.unit == "mg/week"), None)
    daily = next((m for m in finding.measures if m.unit == "mg/day"), None)
    text = f"Warfarin (on the list): IWPC pharmacogenetic dose {finding.value:g} mg/week"
    if daily is not None:
        text += f" ({daily.value:g} mg/day)"
    if clinical is not None:
        text += f"; clinical-only {clinical.value:g} mg/week"
    return text + " (CPIC strong: dose with a pharmacogenetic algorithm)."


def _reads(lookup: Lookup, gene: str) -> bool:
    return any(knowledge.gene_of_condition(k) == gene for k in lookup.row.when)


def gene_line(phenotype: GenePhenotype, drugs: list[str], current: list[Lookup]) -> str:
    """'CYP2C19 *2/*2, poor metabolizer — clopidogrel (on the list): prasugrel or ticagrelor instead (CPIC strong).'
    or, with no affected drug on the medication list, the drugs it affects. One line, whole sentences."""
    head = _head(phenotype)
    on_list = [lk.drug for lk in current]
    if current:
        return f"{head} — " + "; ".join(
            f"{lk.drug} (on the list): {short_action(lk)} (CPIC {lk.strength.lower()})" for lk in current[:2]) + "."
    others = [d for d in drugs if d not in on_list]
    listed = ", ".join(others[:3]) + (f" +{len(others) - 3} more" if len(others) > 3 else "")
    return f"{head} — affects {listed}; none on the medication list."


def _head(phenotype: GenePhenotype) -> str:
    """'CYP2C19 *2/*2, poor metabolizer'; for HLA the alleles found ('HLA-B*57:01 positive')."""
    if phenotype.hla:
        positive = [allele for allele, status in phenotype.hla.items() if status == "positive"]
        return ", ".join(f"{allele} positive" for allele in positive) or phenotype.display
    if phenotype.diplotype:
        return f"{phenotype.gene} {phenotype.diplotype}, {phenotype.display}"
    return f"{phenotype.gene} {phenotype.display}"


def short_action(lookup: Lookup) -> str:
    """The row's action in a few words: 'prasugrel or ticagrelor instead', 'avoid', 'reduce the dose by 50%'."""
    row = lookup.row
    if row.action == "replace" and row.alternatives:
        return " or ".join(row.alternatives) + " instead"
    if row.action == "avoid":
        return "avoid; choose another drug"
    if row.action == "dose" and row.dose_change:
        change = row.dose_change
        if "factor" in change:
            factor = change["factor"]
            what = change.get("applies_to", "dose")
            return (f"reduce the {what} by {round((1 - factor) * 100)}%" if factor < 1
                    else f"increase the {what} by {round((factor - 1) * 100)}%")
        if "max_daily_mg" in change:
            return f"{'below' if change.get('below') else 'at most'} {change['max_daily_mg']:g} mg/day"
    return "see the CPIC recommendation"


def fitted_lines(lines: list[str], room: int) -> list[str]:
    """As many whole gene lines as fit in ``room`` characters (at most MAX_GENE_LINES), then one short line counting
    the others (all of them are on the explainer page). Markdown escapes (a backslash before each star) count."""
    shown: list[str] = []
    for i, line in enumerate(lines):
        more = 45 if i + 1 < len(lines) else 0
        if len(shown) == MAX_GENE_LINES or sum(map(_shown_len, shown)) + _shown_len(line) + more > room:
            return shown + [f"+{len(lines) - len(shown)} more (see how this was calculated)."]
        shown.append(line)
    return shown


def _shown_len(line: str) -> int:
    return len(line) + line.count("*") + 2  # escaped stars, and the blank line between paragraphs


def summary_item(phenotype: GenePhenotype, current: list[Lookup]) -> str:
    head = _head(phenotype) if phenotype.hla else f"{phenotype.gene} {phenotype.display}"
    if current:
        head += " (" + ", ".join(lk.drug for lk in current) + ")"
    return head


def fitted_summary(items: Sequence[str]) -> str:
    """As many whole items as fit in the card summary, then '+N more'."""
    text = items[0]
    for i, item in enumerate(items[1:], start=1):
        rest = len(items) - i - 1
        candidate = f"{text}; {item}"
        if len(candidate + (f" +{rest} more" if rest else "")) > SUMMARY_MAX_TEXT:
            return f"{text} +{len(items) - i} more"
        text = candidate
    return text


def _merged(*groups) -> tuple:
    return tuple(dict.fromkeys(p for group in groups for p in group))


def _strength_rank(strength: str | None) -> int:
    return knowledge.STRENGTHS.index(strength) if strength in knowledge.STRENGTHS else len(knowledge.STRENGTHS)


def _unreadable_line(adapter_problems) -> str | None:
    """One card line for the genomic results that were sent but could not be read (the first reason, and a count)."""
    if not adapter_problems:
        return None
    first = adapter_problems[0].reason.rstrip(".")
    more = f" (and {len(adapter_problems) - 1} more, on the explainer page)" if len(adapter_problems) > 1 else ""
    return f"Not read: {first}{more}."
