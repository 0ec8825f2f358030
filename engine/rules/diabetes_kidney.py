"""Kidney-protective therapy in type 2 diabetes with CKD: KDIGO 2022 diabetes-in-CKD guideline, ADA Standards of
Care 2025 section 11, and the metformin label.

Sources and every threshold: ``engine/data/diabetes_ckd_2022.json`` (docs/treatment.md).

* Who: diabetes on the problem list (not type 1 only) with established CKD, not on dialysis, without a kidney
  transplant (the SGLT2 inhibitor trials behind rec 1.3.1 excluded recipients), not pregnant. CKD is
  established by a CKD entry on the problem list, or by eGFR < 60 or albuminuria (UACR >= 30 mg/g) persisting
  > 90 days: KDIGO defines CKD by > 3 months' persistence (KDIGO 2024 CKD guideline). Whether it is established is
  the CKD diagnosis detector's own answer (``engine.detectors.ckd.ckd_establishment``: the entry by the detector's
  documenting value sets, the markers as it reads them), so this rule never starts a drug for CKD that the
  diagnosis-gaps card calls unconfirmed ("needs > 90 days"), nor calls unestablished CKD the detector takes as
  documented. One low eGFR is not enough: the finding
  then says so, with the results, on the explainer page; only a metformin already taken is still reviewed by the
  label's eGFR limits, which hold whether or not the low eGFR is chronic.
* eGFR is the record's one eGFR (docs/calculators.md), rounded half up to a whole number before it is compared and
  shown, as the order-time checks do (engine/order_checks/kidney.py).
* SGLT2 inhibitor: started at eGFR >= 20 (KDIGO 1.3.1, 1A; ADA A); each agent only from its label's starting eGFR.
* Metformin: contraindicated below eGFR 30 (stop); not started at 30-< 45, and the dose of a current one reviewed
  (at most 1,000 mg a day); started at >= 45 (KDIGO 4.1.1, 1B).
* ACE inhibitor or ARB for albuminuria with hypertension (KDIGO 1.2.1, 1B; ADA A/B).

One finding per therapy, each about CKD (``Finding.condition``): they share the card of the KDIGO stage. A card holds
one selectionBehavior, so when more than one therapy is proposed each offers its preferred agent and names the others.
States that need nothing new (already taking an SGLT2 inhibitor or an ACE inhibitor/ARB, metformin at eGFR >= 45)
stay on the explainer page.
"""
from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from engine.calculators.common import load_data, round_half_up
from engine.calculators.kdigo_ckd import albuminuria_category
from engine.detectors.ckd import (
    ACR_MARKER,
    EGFR_ABNORMAL_BELOW,
    EGFR_MARKER,
    KDIGO_DURATION,
    PERSISTENCE_DAYS,
    PERSISTING,
    KidneyMarkers,
    KidneyReplacement,
    ckd_establishment,
    run_days,
    shortfall,
)
from engine.detectors.common import concept
from engine.finding import Evidence, Finding, Severity
from engine.inputs import FeatureSet
from engine.proposals import suggest
from engine.registry import rule
from engine.rules.common import (
    TreatmentRule,
    active_medications,
    citation_of,
    computed_finding,
    medication_evidence,
    number,
    present,
    recommendation_of,
    single_options,
    start_medication,
)
from fhir_adapter.terminology import concepts_of_coding

DATA_FILE = "diabetes_ckd_2022.json"
RAAS_CLASSES = ("ace_inhibitor", "arb", "arni")


@cache
def data() -> dict[str, Any]:
    return load_data(DATA_FILE)


