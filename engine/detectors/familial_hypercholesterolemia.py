"""fh-possible: severe hypercholesterolaemia (LDL-C >= 190 mg/dL) -> possible familial hypercholesterolaemia.

Sources:
* Grundy SM, Stone NJ, Bailey AL, et al. 2018 AHA/ACC/AACVPR/AAPA/ABC/ACPM/ADA/AGS/APhA/ASPC/NLA/PCNA Guideline on
  the Management of Blood Cholesterol. Circulation. 2019;139:e1082-e1143: LDL-C >= 190 mg/dL is "severe primary
  hypercholesterolemia" (section 4.2) in adults 20-75 years; it calls for evaluation of secondary causes and
  consideration of familial hypercholesterolaemia (FH), with genetic testing and cascade screening of relatives.
* Dutch Lipid Clinic Network (DLCN) criteria (World Health Organization. Familial hypercholesterolaemia: report of a
  WHO consultation, WHO/HGN/FH/CONS/99.2, 1999; as tabulated in Nordestgaard BG et al., Eur Heart J.
  2013;34:3478-3490, Table 2): LDL-C points >= 330 mg/dL (>= 8.5 mmol/L) 8, 250-329 (6.5-8.4) 5, 190-249 (5.0-6.4)
  3, 155-189 (4.0-4.9) 1; total > 8 definite, 6-8 probable, 3-5 possible, < 3 unlikely FH.

Rules: the highest LDL-C inside the look-back window counts (DLCN scores the untreated LDL-C). Treatment only lowers
LDL-C, so a value >= 190 mg/dL measured on a statin still means the untreated value is >= 190; the statin is named in
an assumption. The DLCN points come from LDL-C alone - family history, tendon xanthomata, arcus and premature ASCVD
can only raise them, which the card says. Adults (>= 20 years, the guideline's age for this threshold), outside
pregnancy (LDL-C rises physiologically in pregnancy).
"""
from __future__ import annotations

from engine.detectors.common import (
    DiagnosisDetector,
    add_condition_action,
    already_documented,
    concept,
    criterion,
    fmt,
    option,
    readings,
)
from engine.finding import Citation, Finding, Term
from engine.inputs import FeatureSet
from engine.registry import detector

# 2018 AHA/ACC cholesterol guideline, section 4.2: severe primary hypercholesterolaemia.
LDL_SEVERE_MGDL = 190.0
# DLCN LDL-C points (mg/dL lower bounds), Nordestgaard 2013 Table 2.
DLCN_LDL_POINTS = ((330.0, 8), (250.0, 5), (190.0, 3), (155.0, 1))
# DLCN total score -> FH diagnosis.
DLCN_CATEGORIES = ((9, "definite"), (6, "probable"), (3, "possible"), (0, "unlikely"))
ADULT_AGE = 20.0
DEFAULT_LOOKBACK_DAYS = 1825  # project choice: five years, as the adapter's lipid window (Arnett 2019: every 4-6 y)

THRESHOLD_LINES = ("LDL-C >= 190 mg/dL: severe hypercholesterolaemia (2018 AHA/ACC)",
                   "DLCN LDL-C points: >= 330 -> 8, 250-329 -> 5, 190-249 -> 3, 155-189 -> 1",
                   "DLCN total: 3-5 possible, 6-8 probable, > 8 definite FH")


def dlcn_ldl_points(ldl_mgdl: float) -> int:
    for low, points in DLCN_LDL_POINTS:
        if ldl_mgdl >= low:
            return points
    return 0


def dlcn_category(points: int) -> str:
    for low, name in DLCN_CATEGORIES:
        if points >= low:
            return name
    return "unlikely"  # pragma: no cover - points are never negative


