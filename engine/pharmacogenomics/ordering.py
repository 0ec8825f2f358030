"""order-select / order-sign: the pharmacogenomics of a drafted drug (engine "pharmacogenomics-order").

For each drafted drug of a CPIC guideline (each selected draft on order-select, every draft on order-sign):

* the patient's phenotype calls for a change (a CPIC row that is not "standard", with an alert indicator): the card
  says what CPIC recommends, with its classification and the guideline, and the suggestions change the order as the
  row says - ``replace``: cancel the draft and start one of the alternatives at its standard dose (prasugrel or
  ticagrelor for a CYP2C19 poor metabolizer drafted clopidogrel; the card is at-most-one), ``avoid``: cancel the
  draft, ``dose``: update the draft to the dose CPIC gives (a factor of the drafted dose, or a daily maximum when the
  draft is above it); ``advice`` rows (a range, a titration) change nothing and say what to consider;
* warfarin with CYP2C9 and VKORC1 on file: the IWPC pharmacogenetic weekly dose next to the clinical-only dose;
* no result on file for a gene of a CPIC level A pair: an info card suggesting the test (a ServiceRequest);
* a result on file that gives no phenotype: an info card saying why (never a guess).

A normal phenotype gives no card. Findings carry ``OrderCheckDetails`` (draft, rule, trigger), so the services show
an alert once per draft across order-select and order-sign (cds_hooks/alert_memory.py).
"""
from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Mapping

from engine.clinical_record import DraftOrder
from engine.finding import Evidence, Finding, Recommendation, Severity, Status, Term
from engine.inputs import FeatureSet
from engine.order_checks.common import OrderCheck, OrderCheckDetails, cancel, dose_suggestions, drafted_dose, finding_id
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
from engine.pharmacogenomics.summary import CPIC, _genotype_dosed, short_action
from engine.pharmacogenomics.warfarin_finding import warfarin_dose_finding
from engine.proposals import (
    LOINC,
    RXNORM,
    CancelDraftOrder,
    Coding,
    Dose,
    MedicationOption,
    OrderTest,
    SelectionBehavior,
    StartMedication,
    Suggestion,
    suggest,
)
from engine.registry import pharmacogenomic

# The ServiceRequest code of a pharmacogenomic test: LOINC 51969-4 "Genetic analysis report", the code the HL7 Genomics
# Reporting IG gives its pharmacogenomic test orders; the gene or allele tested is in the order's text.
GENETIC_TEST = Coding(LOINC, "51969-4", "Genetic analysis report")