@rule
class DiabetesCkdTherapy(TreatmentRule):
    id = "t2d-ckd-kdigo-2022"
    version = "1.0.0"
    title = "Type 2 diabetes with CKD"
    citation = citation_of(data()["guideline"])
    reads_findings = ("kdigo-2012-ckd-stage",)
    optional = ("diabetes", "egfr_mlmin173m2", "uacr_mgg", "chronic_kidney_disease", "hypertension", "bp_treated",
                "on_dialysis", "dialysis_or_transplant", "pregnant")

    def evaluate(self, features: FeatureSet, findings) -> list[Finding]:
        diabetes = present(features, "diabetes")
        base = f"{self.id}:ckd"
        if diabetes is None:
            return [self.not_indicated(features, finding_id=base, inputs=[features.get("diabetes")],
                                       message="Diabetes is not on the problem list.")]
        if _type_1_only(features):
            return [self.not_indicated(features, finding_id=base, inputs=[diabetes],
                                       message=("Type 1 diabetes is recorded: the KDIGO 2022 SGLT2 inhibitor and "
                                                "metformin recommendations are for type 2 diabetes."))]
        egfr_ev = raw_egfr_ev = features.get("egfr_mlmin173m2")
        raw_egfr = number(features, "egfr_mlmin173m2")
        if raw_egfr is None:
            return [self.not_indicated(features, finding_id=base, inputs=[diabetes],
                                       message="No eGFR: kidney-protective therapy is chosen by it (the eGFR card "
                                               "says what it needs).")]
        # Rounded half up to whole mL/min/1.73m2 before any threshold, as at order-sign (engine/order_checks/kidney.py):
        # the number on the card is the number the rule saw (29.5 is 30 for both, 19.6 is 20).
        egfr = int(round_half_up(raw_egfr))
        if egfr_ev is not None and egfr != raw_egfr:  # the "Based on" line shows the value compared, too
            egfr_ev = replace(egfr_ev, value=float(egfr), note="; ".join(
                n for n in (egfr_ev.note, f"rounded half up from {raw_egfr:g}") if n))
        kdigo = computed_finding(findings, "kdigo-2012-ckd-stage")
        a_category, uacr_ev = _albuminuria(features, kdigo)
        ckd = present(features, "chronic_kidney_disease")
        albuminuric = a_category in ("A2", "A3")
        # CKD established as the CKD diagnosis card and the kidney calculators establish it (one definition): an entry
        # of its documenting value sets on the problem list, else a marker persisting > 90 days.
        establishment = ckd_establishment(features)
        markers = establishment.markers
        unconfirmed = not establishment.established
        if unconfirmed and egfr >= EGFR_ABNORMAL_BELOW and not albuminuric \
                and not (markers.egfr_run or markers.acr_run):
            return [self.not_indicated(features, finding_id=base, inputs=[diabetes, egfr_ev, uacr_ev],
                                       message=(f"eGFR {egfr} and no albuminuria ({ACR_MARKER}) or CKD entry: "
                                                "no CKD criterion."))]
        excluded = _excluded(features, establishment.replacement)
        if excluded is not None:
            ev, why = excluded
            return [self.not_indicated(features, finding_id=base, inputs=[diabetes, egfr_ev, ev],
                                       message=f"{why}: the KDIGO 2022 drug recommendations for diabetes with CKD "
                                               f"do not apply{_WHY_EXCLUDED.get(why, '')}.")]
        if unconfirmed:
            return self._not_established(features, base, egfr, raw_egfr, markers, [diabetes, egfr_ev, uacr_ev],
                                         [diabetes, raw_egfr_ev, uacr_ev])
        inputs = [diabetes, egfr_ev, uacr_ev, ckd, *(_persistence_evidence(markers) if markers else ())]
        ckd_text = f"T2D, eGFR {egfr}" + (f", {a_category}" if a_category else "")
        findings_out = [
            self._sglt2i(features, egfr, ckd_text, inputs),
            self._metformin(features, egfr, ckd_text, inputs),
            self._raas(features, albuminuric, ckd_text, inputs),
        ]
        actionable = [f for f in findings_out if f.suggestions]
        if len(actionable) > 1:
            findings_out = [f if not f.suggestions else _with_suggestions(f, single_options(f.suggestions))
                            for f in findings_out]
        return findings_out

    def _not_established(self, features, base, egfr, raw_egfr, markers: KidneyMarkers, inputs,
                         unrounded_inputs) -> list[Finding]:
        """No drug is started for CKD that is not established; the finding names the results that fall short, with
        the eGFR as the CKD markers judged it: unrounded (59.6 is < 60 there, though 60 for the drug thresholds). The
        metformin label's limits (stop below eGFR 30, dose reviewed below 45) hold whether or not the low eGFR is
        chronic, so a metformin already taken is still reviewed, by the rounded eGFR."""
        abnormal = [r.evidence for r in markers.egfr_run + markers.acr_run]
        judged = (f" Newest eGFR {raw_egfr:g} (unrounded, as the CKD markers compare it)."
                  if markers.egfr_run and raw_egfr != egfr else "")
        out = [self.not_indicated(features, finding_id=base, inputs=_distinct([*unrounded_inputs, *abnormal]),
                                  message=(f"CKD not established: {_unconfirmed(markers, raw_egfr)}.{judged} "
                                           f"{_not_established_text()}"))]
        if active_medications(features, classes=("metformin",)) and egfr < data()["metformin"]["dose_review_below"]:
            out.append(self._metformin(features, egfr, f"T2D, eGFR {egfr}", inputs))
        return out

    # -- SGLT2 inhibitor ---------------------------------------------------------------------------------------------
    def _sglt2i(self, features, egfr, ckd_text, inputs) -> Finding:
        d = data()
        part = d["sglt2i"]
        finding_id = f"{self.id}:sglt2i"
        current = active_medications(features, classes=("sglt2_inhibitor",))
        if current:
            return self.not_indicated(
                features, finding_id=finding_id, inputs=[*inputs, medication_evidence(current[0], "SGLT2 inhibitor")],
                message=f"On {current[0].name}: {part['continue']['text'].lower()} ({part['continue']['section']}).")
        if egfr < part["egfr_from"]:
            return self.not_indicated(features, finding_id=finding_id, inputs=inputs, message=part["below"])
        keys = [o["regimen"] for o in part["options"] if egfr >= o["egfr_from"]]
        rec = part["start"]
        return self._finding(
            features, finding_id, rec, f"{ckd_text} → SGLT2 inhibitor", Severity.WARNING, inputs,
            message=(f"eGFR {egfr} (>= {part['egfr_from']}): an SGLT2 inhibitor with proven kidney and "
                     "cardiovascular benefit, continued if eGFR later falls below 20, until dialysis."),
            keys=keys, reason=f"{rec['text']}: type 2 diabetes with CKD, eGFR {egfr}")

    # -- metformin ---------------------------------------------------------------------------------------------------
    def _metformin(self, features, egfr, ckd_text, inputs) -> Finding:
        d = data()
        part = d["metformin"]
        finding_id = f"{self.id}:metformin"
        current = active_medications(features, classes=("metformin",))
        if current:
            drug = current[0]
            taking = [*inputs, medication_evidence(drug, "Metformin")]
            if egfr < part["contraindicated_below"]:
                rec = part["stop"]
                return self._finding(features, finding_id, rec, f"{ckd_text} → stop metformin", Severity.WARNING,
                                     taking, message=(f"On {drug.name} at eGFR {egfr} (< "
                                                      f"{part['contraindicated_below']}): contraindicated."))
            if egfr < part["dose_review_below"]:
                rec = part["review"]
                dose = drug.daily_dose_mg
                over = dose is not None and dose > part["max_daily_mg_below_45"]
                said = (f"{dose:g} mg a day is above the {part['max_daily_mg_below_45']:,} mg limit" if over
                        else f"{dose:g} mg a day" if dose is not None else "daily dose not recorded")
                return self._finding(features, finding_id, rec, f"{ckd_text} → review the metformin dose",
                                     Severity.WARNING if over or dose is None else Severity.INFO, taking,
                                     message=f"On {drug.name} at eGFR {egfr} (30-< 45): {said}.")
            return self.not_indicated(features, finding_id=finding_id, inputs=taking,
                                      message=f"On {drug.name} at eGFR {egfr} (>= 45): "
                                              f"{part['continue']['text'].lower()} ({part['continue']['section']}).")
        if egfr < part["contraindicated_below"]:
            return self.not_indicated(features, finding_id=finding_id, inputs=inputs,
                                      message=f"eGFR {egfr}: metformin is contraindicated below "
                                              f"{part['contraindicated_below']}.")
        if egfr < part["not_started_below"]:
            return self.not_indicated(features, finding_id=finding_id, inputs=inputs, message=part["not_started"])
        rec = part["start"]
        return self._finding(features, finding_id, rec, f"{ckd_text} → metformin", Severity.INFO, inputs,
                             message=(f"eGFR {egfr} (>= {part['not_started_below']}): metformin is first-line "
                                      "glucose-lowering therapy."),
                             keys=[part["regimen"]], reason=f"{rec['text']}: type 2 diabetes with CKD, eGFR {egfr}")

    # -- ACE inhibitor or ARB ----------------------------------------------------------------------------------------
    def _raas(self, features, albuminuric, ckd_text, inputs) -> Finding:
        d = data()
        part = d["raas"]
        finding_id = f"{self.id}:raas"
        hypertension = present(features, "hypertension") or present(features, "bp_treated")
        current = active_medications(features, classes=RAAS_CLASSES)
        if current:
            return self.not_indicated(
                features, finding_id=finding_id, inputs=[*inputs, medication_evidence(current[0], "ACE inhibitor/ARB")],
                message=f"On {current[0].name}: titrate to the highest approved dose tolerated ({part['start']['section']}).")
        if not albuminuric or hypertension is None:
            why = "no albuminuria (UACR >= 30 mg/g)" if not albuminuric else "hypertension is not recorded"
            return self.not_indicated(features, finding_id=finding_id, inputs=[*inputs, hypertension],
                                      message=f"ACE inhibitor or ARB: {why} ({part['start']['section']}).")
        rec = part["start"]
        return self._finding(features, finding_id, rec, f"{ckd_text} → ACE inhibitor or ARB", Severity.WARNING,
                             [*inputs, hypertension],
                             message="Albuminuria with hypertension: titrate to the highest approved dose tolerated.",
                             keys=part["regimens"], reason=f"{rec['text']}: diabetes, hypertension and albuminuria")

    def _finding(self, features, finding_id, rec, value, severity, inputs, *, message, keys=(), reason="") -> Finding:
        d = data()
        suggestions = [suggest(rec["text"], start_medication(keys, reason=f"{reason} (KDIGO 2022, {rec['strength']}).",
                                                             evidence=[i for i in inputs if i is not None]))] \
            if keys else []
        return self.treatment(
            features, finding_id=finding_id, title=self.title, value=value, category=rec["strength"],
            recommendation=recommendation_of(rec, d["guideline"]), severity=severity, inputs=inputs,
            message=message, suggestions=suggestions, condition=concept("chronic-kidney-disease").ref(),
            method=(f"CKD: a problem-list entry, or {EGFR_MARKER} / {ACR_MARKER} {PERSISTING} (KDIGO 2024 "
                    "definition). KDIGO 2022 for established CKD: SGLT2 inhibitor from eGFR 20, metformin by eGFR (stop "
                    "< 30, not started 30-< 45, dose reviewed < 45; a metformin already taken is reviewed at any low "
                    "eGFR), ACE inhibitor or ARB for albuminuria with hypertension; the record's one eGFR rounded half "
                    f"up to a whole number. Applied: {rec['section']}."))


