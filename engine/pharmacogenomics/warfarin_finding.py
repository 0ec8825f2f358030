"""The finding of the IWPC warfarin dose: pharmacogenetic dose, clinical-only dose, each term's contribution, and
CPIC's warfarin recommendation (2017) with its caveats (CYP4F2*3, CYP2C9 alleles outside the algorithm, ancestry)."""
from __future__ import annotations

from typing import Mapping

from engine.base import Engine
from engine.finding import Citation, Evidence, Finding, Measure, Recommendation, Status, Term
from engine.inputs import FeatureSet
from engine.pharmacogenomics import knowledge
from engine.pharmacogenomics.drugs import drugs_in
from engine.pharmacogenomics.evidence import derivation_terms, phenotype_problems, result_evidence
from engine.pharmacogenomics.phenotype import GenePhenotype
from engine.pharmacogenomics.warfarin import (
    CLINICAL,
    PHARMACOGENETIC,
    IwpcInputs,
    iwpc_cyp2c9,
    iwpc_dose,
    iwpc_race,
    iwpc_vkorc1,
)

IWPC = Citation(short="IWPC 2009 (warfarin dosing algorithm)",
                full="The International Warfarin Pharmacogenetics Consortium. Estimation of the warfarin dose with "
                     "clinical and pharmacogenetic data. N Engl J Med. 2009;360(8):753-764.",
                doi="10.1056/NEJMoa0809329", url="https://doi.org/10.1056/NEJMoa0809329", topic="Pharmacogenomics")
_NUMERIC = ("age_years", "height_cm", "weight_kg")


def warfarin_dose_finding(engine: Engine, features: FeatureSet, phenotypes: Mapping[str, GenePhenotype], *,
                          finding_id: str | None = None, explainer_only: bool = True) -> Finding:
    """The IWPC weekly dose (pharmacogenetic and clinical) for this patient, or what is missing to compute it."""
    finding_id = finding_id or f"{engine.id}:warfarin-dose"
    title = "Warfarin dose (IWPC pharmacogenetic algorithm)"
    present, missing = engine.gather(features, _NUMERIC)
    if missing:
        return engine.insufficient(features, present, missing, finding_id=finding_id, title=title, citation=IWPC,
                                   explainer_only=explainer_only)
    cyp2c9 = phenotypes.get("CYP2C9")
    vkorc1 = phenotypes.get("VKORC1")
    cyp2c9_term, cyp2c9_why = iwpc_cyp2c9(cyp2c9.result.alleles if cyp2c9 is not None and cyp2c9.determined
                                          else None)
    vkorc1_term = iwpc_vkorc1(vkorc1.phenotype if vkorc1 is not None else None)
    race_category = features.value("race_omb_category")
    taken = {d for m in features.medications if m.active for d in drugs_in(m.name, m.ingredients)}
    data = knowledge.iwpc_data()
    inputs = IwpcInputs(age_years=features.value("age_years"), height_cm=features.value("height_cm"),
                        weight_kg=features.value("weight_kg"), race=iwpc_race(race_category),
                        enzyme_inducer=bool(taken & set(data["enzyme_inducers"])),
                        amiodarone=bool(taken & set(data["amiodarone"])), vkorc1=vkorc1_term, cyp2c9=cyp2c9_term)
    genetic = iwpc_dose(PHARMACOGENETIC, inputs)
    clinical = iwpc_dose(CLINICAL, inputs)
    assumptions = []
    if vkorc1_term == "unknown":
        assumptions.append("No VKORC1 -1639G>A result on file: the algorithm's 'VKORC1 unknown' term is used.")
    if cyp2c9_term == "unknown":
        assumptions.append(f"{cyp2c9_why[0].upper() + cyp2c9_why[1:]}: the algorithm's 'CYP2C9 unknown' term is used.")
    if race_category is None:
        assumptions.append("No race recorded: the algorithm's 'missing or mixed race' term is used.")
    cyp4f2 = phenotypes.get("CYP4F2")
    low, high = data["cyp4f2_star3_increase_percent"]
    if cyp4f2 is not None and cyp4f2.phenotype == "*3 carrier":
        assumptions.append(f"CYP4F2*3 carrier: CPIC suggests a {low}-{high}% higher dose than the algorithm gives "
                           f"(optional).")
    alleles = set(cyp2c9.result.alleles) if cyp2c9 is not None else set()
    reduce_low, reduce_high = data["african_ancestry_reduction_percent"]
    if alleles & set(data["african_ancestry_alleles"]):
        assumptions.append(f"CYP2C9 {', '.join(sorted(alleles & set(data['african_ancestry_alleles'])))}: CPIC "
                           f"suggests a {reduce_low}-{reduce_high}% lower dose than the algorithm gives.")
    if inputs.race == "black":
        assumptions.append("In patients of African ancestry CPIC asks for CYP2C9 *5, *6, *8 and *11 to be tested; if "
                           "they were not, CPIC recommends dosing clinically.")
    used = [p for p in (cyp2c9, vkorc1, cyp4f2) if p is not None]
    evidence = [*present, *(result_evidence(p) for p in used)]
    if race_category is not None:
        evidence.append(features.get("race_omb_category"))
    for drug in sorted(taken & (set(data["enzyme_inducers"]) | set(data["amiodarone"]))):
        evidence.append(Evidence(name=f"medication:{drug}", label=drug, value=True, note="on the medication list"))
    recommendation = None
    guideline = knowledge.guidelines().get("cpic-warfarin-2017")
    if guideline is not None and cyp2c9 is not None and vkorc1 is not None:
        row = guideline.rows[0]
        recommendation = Recommendation(text=row.recommendation, guideline=guideline.label,
                                        strength=f"CPIC {row.strength.lower()}", citation=guideline.citation)
    terms = [t for p in used for t in derivation_terms(p)]
    terms += [Term(f"Pharmacogenetic: {t.label}", t.value, round(t.contribution, 4)) for t in genetic.terms]
    terms.append(Term("Pharmacogenetic: square root of the weekly dose", "", round(genetic.sqrt_weekly, 4)))
    terms += [Term(f"Clinical: {t.label}", t.value, round(t.contribution, 4)) for t in clinical.terms]
    terms.append(Term("Clinical: square root of the weekly dose", "", round(clinical.sqrt_weekly, 4)))
    return engine.finding(
        Status.COMPUTED, finding_id=finding_id, title=title, citation=IWPC, value=round(genetic.weekly_mg, 1),
        unit="mg/week", decimals=1, inputs=tuple(e for e in evidence if e is not None),
        measures=(Measure("Pharmacogenetic daily dose", round(genetic.daily_mg, 1), "mg/day"),
                  Measure("Clinical-only weekly dose (IWPC clinical algorithm)", round(clinical.weekly_mg, 1),
                          "mg/week"),
                  Measure("Clinical-only daily dose", round(clinical.daily_mg, 1), "mg/day")),
        explanation=tuple(terms), assumptions=tuple(assumptions), recommendation=recommendation,
        input_problems=tuple(dict.fromkeys(phenotype_problems(used) + engine.relevant_problems(features))),
        method="IWPC 2009 algorithms: sqrt(weekly dose) = intercept + sum of coefficient x term; the dose is the "
               "square. Coefficients in engine/data/pharmacogenomics/iwpc_warfarin.json.",
        explainer_only=explainer_only)
