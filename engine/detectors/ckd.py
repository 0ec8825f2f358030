"""ckd-gap: chronic kidney disease by eGFR or albuminuria persisting > 90 days, not on the problem list.

Source: Kidney Disease: Improving Global Outcomes (KDIGO) CKD Work Group. KDIGO 2012 Clinical Practice Guideline for
the Evaluation and Management of Chronic Kidney Disease. Kidney Int Suppl. 2013;3(1):1-150 (recommendations 1.1.1,
1.2.4; Tables 1, 2, 4 and Figure 9), confirmed by the KDIGO 2024 CKD guideline (Kidney Int. 2024;105(4S):S117-S314).

* CKD = abnormal kidney structure or function present for > 3 months. The markers read here: GFR < 60
  mL/min/1.73 m2 (G3a-G5) and albuminuria ACR >= 30 mg/g (A2-A3).
* Persistence rule (this project's reading of "> 3 months", documented in docs/detectors.md): per marker, take the
  current run of abnormal results - from the newest result backwards until the first normal one. The marker persists
  when the newest and the oldest result of that run are more than 90 days apart (91 days qualifies, 90 does not).
  So the newest result is abnormal, no normal result lies between, and a single acute dip (AKI) is not enough.
* Staging from the newest results: G1 >= 90, G2 60-89, G3a 45-59, G3b 30-44, G4 15-29, G5 < 15 mL/min/1.73 m2;
  A1 < 30, A2 30-299, A3 >= 300 mg/g (KDIGO 2024 wording, as the KDIGO calculator). Values are compared
  unrounded (eGFR 59.9 is < 60), with the same staging functions as the kidney calculators.
* Adults (>= 18 years); suppressed when CKD is on the problem list or chronic dialysis / a kidney transplant is
  recorded (the kidney disease is then known).
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.detectors.common import (
    DiagnosisDetector,
    Reading,
    add_condition_action,
    age_of,
    already_documented,
    concept,
    criterion,
    option,
    order_action,
    readings,
)
from engine.calculators.ckd_epi import kdigo_g_category
from engine.calculators.kdigo_ckd import albuminuria_category
from engine.finding import Citation, Evidence, Finding, InputProblem, Term
from engine.inputs import FeatureSet
from engine.registry import detector
from fhir_adapter.terminology import concepts_of_coding

# KDIGO 2012, Table 1/Figure 9: markers of CKD.
EGFR_ABNORMAL_BELOW = 60.0  # mL/min/1.73 m2 (G3a-G5)
ACR_ABNORMAL_FROM = 30.0  # mg/g (A2-A3)
# KDIGO 2012 definition: "present for > 3 months"; read as > 90 days between first and last abnormal result.
KDIGO_DURATION = "> 3 months"  # the definition's words, cited as they are
PERSISTENCE_DAYS = 90
# KDIGO 2012 Table 2 (GFR categories, lower bounds) and Table 4 (albuminuria categories, ACR mg/g).
# KDIGO 2012 Figure 9 "heat map": prognosis by G and A category.
HEAT_MAP = {
    "G1": ("low", "moderately increased", "high"), "G2": ("low", "moderately increased", "high"),
    "G3a": ("moderately increased", "high", "very high"), "G3b": ("high", "very high", "very high"),
    "G4": ("very high", "very high", "very high"), "G5": ("very high", "very high", "very high"),
}
ADULT_AGE = 18.0
# The definition in words, built from the constants above: every clinical text that states it (this detector's
# shortfall, the KFRE, the KDIGO staging, the diabetes-in-CKD rule) takes it from here.
EGFR_MARKER = f"eGFR < {EGFR_ABNORMAL_BELOW:g}"
ACR_MARKER = f"UACR >= {ACR_ABNORMAL_FROM:g} mg/g"
PERSISTING = f"persisting > {PERSISTENCE_DAYS} days"
CKD_MARKERS = f"{EGFR_MARKER} or {ACR_MARKER} {PERSISTING}"
DEFAULT_LOOKBACK_DAYS = 730  # project choice: two years, long enough to see a > 90-day run

THRESHOLD_LINES = ("CKD marker: eGFR < 60 mL/min/1.73m2 or ACR >= 30 mg/g, persisting > 90 days",
                   "G1 >= 90, G2 60-89, G3a 45-59, G3b 30-44, G4 15-29, G5 < 15",
                   "A1 < 30, A2 30-299, A3 >= 300 mg/g")


def g_category(egfr: float) -> str:
    return kdigo_g_category(egfr)  # one staging rule for the calculators and this detector


def a_category(acr_mgg: float) -> str:
    return albuminuria_category(acr_mgg)


def current_abnormal_run(series: list[Reading], abnormal) -> list[Reading]:
    """The unbroken run of abnormal results ending with the newest one (newest first); empty if the newest is normal."""
    run = []
    for reading in series:
        if not abnormal(reading.value):
            break
        run.append(reading)
    return run


def run_days(run: list[Reading]) -> int:
    return (run[0].day - run[-1].day).days if run else 0


@dataclass(frozen=True)
class KidneyMarkers:
    """The CKD markers of a record, read once for the detector and the treatment rule that needs CKD established
    (engine/rules/diabetes_kidney.py): usable eGFR and ACR results in the look-back (newest first), the current
    abnormal run of each, and the problems of results that were not used."""

    egfr: list[Reading]
    acr: list[Reading]
    egfr_run: list[Reading]
    acr_run: list[Reading]
    problems: list[InputProblem]

    @property
    def persistent(self) -> dict[str, list[Reading]]:
        """The markers whose current abnormal run spans > 90 days ("eGFR", "ACR"): CKD by the KDIGO definition."""
        return {name: run for name, run in (("eGFR", self.egfr_run), ("ACR", self.acr_run))
                if run and run_days(run) > PERSISTENCE_DAYS}


def kidney_markers(features: FeatureSet) -> KidneyMarkers:
    """eGFR < 60 and ACR >= 30 mg/g as the KDIGO definition reads them, over the ``ckd_lookback_days`` look-back."""
    window = option(features, "ckd_lookback_days", DEFAULT_LOOKBACK_DAYS)
    egfr, egfr_problems = readings(features, "egfr_mlmin173m2", window_days=window)
    acr, acr_problems = readings(features, "uacr_mgg", window_days=window)
    return KidneyMarkers(egfr, acr, current_abnormal_run(egfr, lambda v: v < EGFR_ABNORMAL_BELOW),
                         current_abnormal_run(acr, lambda v: v >= ACR_ABNORMAL_FROM), egfr_problems + acr_problems)


def shortfall(markers: KidneyMarkers) -> str:
    """The abnormal results that do not (yet) establish CKD: 'one eGFR < 60 (2026-05-22)', 'eGFR < 60 for 60 days
    (2 results, 2026-03-23 to 2026-05-22), not > 90'; empty when there are none."""
    return "; ".join(_run_text(label, run) for label, run in ((EGFR_MARKER, markers.egfr_run),
                                                             (ACR_MARKER, markers.acr_run)) if run)