def _with_suggestions(finding: Finding, suggestions) -> Finding:
    return replace(finding, suggestions=tuple(suggestions))


def _albuminuria(features: FeatureSet, kdigo: Finding | None) -> tuple[str | None, Evidence | None]:
    """The KDIGO A category: the KDIGO finding's when it has one, else that of the newest UACR; and the UACR."""
    uacr_ev = features.get("uacr_mgg")
    details = getattr(kdigo, "details", None)
    category = getattr(details, "a_category", None)
    if category is None:
        uacr = number(features, "uacr_mgg")
        category = albuminuria_category(uacr) if uacr is not None and uacr >= 0 else None
    return category, uacr_ev


def _unconfirmed(markers: KidneyMarkers, raw_egfr: float) -> str:
    """The abnormal results that do not (yet) establish CKD, in the CKD detector's words (``shortfall``)."""
    return shortfall(markers) or f"eGFR {raw_egfr:g} with no dated result that shows how long it has lasted"


def _distinct(evidence: list) -> list:
    """Each Evidence once (the record's eGFR is also the newest abnormal result)."""
    out: list = []
    for ev in evidence:
        if ev is None or ev not in out:
            out.append(ev)
    return out


def _not_established_text() -> str:
    """The data file's sentence, with the CKD detector's markers and persistence (declared once, there)."""
    return data()["ckd"]["not_established"].format(egfr_marker=EGFR_MARKER, acr_marker=ACR_MARKER,
                                                   persistence_days=PERSISTENCE_DAYS, kdigo_duration=KDIGO_DURATION)


