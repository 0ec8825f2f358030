"""anemia-gap: anaemia by WHO haemoglobin thresholds for age, sex and pregnancy, not on the problem list.

Sources: World Health Organization. Haemoglobin concentrations for the diagnosis of anaemia and assessment of
severity. Vitamin and Mineral Nutrition Information System. WHO/NMH/NHD/MNM/11.1. Geneva: WHO; 2011 (Table 1);
World Health Organization. Guideline on haemoglobin cutoffs to define anaemia in individuals and populations.
Geneva: WHO; 2024 (keeps the non-pregnant adult cut-offs; in pregnancy < 110 g/L in the first and third and < 105 g/L
in the second trimester).

Thresholds (g/dL; anaemia below the first number; severity bands per WHO 2011 Table 1):

    group                               anaemia   mild        moderate   severe
    non-pregnant women >= 15 years      < 12.0    11.0-11.9   8.0-10.9   < 8.0
    men >= 15 years                     < 13.0    11.0-12.9   8.0-10.9   < 8.0
    pregnant women                      < 11.0    10.0-10.9   7.0-9.9    < 7.0
    children 12-14 years                < 12.0    11.0-11.9   8.0-10.9   < 8.0
    children 5-11 years                 < 11.5    11.0-11.4   8.0-10.9   < 8.0
    children 6-59 months                < 11.0    10.0-10.9   7.0-9.9    < 7.0

The trimester is not in the features, so pregnancy uses 11.0 throughout (the 2024 second-trimester cut-off 10.5 is
not applied: a value of 10.5-10.9 g/dL in the second trimester is flagged although WHO 2024 would not). No altitude
or smoking adjustment is made. The newest haemoglobin in the look-back window is judged (no repeat needed).
Without a recorded pregnancy a woman is assumed not pregnant, and the card says so.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.detectors.common import (
    DiagnosisDetector,
    add_condition_action,
    age_of,
    already_documented,
    concept,
    criterion,
    fmt,
    option,
    order_action,
    pregnant,
    readings,
    sex_of,
)
from engine.finding import Citation, Finding, Term
from engine.inputs import FeatureSet
from engine.registry import detector


@dataclass(frozen=True)
class WhoGroup:
    name: str
    short: str  # for the card summary
    anaemia_below: float  # g/dL
    mild_from: float  # mild: [mild_from, anaemia_below)
    moderate_from: float  # moderate: [moderate_from, mild_from); severe below


# WHO 2011, Table 1 (converted from g/L to g/dL by dividing by 10).
PREGNANT = WhoGroup("pregnant women", "pregnancy", 11.0, 10.0, 7.0)
WOMEN = WhoGroup("non-pregnant women (>= 15 years)", "non-pregnant woman", 12.0, 11.0, 8.0)
MEN = WhoGroup("men (>= 15 years)", "man", 13.0, 11.0, 8.0)
CHILDREN_12_14 = WhoGroup("children 12-14 years", "child 12-14 y", 12.0, 11.0, 8.0)
CHILDREN_5_11 = WhoGroup("children 5-11 years", "child 5-11 y", 11.5, 11.0, 8.0)
CHILDREN_6_59_MONTHS = WhoGroup("children 6-59 months", "child 6-59 mo", 11.0, 10.0, 7.0)
ADULT_AGE = 15.0  # WHO 2011: sex-specific adult thresholds from age 15
DEFAULT_LOOKBACK_DAYS = 365  # project choice: the newest haemoglobin of the last year


def who_group(age_years: float, sex: str | None, is_pregnant: bool | None) -> WhoGroup | None:
    """The WHO threshold group, or None when it cannot be chosen (adult of unknown sex, infant < 6 months)."""
    if is_pregnant is True and sex != "male":
        return PREGNANT
    if age_years >= ADULT_AGE:
        return {"female": WOMEN, "male": MEN}.get(sex or "")
    if age_years >= 12:
        return CHILDREN_12_14
    if age_years >= 5:
        return CHILDREN_5_11
    if age_years >= 0.5:
        return CHILDREN_6_59_MONTHS
    return None


def severity_band(hb_gdl: float, group: WhoGroup) -> str | None:
    if hb_gdl >= group.anaemia_below:
        return None
    if hb_gdl >= group.mild_from:
        return "mild"
    return "moderate" if hb_gdl >= group.moderate_from else "severe"


def group_thresholds(group: WhoGroup) -> tuple[str, ...]:
    return (f"{group.name}: anaemia < {group.anaemia_below:.1f} g/dL",
            f"mild {group.mild_from:.1f}-{group.anaemia_below - 0.1:.1f}",
            f"moderate {group.moderate_from:.1f}-{group.mild_from - 0.1:.1f}",
            f"severe < {group.moderate_from:.1f} g/dL")


@detector
class AnemiaGap(DiagnosisDetector):
    id = "anemia-gap"
    version = "1.0.0"
    title = "Possible undocumented anaemia"
    citation = Citation(
        short="WHO 2011 haemoglobin thresholds (WHO 2024 guideline)",
        full=("World Health Organization. Haemoglobin concentrations for the diagnosis of anaemia and assessment of "
              "severity. WHO/NMH/NHD/MNM/11.1. Geneva: WHO; 2011. World Health Organization. Guideline on "
              "haemoglobin cutoffs to define anaemia in individuals and populations. Geneva: WHO; 2024."),
        url="https://iris.who.int/handle/10665/85839",
        topic="Anaemia diagnosis",
    )
    requires = ("hemoglobin_gdl", "age_years", "sex")
    optional = ("pregnant", "anemia")

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        anemia = concept("anemia")
        if already_documented(features, anemia, "anemia"):
            return []
        window = option(features, "hemoglobin_lookback_days", DEFAULT_LOOKBACK_DAYS)
        hbs, problems = readings(features, "hemoglobin_gdl", window_days=window)
        if not hbs:
            return []
        hb = hbs[0]
        # Below every WHO cut-off that could apply? Then missing facts cannot change the answer's direction.
        if hb.value >= MEN.anaemia_below:
            return []
        age, sex, is_pregnant = age_of(features), sex_of(features), pregnant(features)
        if age is None or (age >= ADULT_AGE and sex is None and is_pregnant is not True):
            names = [n for n, v in (("age_years", age), ("sex", sex)) if v is None]
            return [self.needs(features, suffix="anemia", names=names, inputs=[hb.evidence], problems=problems,
                               why=(f"Haemoglobin {fmt(hb.value, 'hemoglobin_gdl')} g/dL; the WHO anaemia threshold depends on age, sex "
                                    "and pregnancy."))]
        group = who_group(age, sex, is_pregnant)
        if group is None:
            return []
        band = severity_band(hb.value, group)
        if band is None:
            return []
        assumptions = []
        if sex == "female" and is_pregnant is None and age >= 10:
            assumptions.append("No pregnancy is recorded: the threshold for non-pregnant women was used.")
        if group is PREGNANT:
            assumptions.append("The trimester is unknown: 11.0 g/dL was used; WHO 2024 uses 10.5 g/dL in the second "
                               "trimester.")
        assumptions.append("No adjustment for altitude or smoking (WHO 2024) was made.")
        terms = [criterion(f"Haemoglobin < {group.anaemia_below:.1f} g/dL ({group.name}, WHO)", [hb]),
                 Term("WHO severity", band)]
        evidence = [hb.evidence]
        return [self.gap(
            features, suffix="anemia", condition=anemia,
            title="Possible undocumented anaemia",
            value=f"Hb {fmt(hb.value, 'hemoglobin_gdl')} g/dL", category=f"{band}, WHO threshold for {group.short}",
            inputs=evidence, explanation=terms, problems=problems,
            message=(f"Haemoglobin {fmt(hb.value, 'hemoglobin_gdl')} g/dL on {hb.day.isoformat()} is below the WHO threshold for "
                     f"{group.name} ({group.anaemia_below:.1f} g/dL): {band} anaemia. Anaemia is not on the active "
                     "problem list."),
            actions=[
                add_condition_action(anemia, evidence,
                                     why=f"Hb {fmt(hb.value, 'hemoglobin_gdl')} g/dL on {hb.day.isoformat()} ({band}, WHO)."),
                order_action("cbc", label="Order a complete blood count with red-cell indices",
                             reason=(f"Confirm and classify the anaemia (Hb {fmt(hb.value, 'hemoglobin_gdl')} g/dL on "
                                     f"{hb.day.isoformat()}); indices guide the work-up."),
                             condition=anemia, evidence=evidence),
            ],
            assumptions=assumptions, thresholds=group_thresholds(group),
            method="WHO 2011 Table 1 threshold for the patient's age, sex and pregnancy, applied to the newest Hb.",
        )]