def _run_text(label: str, run: list[Reading]) -> str:
    if len(run) == 1:
        return f"one {label} ({run[0].day.isoformat()})"
    return (f"{label} for {run_days(run)} days ({len(run)} results, {run[-1].day.isoformat()} to "
            f"{run[0].day.isoformat()}), not > {PERSISTENCE_DAYS}")


@dataclass(frozen=True)
class KidneyReplacement:
    """Kidney replacement therapy on the record: ``kind`` is "dialysis", "transplant", or "dialysis or transplant"
    when only the ``dialysis_or_transplant`` feature is known (without ``on_dialysis`` it cannot tell which)."""

    kind: str
    evidence: Evidence | None  # the feature's evidence, or None when only a problem-list code shows it

    @property
    def words(self) -> str:
        """'Chronic dialysis', 'A kidney transplant', 'Chronic dialysis or a kidney transplant'."""
        return {"dialysis": "Chronic dialysis", "transplant": "A kidney transplant"}.get(
            self.kind, "Chronic dialysis or a kidney transplant")


def kidney_replacement(features: FeatureSet) -> KidneyReplacement | None:
    """Chronic dialysis or a kidney transplant, from the ``on_dialysis`` / ``dialysis_or_transplant`` features or the
    problem-list codes of their value sets (the codes that also document CKD for this detector): the engines that apply
    to established CKD exclude it (KFRE: Tangri 2016; KDIGO 2022 rec 1.3.1: the SGLT2 inhibitor trials), so each says
    so rather than counting Z94.0 or Z99.2 as "CKD on the problem list"."""
    on_dialysis = features.get("on_dialysis")
    if on_dialysis is not None and on_dialysis.value is True:
        return KidneyReplacement("dialysis", on_dialysis)
    either = features.get("dialysis_or_transplant")
    either = either if either is not None and either.value is True else None
    coded = {c for pair in features.condition_codes if _pair(pair) for c in concepts_of_coding(*pair)}
    if "chronic_dialysis" in coded:
        return KidneyReplacement("dialysis", either)
    if "dialysis_or_transplant" in coded:  # its codes that are not dialysis: a kidney transplant status
        return KidneyReplacement("transplant", either)
    if either is not None:
        # on_dialysis read and not true: what dialysis_or_transplant found is the transplant.
        return KidneyReplacement("transplant" if on_dialysis is not None else "dialysis or transplant", either)
    return None