@pharmacogenomic
class PharmacogenomicOrderCheck(OrderCheck):
    id = "pharmacogenomics-order"
    version = "1.0.0"
    title = "Pharmacogenomics of the drafted drug (CPIC)"
    citation = CPIC
    optional: ClassVar[tuple[str, ...]] = ("age_years", "height_cm", "weight_kg", "race_omb_category")
    reads_records: ClassVar[tuple[str, ...]] = ("MedicationRequest", "MedicationStatement", "genomic-results",
                                                "genomic-reports", "therapeutic-implications")

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        phenotypes = gene_phenotypes(features.gene_results)
        out: list[Finding] = []
        for draft in features.draft_orders:
            if not draft.selected or draft.resource_type != "MedicationRequest":
                continue
            for drug in drugs_in(draft.name, draft.ingredients, draft.codes):
                for lookup in lookups_for_drug(drug, phenotypes):
                    found = self._finding(draft, lookup, features, phenotypes)
                    if found is not None:
                        out.append(found)
        return out

    def _finding(self, draft: DraftOrder, lookup: Lookup, features: FeatureSet,
                 phenotypes: Mapping[str, GenePhenotype]) -> Finding | None:
        row = lookup.row
        if row is not None and _genotype_dosed(row):
            return self._warfarin(draft, lookup, features, phenotypes)
        if row is not None:
            return self._change(draft, lookup, features) if row.actionable and row.indicator else None
        if lookup.missing and not lookup.undetermined and lookup.guideline.cpic_level == "A":
            return self._test(draft, lookup, features)
        return self._undetermined(draft, lookup, features)

    # -- a phenotype that changes the order ------------------------------------------------------------------------------
    def _change(self, draft: DraftOrder, lookup: Lookup, features: FeatureSet) -> Finding:
        row, guideline, drug = lookup.row, lookup.guideline, lookup.drug
        genes = _phenotype_text(lookup.used)
        reason = f"{genes}: {row.recommendation} ({guideline.label}, {lookup.strength.lower()})"
        suggestions, note, severity = self._suggestions(draft, lookup, reason)
        message = row.implication + (f" {note}" if note else "")
        return self._order_finding(
            draft, lookup, features, rule=f"{guideline.key}/{row.index}", trigger=genes,
            title=f"{drug.capitalize()} with {genes}", value=short_action(lookup), severity=severity,
            message=message, suggestions=suggestions)

    def _suggestions(self, draft: DraftOrder, lookup: Lookup, reason: str) -> tuple[list[Suggestion], str, str]:
        """The suggestions of the row's action, a note on the drafted dose, and the card's indicator."""
        row = lookup.row
        if row.action == "replace":
            return replacements(draft, lookup, reason), "", row.indicator
        if row.action == "avoid":
            return cancel(draft, reason=reason), "", row.indicator
        if row.action == "dose" and row.dose_change:
            return self._dose(draft, lookup.drug, row.dose_change, reason, row.indicator)
        return [], "", row.indicator

    def _dose(self, draft: DraftOrder, drug: str, change: Mapping, reason: str, indicator: str):
        dose = draft.dose
        if dose is None or dose.amount_mg is None or dose.per_day is None or dose.per_day != int(dose.per_day):
            return [], f"The drafted dose ({drafted_dose(draft)}) cannot be recalculated here.", indicator
        per_day = int(dose.per_day)
        if "factor" in change:
            amount = round(dose.amount_mg * change["factor"], 2)
            what = change.get("applies_to", "dose")
            return dose_suggestions(draft, ingredient=drug, amount_mg=amount, per_day=per_day, reason=reason), \
                f"The drafted {what} is {drafted_dose(draft)}.", indicator
        limit = float(change["max_daily_mg"])
        daily = dose.daily_mg if dose.daily_mg is not None else dose.amount_mg * per_day
        above = daily >= limit if change.get("below") else daily > limit
        if not above:
            return [], f"The drafted {drafted_dose(draft)} is within CPIC's limit.", "info"
        target = float(change.get("propose_daily_mg", limit))
        note = f"The drafted {drafted_dose(draft)} is above CPIC's limit." + (
            f" {change['why'][0].upper() + change['why'][1:]}." if change.get("why") else "")
        return dose_suggestions(draft, ingredient=drug, amount_mg=round(target / per_day, 2), per_day=per_day,
                                reason=reason), note, \
            indicator

    # -- warfarin -----------------------------------------------------------------------------------------------------
    def _warfarin(self, draft: DraftOrder, lookup: Lookup, features: FeatureSet,
                  phenotypes: Mapping[str, GenePhenotype]) -> Finding:
        dose = warfarin_dose_finding(self, features, phenotypes, explainer_only=False,
                                     finding_id=finding_id(self.id, "warfarin-iwpc", draft.reference))
        details = OrderCheckDetails(draft=draft.reference, rule="warfarin-iwpc",
                                    trigger=_phenotype_text(lookup.used))
        return replace(dose, details=details, inputs=dose.inputs + (_draft_evidence(draft),))

    # -- no result on file: the test ---------------------------------------------------------------------------------
    def _test(self, draft: DraftOrder, lookup: Lookup, features: FeatureSet) -> Finding:
        guideline, drug = lookup.guideline, lookup.drug
        tests = [OrderTest(code=GENETIC_TEST, text=f"{gene} {'test' if '*' in gene else 'genotype'}",
                           reason=f"CPIC level {guideline.cpic_level}: {gene} guides {drug} dosing or choice "
                                  f"({guideline.label})",
                           description=f"Order {gene} {'testing' if '*' in gene else 'genotyping'} before {drug} "
                                       f"({guideline.label})")
                 for gene in lookup.missing]
        testing = "testing" if any("*" in g for g in lookup.missing) else "genotyping"
        genes = " and ".join(lookup.missing)
        on_file = f" ({_phenotype_text(lookup.used)} on file)" if lookup.used else ""
        unread = _unread_problems(features, lookup.missing)
        if unread:
            # A result was sent but could not be read: that is not "no result", and the card must not say so.
            message = (f"A {genes} result is on file but could not be read: {unread[0].reason.rstrip('.')}. "
                       f"No phenotype is assumed; review the report or repeat the test before {drug} "
                       f"({guideline.label}, CPIC level {guideline.cpic_level}).")
            return self._order_finding(
                draft, lookup, features, rule=f"{guideline.key}/unread", trigger="result not read",
                title=f"{genes} result for {drug} not readable", value="review the result or repeat the test",
                severity="warning", message=message,
                suggestions=[suggest(f"Repeat {genes} {testing}", *tests)], recommend=False)
        message = (f"No {genes} result on file{on_file}. {genes} with {drug} is a CPIC level {guideline.cpic_level} "
                   f"pair: the genotype should guide {drug} ({guideline.label}).")
        return self._order_finding(
            draft, lookup, features, rule=f"{guideline.key}/test", trigger="no result on file",
            title=f"No {genes} result for {drug}", value=f"{testing} suggested (CPIC level {guideline.cpic_level})",
            severity="info", message=message, suggestions=[suggest(f"Order {genes} {testing}", *tests)],
            recommend=False)

    def _undetermined(self, draft: DraftOrder, lookup: Lookup, features: FeatureSet) -> Finding:
        guideline, drug = lookup.guideline, lookup.drug
        return self._order_finding(
            draft, lookup, features, rule=f"{guideline.key}/undetermined", trigger=lookup.why_none or "",
            title=f"{drug.capitalize()}: pharmacogenomic result not usable", value="no CPIC recommendation applies",
            severity="info", message=(lookup.why_none or "No CPIC row applies.") + ".", recommend=False)

    # -- the finding --------------------------------------------------------------------------------------------------
    def _order_finding(self, draft: DraftOrder, lookup: Lookup, features: FeatureSet, *, rule: str, trigger: str,
                       title: str, value: str, severity: str, message: str,
                       suggestions=(), recommend: bool = True) -> Finding:
        guideline = lookup.guideline
        terms = [t for p in lookup.used for t in derivation_terms(p)]
        if lookup.row is not None:
            terms.append(Term("CPIC table row", f"{lookup.row.recommendation} ({lookup.strength})"))
        rec: Recommendation | None = recommendation(lookup) if recommend else None
        # Alternatives (cancel and start one of them) exclude each other: the card is at-most-one.
        choice = any(isinstance(p, StartMedication) for s in suggestions for p in s.proposals)
        return self.finding(
            Status.COMPUTED, finding_id=finding_id(self.id, rule, draft.reference), title=title, value=value,
            category=f"CPIC {lookup.strength.lower()}" if lookup.strength else None, severity=Severity(severity), message=message, citation=guideline.citation,
            inputs=tuple(result_evidence(p) for p in lookup.used) + (_draft_evidence(draft),),
            explanation=tuple(terms), thresholds=table_rows(guideline, lookup.drug, lookup.row),
            method=method_text(guideline, lookup.used), recommendation=rec,
            assumptions=(guideline.note,) if guideline.note and lookup.row is not None else (),
            input_problems=tuple(dict.fromkeys(phenotype_problems(lookup.used) + _adapter_problems(features)
                                               + self.relevant_problems(features))),
            suggestions=tuple(suggestions),
            selection=SelectionBehavior.AT_MOST_ONE if choice else SelectionBehavior.ANY,
            details=OrderCheckDetails(draft=draft.reference, rule=rule, trigger=trigger))