@detector
class PossibleFamilialHypercholesterolemia(DiagnosisDetector):
    id = "fh-possible"
    version = "1.0.0"
    title = "Possible familial hypercholesterolaemia"
    citation = Citation(
        short="Grundy 2019 (2018 AHA/ACC cholesterol guideline); DLCN criteria",
        full=("Grundy SM, Stone NJ, Bailey AL, et al. 2018 AHA/ACC/AACVPR/AAPA/ABC/ACPM/ADA/AGS/APhA/ASPC/NLA/PCNA "
              "Guideline on the Management of Blood Cholesterol. Circulation. 2019;139(25):e1082-e1143. Dutch Lipid "
              "Clinic Network criteria as in Nordestgaard BG, Chapman MJ, Humphries SE, et al. Eur Heart J. "
              "2013;34(45):3478-3490, Table 2."),
        url="https://doi.org/10.1161/CIR.0000000000000625",
        doi="10.1161/CIR.0000000000000625",
        topic="Familial hypercholesterolaemia detection",
    )
    requires = ("ldl_mgdl", "age_years")
    optional = ("familial_hypercholesterolemia", "statin", "pregnant")

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        fh = concept("familial-hypercholesterolemia")
        if already_documented(features, fh, "familial_hypercholesterolemia"):
            return []
        window = option(features, "ldl_lookback_days", DEFAULT_LOOKBACK_DAYS)
        ldl, problems = readings(features, "ldl_mgdl", window_days=window)
        severe = [r for r in ldl if r.value >= LDL_SEVERE_MGDL]
        if not severe:
            return []
        evidence = [r.evidence for r in severe]
        highest = max(severe, key=lambda r: r.value)
        not_assessed = self.unless_adult_outside_pregnancy(
            features, suffix="fh", adult_age=ADULT_AGE, inputs=evidence, problems=problems,
            in_pregnancy=(f"LDL-C {fmt(highest.value, 'ldl_mgdl')} mg/dL during a recorded pregnancy, when LDL-C rises "
                          "physiologically; re-check after pregnancy."),
            age_needed=f"LDL-C {fmt(highest.value, 'ldl_mgdl')} mg/dL; age is needed to apply the adult threshold.")
        if not_assessed is not None:
            return not_assessed
        points = dlcn_ldl_points(highest.value)
        category = dlcn_category(points)
        assumptions = ["DLCN points from LDL-C only: family history, tendon xanthomata, corneal arcus, premature "
                       "ASCVD and a causal variant are not assessed and can only raise the score."]
        statin = features.get("statin")
        if statin is not None and statin.value is True:
            assumptions.append("A statin is recorded: if the LDL-C was measured on treatment, the untreated LDL-C is "
                               "higher still, so the points are a lower bound.")
        terms = [criterion("LDL-C >= 190 mg/dL (2018 AHA/ACC severe hypercholesterolaemia)", severe),
                 Term("DLCN LDL-C points (highest LDL-C)", f"{points} for {highest.describe()}"),
                 Term("DLCN category from LDL-C alone", f"{category} FH (at least)")]
        return [self.gap(
            features, suffix="fh", condition=fh,
            title="Possible familial hypercholesterolaemia",
            value=f"LDL-C {fmt(highest.value, 'ldl_mgdl')} mg/dL", category=f"DLCN {points} points, {category}",
            inputs=evidence, explanation=terms, problems=problems,
            message=(f"LDL-C {fmt(highest.value, 'ldl_mgdl')} mg/dL on {highest.day.isoformat()} is severe hypercholesterolaemia "
                     f"(>= 190 mg/dL; DLCN {points} points from LDL-C alone: {category} FH). Exclude secondary causes "
                     "(hypothyroidism, nephrotic syndrome, cholestasis, drugs), take a family history and consider "
                     "genetic testing and cascade screening. FH is not on the active problem list."),
            actions=[add_condition_action(fh, evidence, why=f"LDL-C {fmt(highest.value, 'ldl_mgdl')} mg/dL on "
                                                             f"{highest.day.isoformat()} (>= 190 mg/dL).")],
            assumptions=assumptions, thresholds=THRESHOLD_LINES,
            method="2018 AHA/ACC LDL-C >= 190 mg/dL threshold; DLCN LDL-C points from the highest LDL-C in the window.",
        )]