def _pair(pair) -> bool:
    return (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
            and bool(pair[1].strip()))


@dataclass(frozen=True)
class CkdEstablishment:
    """Whether CKD is established, for the engines that apply only to CKD (KFRE, KDIGO staging): by a CKD entry on the
    problem list, or by a marker persisting > 90 days as this detector reads it (KDIGO 2024: abnormalities of kidney
    structure or function present for > 3 months). One definition, so that no card stages or scores CKD that the
    diagnosis card calls unconfirmed ("needs > 90 days")."""

    entry: str | None  # why CKD counts as on the problem list (already_documented), or None
    markers: KidneyMarkers | None  # read only without an entry
    # Dialysis or a kidney transplant (its status codes also document CKD): each engine excludes it first.
    replacement: KidneyReplacement | None = None

    @property
    def established(self) -> bool:
        return self.entry is not None or bool(self.markers.persistent)

    def basis(self) -> str:
        """How CKD is established, in words fit for a card (no resource ids): 'CKD on the problem list' or 'eGFR
        abnormal for 120 days (> 3 months, KDIGO 2024 definition)'."""
        if self.entry is not None:
            return "CKD on the problem list"
        return " and ".join(f"{name} abnormal for {run_days(run)} days" for name, run in self.markers.persistent.items()
                            ) + f" ({KDIGO_DURATION}, KDIGO 2024 definition)"

    def evidence(self) -> list:
        """The abnormal results of the current runs (newest first), the evidence for or against chronicity."""
        return [] if self.markers is None else [r.evidence for r in self.markers.egfr_run + self.markers.acr_run]


def ckd_establishment(features: FeatureSet) -> CkdEstablishment:
    entry = already_documented(features, concept("chronic-kidney-disease"), "chronic_kidney_disease")
    return CkdEstablishment(entry, None if entry is not None else kidney_markers(features),
                            kidney_replacement(features))


def _span(run: list[Reading]) -> str:
    if len(run) == 1:
        return "one result"
    return f"{len(run)} results over {run_days(run)} days, no normal result between"