def _adapter_problems(features: FeatureSet) -> tuple:
    """Genomic results that could not be read (named on every card: a result may be missing because of one)."""
    return tuple(p for p in features.problems if p.name == RESULTS_FEATURE)


def _phenotype_text(phenotypes) -> str:
    """'CYP2C19 poor metabolizer (*2/*2)', 'HLA-B*57:01 positive'."""
    parts = []
    for p in phenotypes:
        if p.hla:
            parts.append(p.display)
        else:
            parts.append(f"{p.gene} {p.display}" + (f" ({p.diplotype})" if p.diplotype else ""))
    return "; ".join(parts)


def _draft_evidence(draft: DraftOrder) -> Evidence:
    return Evidence(name="drafted_order", label="Drafted order", value=draft.name, source=draft.reference,
                    note=drafted_dose(draft))


def replacements(draft: DraftOrder, lookup: Lookup, reason: str) -> list[Suggestion]:
    """Cancel the draft; and, for each alternative the CPIC row names that has a code and a standard dose, cancel it and
    start the alternative (delete + create). CPIC names the alternatives without a preference: none is recommended."""
    name = lookup.drug
    remove = CancelDraftOrder(draft=draft.reference, description=f"Cancel the drafted {name}: {reason}", reason=reason)
    out = [suggest(f"Cancel the {name} order", remove)]
    for alternative in lookup.row.alternatives:
        entry = knowledge.drug(alternative)
        dose = entry.get("standard_dose")
        if not entry.get("rxcui") or not dose:
            continue  # named on the card; no order is drafted without its code and dose
        text = f"{alternative} {dose['text']}"
        option = MedicationOption(medication=Coding(RXNORM, entry["rxcui"], alternative),
                                  dose=Dose(text=text, quantity=float(dose["quantity"]), unit="mg",
                                            times_per_day=int(dose["times_per_day"])), label=text)
        why = f"{lookup.guideline.label}, {lookup.strength.lower()}"
        start = StartMedication(options=(option,), reason=f"Instead of {name}: {why}", recommended=None,
                                description=f"Start {text} instead of {name} ({why})")
        out.append(suggest(f"Cancel {name}; start {text}", remove, start))
    return out


def _unread_problems(features: FeatureSet, genes) -> list:
    """The genomic input problems (results sent but not read) about any of ``genes`` ("CYP2C19", "HLA-B*57:01")."""
    names = {g.split("*")[0] for g in genes}
    return [p for p in _adapter_problems(features) if any(n in (p.reason or "") for n in names)]
