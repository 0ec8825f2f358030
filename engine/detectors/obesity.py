"""obesity-gap: adult obesity class by BMI, not on the problem list.

Source: World Health Organization. Obesity: preventing and managing the global epidemic. Report of a WHO
Consultation. WHO Technical Report Series 894. Geneva: WHO; 2000 (Table 2.1: BMI classification of adults).

* Obesity class 1: BMI 30.0-34.9; class 2: 35.0-39.9; class 3: >= 40.0 kg/m2. Compared unrounded (29.99 is not
  obese).
* BMI is the newest recorded BMI inside the look-back window; without one, it is computed from the newest weight and
  the newest height (weight_kg / (height_cm / 100)^2), with both results cited.
* Adults only: from age 20 (WHO 2007 growth reference and CDC BMI-for-age charts cover ages up to 19 years; adult
  cut-offs apply from 20). Not applied in pregnancy (weight gain of pregnancy).
"""
from __future__ import annotations

from engine.detectors.common import (
    DiagnosisDetector,
    Reading,
    add_condition_action,
    already_documented,
    concept,
    criterion,
    fmt,
    option,
    readings,
)
from engine.finding import Citation, Evidence, Finding, Term
from engine.inputs import FeatureSet, feature_label, feature_unit
from engine.registry import detector

# WHO TRS 894 (2000), Table 2.1: lower bounds of the obesity classes, kg/m2.
CLASSES = (("class 3", 40.0), ("class 2", 35.0), ("class 1", 30.0))
CLASS_RANGES = {"class 1": "30.0-34.9 kg/m2", "class 2": "35.0-39.9 kg/m2", "class 3": ">= 40.0 kg/m2"}
ADULT_AGE = 20.0  # WHO/CDC: BMI-for-age percentiles up to 19 years
# Project choices: BMI and weight from the last two years; adult height from the last ten.
DEFAULT_LOOKBACK_DAYS = 730
HEIGHT_LOOKBACK_DAYS = 3650

THRESHOLD_LINES = ("class 1: BMI 30.0-34.9", "class 2: BMI 35.0-39.9", "class 3: BMI >= 40.0 kg/m2")


def obesity_class(bmi: float) -> str | None:
    for name, low in CLASSES:
        if bmi >= low:
            return name
    return None


@detector
class ObesityGap(DiagnosisDetector):
    id = "obesity-gap"
    version = "1.0.0"
    title = "Possible undocumented obesity"
    citation = Citation(
        short="WHO TRS 894 (2000) BMI classification",
        full=("World Health Organization. Obesity: preventing and managing the global epidemic. Report of a WHO "
              "Consultation. WHO Technical Report Series 894. Geneva: World Health Organization; 2000. Table 2.1."),
        url="https://iris.who.int/handle/10665/42330",
        topic="Obesity diagnosis",
    )
    requires = ("bmi_kgm2", "age_years")
    optional = ("height_cm", "weight_kg", "obesity", "pregnant")

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        obesity = concept("obesity")
        if already_documented(features, obesity, "obesity"):
            return []
        bmi, used, how, problems = self._bmi(features)
        if bmi is None:
            return []
        klass = obesity_class(bmi.value)
        if klass is None:
            return []
        evidence = [r.evidence for r in used]
        not_assessed = self.unless_adult_outside_pregnancy(
            features, suffix="obesity", adult_age=ADULT_AGE, inputs=evidence, problems=problems,
            in_pregnancy=(f"BMI {fmt(bmi.value, 'bmi_kgm2')} kg/m2 during a recorded pregnancy: the adult BMI classes do not apply "
                          "in pregnancy."),
            age_needed=f"BMI {fmt(bmi.value, 'bmi_kgm2')} kg/m2; age is needed to apply the adult BMI classes.")
        if not_assessed is not None:
            return not_assessed
        terms = [criterion(f"BMI in obesity {klass} ({CLASS_RANGES[klass]})", [bmi])]
        if how:
            terms.append(Term("BMI computed", how))
        return [self.gap(
            features, suffix="obesity", condition=obesity, variant=klass,
            title="Possible undocumented obesity",
            value=f"BMI {fmt(bmi.value, 'bmi_kgm2')} kg/m2", category=f"obesity {klass}",
            inputs=evidence, explanation=terms, problems=problems,
            message=(f"BMI {fmt(bmi.value, 'bmi_kgm2')} kg/m2 on {bmi.day.isoformat()} is obesity {klass} (WHO) and obesity is "
                     "not on the active problem list."),
            actions=[add_condition_action(obesity, evidence, variant=klass,
                                          why=f"BMI {fmt(bmi.value, 'bmi_kgm2')} kg/m2 on {bmi.day.isoformat()} (WHO {klass}).")],
            assumptions=["BMI does not distinguish fat from muscle mass and under-estimates adiposity in some "
                         "ethnic groups (lower Asian cut-offs are not applied)."],
            thresholds=THRESHOLD_LINES,
            method="WHO TRS 894 Table 2.1 applied to the newest adult BMI.",
        )]

    def _bmi(self, features: FeatureSet):
        return latest_bmi(features)


def latest_bmi(features: FeatureSet):
    """(BMI reading, readings cited, how it was computed or '', problems); BMI None when not obtainable. The one BMI
    the obesity detector and the weight-management rule (engine/rules/lifestyle.py) read."""
    window = option(features, "bmi_lookback_days", DEFAULT_LOOKBACK_DAYS)
    bmis, problems = readings(features, "bmi_kgm2", window_days=window)
    if bmis:
        return bmis[0], [bmis[0]], "", problems
    weights, w_problems = readings(features, "weight_kg", window_days=window)
    heights, h_problems = readings(features, "height_cm", window_days=HEIGHT_LOOKBACK_DAYS)
    problems += w_problems + h_problems
    if not weights or not heights:
        return None, [], "", problems
    weight, height = weights[0], heights[0]
    value = weight.value / (height.value / 100.0) ** 2
    derived = Evidence(
        name="bmi_kgm2", label=feature_label("bmi_kgm2"), value=value, unit=feature_unit("bmi_kgm2"),
        effective=weight.evidence.effective, derived_from=(weight.evidence, height.evidence),
        note=f"computed from weight {fmt(weight.value, 'weight_kg')} kg and height {fmt(height.value, 'height_cm')} cm",
    )
    bmi = Reading(derived, value, weight.day)
    how = (f"{fmt(weight.value, 'weight_kg')} kg / ({fmt(height.value, 'height_cm')} cm / 100)^2 = {value:.1f} kg/m2 "
           f"(weight {weight.day.isoformat()}, height {height.day.isoformat()})")
    return bmi, [bmi, weight, height], how, problems