def _persistence_evidence(markers: KidneyMarkers) -> list[Evidence]:
    """The first result of each persisting run, noted with how long the marker has lasted: with the newest results
    (the rule's eGFR and UACR), the evidence that CKD is established."""
    return [replace(run[-1].evidence, note="; ".join(n for n in (
        run[-1].evidence.note, f"{name} abnormal since this result: {run_days(run)} days, no normal result between "
                               f"(CKD by {KDIGO_DURATION}' persistence, KDIGO 2024)") if n))
            for name, run in markers.persistent.items()]


# Kidney transplant recipients were excluded from the SGLT2 inhibitor trials behind recommendation 1.3.1, and KDIGO 2022
# says its evidence does not cover them.
_WHY_EXCLUDED = {"A kidney transplant is recorded": " (the SGLT2 inhibitor trials behind recommendation 1.3.1 excluded "
                                                    "kidney transplant recipients)"}


def _excluded(features: FeatureSet, replacement: KidneyReplacement | None) -> tuple[Evidence | None, str] | None:
    """Dialysis, a kidney transplant (``engine.detectors.ckd.kidney_replacement``, as KFRE and KDIGO staging read
    them) or pregnancy: the evidence and the words, or None."""
    if replacement is not None:
        return replacement.evidence, f"{replacement.words} is recorded"
    pregnant = present(features, "pregnant")
    return (pregnant, "Pregnancy is recorded") if pregnant is not None else None


def _type_1_only(features: FeatureSet) -> bool:
    """Type 1 diabetes on the problem list and no type 2 entry."""
    concepts = {c for system, code in features.condition_codes for c in concepts_of_coding(system, code)}
    return "type_1_diabetes" in concepts and "type_2_diabetes" not in concepts