@detector
class CkdGap(DiagnosisDetector):
    id = "ckd-gap"
    version = "1.0.0"
    title = "Possible undiagnosed chronic kidney disease"
    citation = Citation(
        short="KDIGO 2012 CKD guideline",
        full=("Kidney Disease: Improving Global Outcomes (KDIGO) CKD Work Group. KDIGO 2012 Clinical Practice "
              "Guideline for the Evaluation and Management of Chronic Kidney Disease. Kidney Int Suppl. "
              "2013;3(1):1-150."),
        url="https://doi.org/10.1038/kisup.2012.73",
        doi="10.1038/kisup.2012.73",
        topic="Chronic kidney disease diagnosis",
    )
    requires = ("egfr_mlmin173m2", "uacr_mgg", "age_years")
    optional = ("chronic_kidney_disease", "dialysis_or_transplant")

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        ckd = concept("chronic-kidney-disease")
        if already_documented(features, ckd, "chronic_kidney_disease"):
            return []
        dialysis = features.get("dialysis_or_transplant")
        if dialysis is not None and dialysis.value is True:
            return []
        markers = kidney_markers(features)
        egfr, acr, egfr_run, acr_run, problems = (markers.egfr, markers.acr, markers.egfr_run, markers.acr_run,
                                                  markers.problems)
        if not egfr_run and not acr_run:
            return []
        evidence = [r.evidence for r in egfr_run + acr_run]
        age = age_of(features)
        if age is None:
            return [self.needs(features, suffix="ckd", names=["age_years"], inputs=evidence, problems=problems,
                               why="Kidney results are abnormal; age is needed to apply the adult criteria.")]
        if age < ADULT_AGE:
            return []

        g = g_category(egfr[0].value) if egfr else None
        a = a_category(acr[0].value) if acr else None
        persistent = markers.persistent
        terms = []
        if egfr_run:
            terms.append(criterion(f"eGFR < 60 mL/min/1.73m2 ({_span(egfr_run)})", egfr_run))
        if acr_run:
            terms.append(criterion(f"ACR >= 30 mg/g ({_span(acr_run)})", acr_run))
        stage = " ".join(x for x in (g, a) if x)
        if g and a:
            terms.append(Term("KDIGO prognosis (heat map)", HEAT_MAP[g][int(a[1]) - 1] + " risk"))
        terms.append(Term("Staging (newest results)", stage or "not stageable"))
        if persistent:
            return [self._confirmed(features, persistent, g, a, stage, acr, evidence, terms, problems)]
        return [self._unconfirmed(features, egfr_run, acr_run, stage, acr, evidence, terms, problems, g, a)]

    def _confirmed(self, features, persistent, g, a, stage, acr, evidence, terms, problems) -> Finding:
        ckd = concept("chronic-kidney-disease")
        markers = " and ".join(f"{name} abnormal for {run_days(run)} days" for name, run in persistent.items())
        actions = [add_condition_action(ckd, evidence, variant=g, why=f"{markers} (KDIGO 2012, {stage}).")]
        if not acr:
            actions.append(order_action(
                "uacr", label="Order urine albumin-to-creatinine ratio (stage A)",
                reason="KDIGO 2012 stages CKD by GFR and albuminuria; no urine ACR in the record.",
                condition=ckd, evidence=evidence))
        return self.gap(
            features, suffix="ckd", condition=ckd, variant=g,
            title="Possible undiagnosed chronic kidney disease",
            value=f"{stage}: {markers}",
            # The KDIGO heat-map risk is on this card, so that the risk-scores staging card can give way to it.
            category="KDIGO criteria met" + (f", {HEAT_MAP[g][int(a[1]) - 1]} risk" if g and a else ""),
            inputs=evidence, explanation=terms, problems=problems,
            message=(f"{markers} (> 90 days, no normal result between) meets the KDIGO 2012 definition of CKD "
                     f"({stage}); CKD is not on the active problem list."),
            actions=actions, thresholds=THRESHOLD_LINES,
            assumptions=["Kidney structure (imaging, biopsy) and urine sediment are not assessed; only eGFR and "
                         "albuminuria are."],
            method=("KDIGO 2012: a marker persists when its current run of abnormal results spans > 90 days; "
                    "G and A categories from the newest results."),
        )

    def _unconfirmed(self, features, egfr_run, acr_run, stage, acr, evidence, terms, problems, g=None,
                     a=None) -> Finding:
        ckd = concept("chronic-kidney-disease")
        first = min(r.day for r in egfr_run + acr_run)
        actions = []
        if egfr_run:
            actions.append(order_action(
                "creatinine", label="Repeat serum creatinine / eGFR after 3 months",
                reason=(f"eGFR < 60 since {first.isoformat()}: KDIGO 2012 needs > 3 months of abnormality to "
                        "diagnose CKD (and excludes acute kidney injury)."),
                condition=ckd, evidence=[r.evidence for r in egfr_run]))
        if acr_run or not acr:
            actions.append(order_action(
                "uacr", label="Urine albumin-to-creatinine ratio" + (" (repeat after 3 months)" if acr_run else ""),
                reason=("Albuminuria confirms and stages CKD (KDIGO 2012); "
                        + ("ACR >= 30 mg/g needs to persist > 3 months." if acr_run else "no urine ACR in the record.")),
                condition=ckd, evidence=evidence))
        shown = "; ".join(f"{run[0].short()}" for run in (egfr_run, acr_run) if run)
        return self.gap(
            features, suffix="ckd", condition=ckd,
            title="Possible chronic kidney disease",
            value=shown,
            category=(f"{stage}" + (f", {HEAT_MAP[g][int(a[1]) - 1]} risk" if g and a else "") + ", needs > 90 days"
                      if stage else "needs > 90 days"),
            inputs=evidence, explanation=terms, problems=problems,
            message=(f"Abnormal kidney results since {first.isoformat()}, not yet shown to persist > 90 days (KDIGO "
                     "2012). Repeat to confirm chronicity; CKD is not on the active problem list."),
            actions=actions, thresholds=THRESHOLD_LINES,
            method="KDIGO 2012: CKD requires abnormality for > 3 months; one abnormal run shorter than that is not enough.",
        )
