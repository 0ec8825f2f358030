"""One declaration per feature: everything the project knows about a feature, in one place.

Each :class:`FeatureSpec` says what a feature is (label, unit, kind), where it is read from (FHIR resource types and
the terminology value sets whose codes identify its records), how it is selected (look-back and history windows,
plausible range), what it is derived from, and how it is shown (short label, display precision, and the cut points
engines compare it with, so that a shown value is never rounded across one: ``display_value``). The tables that
used to be kept in parallel follow from this catalogue:

- ``engine.inputs.FEATURE_LABELS`` (labels and units) and ``engine.detectors.common`` (``SHORT_LABELS``,
  ``PLAUSIBLE``);
- the adapter's windows (``fhir_adapter.features.windows``), plausibility bounds
  (``fhir_adapter.features.plausibility``), quantity selection (``fhir_adapter.features.quantities``) and the nouns
  of its messages (``fhir_adapter.features.selection``);
- the codes and resource types a service must prefetch (``fhir_adapter.feature_codes``,
  ``cds_hooks.services.feature_prefetch``), and which features ``extract_features`` builds for a service;
- the feature table of docs/features.md (``scripts/feature_docs.py`` writes it; a test fails when it is stale).

This module is plain data, so that the engine and the adapter can both import it; it imports nothing from either.
Adding a lab feature means one entry here (with its value set in the terminology data), not ten table edits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Iterable

QUANTITY = "quantity"  # a number in ``unit`` (labs, vital signs, age)
BOOLEAN = "boolean"  # True / False with a note (problem list, medications, documented status)
CATEGORY = "category"  # one of a few codes ("female" / "male", ACVPU letters, race and ethnicity groups)
KINDS = (QUANTITY, BOOLEAN, CATEGORY)

_YEAR = 365


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    label: str  # the human label on cards and in missing-input lists
    kind: str  # QUANTITY, BOOLEAN or CATEGORY
    unit: str | None = None  # canonical unit (UCUM-like spelling); None for unitless values and non-quantities
    # Lower-case noun for the adapter's messages: "no {plain} result in the last year". None: the label.
    plain: str | None = None
    short_label: str | None = None  # for card summaries ("FPG 131 mg/dL"); None: the label
    resources: tuple[str, ...] = ()  # FHIR resource types the adapter reads it from
    value_sets: tuple[str, ...] = ()  # terminology concepts whose codes identify its records
    panel_value_sets: tuple[str, ...] = ()  # Observations whose components may carry it (panels)
    quantity_kind: str | None = None  # the unit-conversion kind in fhir_adapter/units.py
    depends_on: tuple[str, ...] = ()  # features it is derived from (extracted and prefetched with it)
    plausible: tuple[float, float] | None = None  # sanity bounds in ``unit``, inclusive (not clinical thresholds)
    lookback_days: int | None = None  # the value in FeatureSet.values is at most this old
    history_days: int | None = None  # FeatureSet.history reaches this far back (when longer than the look-back)
    display_decimals: int | None = None  # decimals results are conventionally reported with
    # The thresholds engines compare this feature with, so that a shown value is never rounded across one
    # (``display_value``): at a ``cut_points`` value the class above begins (value >= cut); a ``strict_cut_points``
    # value still belongs to the class below (value > cut, e.g. a hypertensive crisis above 180 mmHg). The engines keep
    # their own tables (with their sources); tests/engine/test_threshold_safe_display.py checks that every one of
    # their thresholds is listed here.
    cut_points: tuple[float, ...] = ()
    strict_cut_points: tuple[float, ...] = ()
    note: str = ""  # one line for the docs table

    @property
    def noun(self) -> str:
        return self.plain or self.label

    @property
    def short(self) -> str:
        return self.short_label or self.label


def _observation(name: str, label: str, unit: str | None, value_set: str, quantity_kind: str, *,
                 plausible: tuple[float, float], lookback_days: int, plain: str, **kwargs) -> FeatureSpec:
    """A quantity read from an Observation (a lab or a vital sign)."""
    return FeatureSpec(name=name, label=label, kind=QUANTITY, unit=unit, plain=plain, resources=("Observation",),
                       value_sets=(value_set,), quantity_kind=quantity_kind, plausible=plausible,
                       lookback_days=lookback_days, **kwargs)


def _condition(name: str, label: str, *value_sets: str, note: str = "see *Conditions*",
               resources=("Condition",)) -> FeatureSpec:
    """True from a qualifying problem-list entry (rules in fhir_adapter/features/conditions.py)."""
    return FeatureSpec(name=name, label=label, kind=BOOLEAN, resources=resources, value_sets=value_sets, note=note)


def _medication(name: str, label: str, *value_sets: str, note: str = "see *Medications*") -> FeatureSpec:
    """True from an active MedicationRequest or MedicationStatement of the drug classes ``value_sets``."""
    return FeatureSpec(name=name, label=label, kind=BOOLEAN, resources=("MedicationRequest", "MedicationStatement"),
                       value_sets=value_sets, note=note)


_VITALS = ("vital_signs_panel",)  # vital signs may arrive as components of the FHIR vital-signs panel 85353-1

# Look-back windows (project defaults; the rationale of each is in docs/features.md): lipids 5 years (2019 ACC/AHA
# primary-prevention guideline, Arnett 2019: assess risk factors every 4-6 years); BP, HbA1c, glucose, kidney function
# and other labs 1 year (values that change and drive treatment); smoking, BMI, weight, waist and physical activity
# 2 years; adult height 10 years (stable in adults); vital signs and level of consciousness 30 days (acute scores
# check their own recency against FeatureSet.now); pregnancy 42 weeks (the upper limit of a post-term pregnancy).
#
# History windows, where longer than the look-back: detectors need repeated results - two abnormal glucose / HbA1c
# results (ADA), BP on >= 2 occasions (ACC/AHA 2017), eGFR / ACR abnormal for > 90 days (KDIGO 2012) - and the first
# of two results may be older than a year.
#
# Plausible ranges are sanity limits chosen by this project to catch unit mix-ups and typing errors, deliberately
# much wider than any reference range. A value outside is not used and becomes an input problem naming the range.
# They are checked twice - by the adapter on every reading, and by the diagnosis detectors on the values they are
# given - with this one range, so both say the same thing.
FEATURES: tuple[FeatureSpec, ...] = (
    # -- Patient ---------------------------------------------------------------------------------------------------
    FeatureSpec("age_years", "Age", QUANTITY, "years", resources=("Patient",), plausible=(0.0, 120.0),
                display_decimals=0, note="Patient.birthDate: completed years at `as_of`; birthDate `YYYY` → 1 July "
                "assumed, `YYYY-MM` → the 15th (noted)"),
    FeatureSpec("sex", "Sex", CATEGORY, resources=("Patient",),
                note="Patient.gender: `female` / `male`; `other` / `unknown` / absent → missing with reason (birth "
                     "sex is not substituted)"),
    FeatureSpec("race", "Race", CATEGORY, resources=("Patient",),
                note="US Core race `ombCategory`: `2054-5` present → `african-american`; only `2106-3` → `white`; "
                     "any other category → `other`; only ASKU/UNK → missing"),
    # The OMB race category itself, for the IWPC warfarin dose, whose race terms are Asian, Black or African American,
    # and missing or mixed (the PCE's "race" above keeps only African-American / white / other).
    FeatureSpec("race_omb_category", "Race (OMB category)", CATEGORY, resources=("Patient",),
                note="US Core race `ombCategory`: `2028-9` → `asian`, `2054-5` → `black-or-african-american`, "
                     "`2106-3` → `white`, `1002-5` → `american-indian-or-alaska-native`, `2076-8` → "
                     "`native-hawaiian-or-other-pacific-islander`; two or more → `more-than-one-category`; "
                     "only ASKU/UNK → missing"),
    FeatureSpec("ethnicity", "Ethnicity", CATEGORY, resources=("Patient",),
                note="US Core ethnicity `ombCategory`: `2135-2` → `hispanic-or-latino`; `2186-5` → "
                     "`not-hispanic-or-latino`"),
    # -- lipids ----------------------------------------------------------------------------------------------------
    _observation("chol_total_mgdl", "Total cholesterol", "mg/dL", "chol_total", "cholesterol",
                 plain="total cholesterol", plausible=(50.0, 1000.0), lookback_days=5 * _YEAR, display_decimals=0,
                 note="mmol/L × 38.67"),
    _observation("hdl_mgdl", "HDL cholesterol", "mg/dL", "hdl", "cholesterol", plain="HDL cholesterol",
                 plausible=(5.0, 200.0), lookback_days=5 * _YEAR, display_decimals=0),
    # LDL-C: the detectors' bound (10 mg/dL) and the adapter's (5 mg/dL) used to differ. 10 is kept: an LDL-C in
    # mmol/L labelled mg/dL reads 1-10 "mg/dL", and the mislabelled values 5-10 mmol/L (193-387 mg/dL) are exactly
    # the ones the FH and LDL-C >= 190 rules look for, so they must be refused, not read as a very low LDL-C. The
    # price is refusing true values below 10 mg/dL (seen on PCSK9 inhibitors), which no rule acts on.
    _observation("ldl_mgdl", "LDL cholesterol", "mg/dL", "ldl", "cholesterol", plain="LDL cholesterol",
                 short_label="LDL-C", plausible=(10.0, 900.0), lookback_days=5 * _YEAR, display_decimals=0,
                 cut_points=(155.0, 190.0, 250.0, 330.0),
                 note="calculated and direct both accepted"),
    # -- blood pressure --------------------------------------------------------------------------------------------
    FeatureSpec("sbp_mmhg", "Systolic blood pressure", QUANTITY, "mmHg", plain="systolic blood pressure",
                short_label="SBP", resources=("Observation",), value_sets=("sbp",), panel_value_sets=("bp_panel",),
                quantity_kind="pressure", plausible=(50.0, 300.0), lookback_days=1 * _YEAR,
                history_days=2 * _YEAR, display_decimals=0, cut_points=(120.0, 130.0, 140.0),
                strict_cut_points=(180.0,),
                note="systolic and diastolic are chosen independently (each its latest)"),
    FeatureSpec("dbp_mmhg", "Diastolic blood pressure", QUANTITY, "mmHg", plain="diastolic blood pressure",
                short_label="DBP", resources=("Observation",), value_sets=("dbp",), panel_value_sets=("bp_panel",),
                quantity_kind="pressure", plausible=(20.0, 200.0), lookback_days=1 * _YEAR,
                history_days=2 * _YEAR, display_decimals=0, cut_points=(80.0, 90.0), strict_cut_points=(120.0,),
                note="systolic and diastolic are chosen independently (each its latest)"),
    # -- lifestyle -------------------------------------------------------------------------------------------------
    FeatureSpec("smoker_current", "Current smoker", BOOLEAN, plain="smoking status", resources=("Observation",),
                value_sets=("smoking_status",), lookback_days=2 * _YEAR, note="see *Smoking answers*"),
    # -- problem list and medications -------------------------------------------------------------------------------
    _condition("diabetes", "Diabetes", "diabetes",
               note="True only for a current (active/recurrence/relapse) confirmed condition"),
    _condition("hypertension", "Hypertension", "hypertension",
               note="True only for a current (active/recurrence/relapse) confirmed condition"),
    _medication("bp_treated", "On blood-pressure treatment", "antihypertensive", note="active antihypertensive"),
    _medication("statin", "On statin", "statin", note="active statin"),
    # Clinical ASCVD: a coronary revascularisation (CABG, PCI) may be recorded only as a Procedure.
    _condition("ascvd", "Clinical ASCVD", "ascvd", resources=("Condition", "Procedure"),
               note="True for any confirmed entry, whatever its clinical status (history counts); a coronary "
                    "revascularisation Procedure counts"),
    # -- labs ------------------------------------------------------------------------------------------------------
    _observation("hba1c_pct", "HbA1c", "%", "hba1c", "hba1c", plain="HbA1c", short_label="HbA1c",
                 # Physiological floor 3.5 %: below it an HbA1c is a unit error (e.g. mmol/mol or a fraction read as
                 # %) or a lab error (a haemoglobin variant, haemolysis); even marked hypoglycaemia or shortened
                 # red-cell survival rarely gives values below 4 % (NGSP; Little RR, Rohlfing CL. The long and winding
                 # road to optimal HbA1c measurement. Clin Chim Acta 2013;418:63-71). Such a value is not used.
                 plausible=(3.5, 20.0), lookback_days=1 * _YEAR, history_days=2 * _YEAR, display_decimals=1,
                 cut_points=(5.7, 6.5),
                 note="IFCC mmol/mol converted to NGSP %"),
    _observation("creatinine_mgdl", "Serum creatinine", "mg/dL", "creatinine", "creatinine",
                 plain="serum creatinine", plausible=(0.1, 30.0), lookback_days=1 * _YEAR, history_days=2 * _YEAR,
                 display_decimals=2, note="µmol/L ÷ 88.42"),
    FeatureSpec("egfr_mlmin173m2", "eGFR", QUANTITY, "mL/min/1.73m2", plain="eGFR", short_label="eGFR",
                resources=("Observation",), value_sets=("egfr",), quantity_kind="egfr",
                depends_on=("creatinine_mgdl", "age_years", "sex"), plausible=(1.0, 200.0),
                lookback_days=1 * _YEAR, history_days=2 * _YEAR, display_decimals=0,
                cut_points=(15.0, 30.0, 45.0, 60.0, 90.0),
                note="reported, else CKD-EPI 2021 from creatinine (see *Derived features*)"),
    FeatureSpec("bmi_kgm2", "Body-mass index", QUANTITY, "kg/m2", plain="BMI", short_label="BMI",
                resources=("Observation",), value_sets=("bmi",), quantity_kind="bmi",
                depends_on=("weight_kg", "height_cm"), plausible=(10.0, 100.0), lookback_days=2 * _YEAR,
                display_decimals=1, cut_points=(18.5, 25.0, 30.0, 35.0, 40.0),
                note="observed, else weight / height² (see *Derived features*)"),
    _observation("height_cm", "Height", "cm", "body_height", "length", plain="body height",
                 plausible=(40.0, 275.0), lookback_days=10 * _YEAR, display_decimals=0,
                 note="also an input of a derived BMI"),
    _observation("weight_kg", "Weight", "kg", "body_weight", "mass", plain="body weight", plausible=(2.0, 650.0),
                 lookback_days=2 * _YEAR, display_decimals=1, note="also an input of a derived BMI"),
    _observation("waist_cm", "Waist circumference", "cm", "waist_circumference", "length",
                 plain="waist circumference", plausible=(40.0, 250.0), lookback_days=2 * _YEAR, display_decimals=0),
    _observation("cystatin_c_mgl", "Cystatin C", "mg/L", "cystatin_c", "cystatin_c", plain="cystatin C",
                 plausible=(0.2, 10.0), lookback_days=1 * _YEAR, history_days=2 * _YEAR, display_decimals=2,
                 note="mg/dL × 10"),
    # UACR: the detectors' bound (30 000 mg/g) and the adapter's (25 000 mg/g) used to differ. 30 000 is kept: the
    # upper bound does not catch the usual mix-up (mg/mmol labelled mg/g reads 8.8 times too low, inside any range),
    # and real nephrotic-range results approach 20 000-25 000 mg/g when heavy albuminuria meets low creatinine
    # excretion, so a tighter bound would refuse true results for no safety gain.
    _observation("uacr_mgg", "Urine albumin/creatinine ratio", "mg/g", "uacr", "uacr",
                 plain="urine albumin/creatinine ratio", short_label="ACR", plausible=(0.0, 30000.0),
                 lookback_days=1 * _YEAR, history_days=2 * _YEAR, display_decimals=0, cut_points=(30.0, 300.0),
                 note="mg/mmol × 8.842"),
    # Glucose: the detectors' bounds (20-1500 fasting and OGTT, 20-2000 random) and the adapter's (10-2000 for all
    # three) used to differ. The detectors' are kept. The lower bound 20 mg/dL (1.1 mmol/L) refuses a result in
    # mmol/L labelled mg/dL up to 20 mmol/L - nearly every fasting and OGTT result - instead of reading it as severe
    # hypoglycaemia; true values below 20 mg/dL are not what a fasting or OGTT test of an ambulatory patient shows,
    # and no rule acts on them. The fasting / OGTT upper bound 1500 mg/dL (83 mmol/L) is far above any result of a
    # planned test in a stable patient and refuses more mg/dL values labelled mmol/L (every one from 83 mg/dL up)
    # than 2000 would; a random glucose keeps 2000 because hyperosmolar emergencies do exceed 1500.
    _observation("glucose_fasting_mgdl", "Fasting plasma glucose", "mg/dL", "glucose_fasting", "glucose",
                 plain="fasting plasma glucose", short_label="FPG", plausible=(20.0, 1500.0),
                 lookback_days=1 * _YEAR, history_days=2 * _YEAR, display_decimals=0, cut_points=(100.0, 126.0),
                 note="plasma/serum only"),
    _observation("glucose_ogtt_2h_mgdl", "2-hour plasma glucose (75 g OGTT)", "mg/dL", "glucose_ogtt_2h", "glucose",
                 plain="2-hour OGTT glucose", short_label="2-h OGTT glucose", plausible=(20.0, 1500.0),
                 lookback_days=1 * _YEAR, history_days=2 * _YEAR, display_decimals=0,
                 cut_points=(140.0, 200.0),
                 note="LOINC 1518-0 (dose not stated) read as 75 g, with a note"),
    _observation("glucose_random_mgdl", "Random plasma glucose", "mg/dL", "glucose_random", "glucose",
                 plain="random glucose", short_label="random glucose", plausible=(20.0, 2000.0),
                 lookback_days=1 * _YEAR, history_days=2 * _YEAR, display_decimals=0, cut_points=(200.0,),
                 note="capillary meter codes excluded"),
    _observation("hemoglobin_gdl", "Haemoglobin", "g/dL", "hemoglobin", "hemoglobin", plain="haemoglobin",
                 short_label="Hb", plausible=(2.0, 25.0), lookback_days=1 * _YEAR, display_decimals=1,
                 cut_points=(7.0, 8.0, 10.0, 11.0, 11.5, 12.0, 13.0),
                 note="g/L ÷ 10; mmol/L × 1.6114"),
    _observation("platelets_10e9l", "Platelet count", "10^9/L", "platelets", "platelets", plain="platelet count",
                 plausible=(1.0, 2000.0), lookback_days=1 * _YEAR, display_decimals=0,
                 note="10\\*3/uL is the same unit"),
    _observation("ast_ul", "AST", "U/L", "ast", "enzyme", plain="AST", plausible=(1.0, 20000.0),
                 lookback_days=1 * _YEAR, display_decimals=0, note="IU/L = U/L; µkat/L × 60"),
    _observation("alt_ul", "ALT", "U/L", "alt", "enzyme", plain="ALT", plausible=(1.0, 20000.0),
                 lookback_days=1 * _YEAR, display_decimals=0, note="IU/L = U/L; µkat/L × 60"),
    _observation("bilirubin_total_mgdl", "Total bilirubin", "mg/dL", "bilirubin_total", "bilirubin",
                 plain="total bilirubin", plausible=(0.05, 50.0), lookback_days=1 * _YEAR, display_decimals=1,
                 note="µmol/L ÷ 17.1; urine bilirubin (20505-4, 5770-3) excluded"),
    _observation("inr", "INR", None, "inr", "ratio", plain="INR", plausible=(0.5, 20.0), lookback_days=1 * _YEAR,
                 display_decimals=1, note="unit may be absent"),
    # -- vital signs and acute care --------------------------------------------------------------------------------
    _observation("respiratory_rate_min", "Respiratory rate", "/min", "respiratory_rate", "rate",
                 plain="respiratory rate", panel_value_sets=_VITALS, plausible=(1.0, 80.0), lookback_days=30,
                 display_decimals=0),
    _observation("heart_rate_min", "Heart rate", "/min", "heart_rate", "rate", plain="heart rate",
                 panel_value_sets=_VITALS, plausible=(15.0, 300.0), lookback_days=30, display_decimals=0),
    _observation("temperature_c", "Body temperature", "Cel", "body_temperature", "temperature",
                 plain="body temperature", panel_value_sets=_VITALS, plausible=(25.0, 45.0), lookback_days=30,
                 display_decimals=1, note="°F and K converted"),
    _observation("spo2_pct", "Oxygen saturation (SpO2)", "%", "spo2", "percent", plain="SpO2",
                 panel_value_sets=_VITALS, plausible=(40.0, 100.0), lookback_days=30, display_decimals=0),
    # Oxygen flow and FiO2 are their own Observations or components of the SpO2 Observation (US Core Pulse Oximetry).
    FeatureSpec("on_supplemental_o2", "On supplemental oxygen", BOOLEAN,
                plain="oxygen flow, FiO2 or oxygen-delivery", resources=("Observation",),
                value_sets=("o2_flow", "fio2", "o2_device"), panel_value_sets=("spo2",), lookback_days=30,
                note="see *Acute-care observations*; nothing recorded → missing"),
    FeatureSpec("consciousness_avpu", "Level of consciousness (ACVPU)", CATEGORY,
                plain="level-of-consciousness (ACVPU)", resources=("Observation",), value_sets=("consciousness",),
                lookback_days=30, note="`A` / `C` / `V` / `P` / `U`"),
    _observation("gcs_total", "Glasgow Coma Scale total", None, "gcs_total", "score", plain="Glasgow Coma Scale",
                 plausible=(3.0, 15.0), lookback_days=30, display_decimals=0, note="3–15"),
    # The NEWS2 scale-2 Observation has the 30-day window; Goals and Conditions have none.
    FeatureSpec("hypercapnic_target", "Documented hypercapnic respiratory failure SpO2 target (88-92 %)", BOOLEAN,
                resources=("Goal", "Observation", "Condition"),
                value_sets=("news2_spo2_scale2", "hypercapnic_respiratory_failure"), lookback_days=30,
                note="see *Hypercapnic target*"),
    # -- CHA2DS2-VASc, HAS-BLED and other problem-list items --------------------------------------------------------
    _condition("atrial_fibrillation", "Atrial fibrillation or flutter", "atrial_fibrillation"),
    _condition("heart_failure", "Heart failure / LV dysfunction", "heart_failure"),
    _condition("stroke_tia_thromboembolism", "Prior stroke, TIA or thromboembolism", "stroke_tia_thromboembolism"),
    _condition("vascular_disease", "Vascular disease (MI, PAD, aortic plaque)", "vascular_disease"),
    _condition("chronic_kidney_disease", "Chronic kidney disease", "chronic_kidney_disease"),
    # A dialysis procedure this recent means chronic dialysis; transplant procedures count at any date.
    FeatureSpec("dialysis_or_transplant", "Chronic dialysis or kidney transplant", BOOLEAN,
                resources=("Condition", "Procedure"),
                value_sets=("dialysis_or_transplant", "dialysis_procedure", "kidney_transplant_procedure"),
                lookback_days=90, note="see *Dialysis and transplant*"),
    _condition("liver_disease", "Chronic liver disease (cirrhosis)", "liver_disease"),
    # Treatment rules: what excludes a statin (dialysis, decompensated liver disease) and what excludes a DOAC
    # (a mechanical valve, mitral stenosis).
    FeatureSpec("on_dialysis", "Chronic dialysis", BOOLEAN, resources=("Condition", "Procedure"),
                value_sets=("chronic_dialysis", "dialysis_procedure"), lookback_days=90,
                note="a dialysis status Condition or a dialysis procedure in the last 90 days; a kidney transplant "
                     "does not count (see *Dialysis and transplant*)"),
    _condition("decompensated_liver_disease", "Decompensated cirrhosis or hepatic failure",
               "decompensated_liver_disease", note="True only for a current confirmed condition"),
    _condition("mechanical_heart_valve", "Mechanical heart valve", "mechanical_heart_valve",
               note="any confirmed entry, whatever its clinical status (a valve stays)"),
    _condition("mitral_stenosis", "Mitral stenosis", "mitral_stenosis",
               note="True only for a current confirmed condition; severity is not coded"),
    _condition("bleeding_history", "Major bleeding history or predisposition", "bleeding_history"),
    _condition("alcohol_excess", "Alcohol use >= 8 drinks/week", "alcohol_excess"),
    _medication("antiplatelet_or_nsaid", "On antiplatelet or NSAID", "antiplatelet", "nsaid"),
    _medication("anticoagulant", "On oral anticoagulant", "anticoagulant"),
    _condition("obesity", "Obesity", "obesity"),
    _condition("familial_hypercholesterolemia", "Familial hypercholesterolaemia", "familial_hypercholesterolemia"),
    _condition("anemia", "Anaemia", "anemia"),
    _condition("prediabetes", "Prediabetes", "prediabetes"),
    FeatureSpec("pregnant", "Pregnant", BOOLEAN, plain="pregnancy-status", resources=("Condition", "Observation"),
                value_sets=("pregnancy", "pregnancy_status", "pregnancy_test"), lookback_days=294,
                note="see *Pregnancy*"),
    FeatureSpec("family_history_diabetes", "Family history of diabetes", BOOLEAN,
                resources=("FamilyMemberHistory", "Condition"),
                value_sets=("diabetes", "family_history_diabetes_finding", "no_family_history_diabetes_finding"),
                note="first-degree relative; see *Family history*"),
    _condition("gestational_diabetes_history", "History of gestational diabetes", "gestational_diabetes"),
    FeatureSpec("physically_active", "Physically active", BOOLEAN, plain="physical-activity",
                resources=("Observation",),
                value_sets=("pa_minutes_per_week", "pa_days_per_week", "pa_minutes_per_day"),
                lookback_days=2 * _YEAR, note="≥ 150 min/week; see *Physical activity*"),
    # Statin allergy or intolerance: an AllergyIntolerance to a statin, or a statin-intolerance Condition.
    FeatureSpec("statin_intolerance", "Statin allergy or intolerance", BOOLEAN,
                resources=("AllergyIntolerance", "Condition"), value_sets=("statin_intolerance",),
                note="AllergyIntolerance or Condition"),
    _condition("breastfeeding", "Breastfeeding", "breastfeeding"),
)

# Measurements the adapter reads on the way to a feature but that are not features themselves (the parts of
# "on supplemental oxygen" and "physically active"): only their unit and plausible range are declared.
COMPONENT_MEASURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("o2_flow_lmin", "Inhaled oxygen flow", QUANTITY, "L/min", plausible=(0.0, 80.0)),
    FeatureSpec("fio2_pct", "Inhaled oxygen concentration (FiO2)", QUANTITY, "%", plausible=(21.0, 100.0)),
    FeatureSpec("pa_min_per_week", "Physical activity, minutes per week", QUANTITY, "min/wk",
                plausible=(0.0, 10080.0)),
    FeatureSpec("pa_min_per_day", "Physical activity, minutes per day", QUANTITY, "min/d", plausible=(0.0, 1440.0)),
    FeatureSpec("pa_days_per_week", "Physical activity, days per week", QUANTITY, "d/wk", plausible=(0.0, 7.0)),
)

FEATURE_SPECS: dict[str, FeatureSpec] = {spec.name: spec for spec in FEATURES}
_ALL_SPECS: dict[str, FeatureSpec] = {**FEATURE_SPECS, **{spec.name: spec for spec in COMPONENT_MEASURES}}


def feature_spec(name: str) -> FeatureSpec | None:
    return FEATURE_SPECS.get(name)


# -- views derived from the catalogue ------------------------------------------------------------------------------
def labels() -> dict[str, tuple[str, str | None]]:
    """Feature name -> (label, unit)."""
    return {spec.name: (spec.label, spec.unit) for spec in FEATURES}


def plausible_ranges() -> dict[str, tuple[float, float]]:
    """Feature or component name -> (low, high) in its canonical unit, inclusive."""
    return {name: spec.plausible for name, spec in _ALL_SPECS.items() if spec.plausible is not None}


def lookback_days() -> dict[str, int]:
    return {spec.name: spec.lookback_days for spec in FEATURES if spec.lookback_days is not None}


def history_days() -> dict[str, int]:
    return {spec.name: spec.history_days for spec in FEATURES if spec.history_days is not None}


def short_labels() -> dict[str, str]:
    return {spec.name: spec.short_label for spec in FEATURES if spec.short_label is not None}


def plain_nouns() -> dict[str, str]:
    return {spec.name: spec.plain for spec in FEATURES if spec.plain is not None}


def with_dependencies(names: Iterable[str]) -> set[str]:
    """``names`` and every feature they are derived from, transitively (unknown names are kept as they are)."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        spec = FEATURE_SPECS.get(name)
        if spec is not None:
            todo.extend(spec.depends_on)
    return out


def display_value(name: str, value: float, decimals: int | None = None) -> str:
    """A number shown with the feature's display precision (no unit): ``display_value("hba1c_pct", 7.06)`` -> "7.1",
    and never rounded across a threshold an engine compares the feature with: ``display_value("bmi_kgm2", 29.996)``
    is "29.9", not "30.0" (not obese), and ``display_value("egfr_mlmin173m2", 59.96)`` is "59", not "60" (G3a)."""
    spec = FEATURE_SPECS.get(name)
    if decimals is None:
        decimals = spec.display_decimals if spec is not None and spec.display_decimals is not None else 1
    if spec is None:
        return threshold_safe_text(value, decimals)
    return threshold_safe_text(value, decimals, spec.cut_points, spec.strict_cut_points)


def threshold_safe_text(value: float, decimals: int, cut_points: Iterable[float] = (),
                        strict_cut_points: Iterable[float] = ()) -> str:
    """``value`` at ``decimals``, on the same side of every cut point as the value itself: the one rule of
    threshold-safe display. Rounded as usual unless that crosses a cut point; then cut toward the value's side (29.996
    with a cut at 30 is "29.9"; 180.4 with a strict cut at 180 is "181"); more decimals only if that is not enough."""
    value = float(value)
    cuts, strict = tuple(cut_points), tuple(strict_cut_points)

    def same_side(x: float) -> bool:  # x on value's side of every cut point (a loop: on every number of a card)
        for c in cuts:
            if (x >= c) != (value >= c):
                return False
        for c in strict:
            if (x > c) != (value > c):
                return False
        return True

    text = f"{value:.{decimals}f}"
    if not (cuts or strict) or not math.isfinite(value) or same_side(float(text)):
        return text
    exact = Decimal(repr(value))
    toward = ROUND_FLOOR if float(text) > value else ROUND_CEILING
    text = str(exact.quantize(Decimal(1).scaleb(-decimals), rounding=toward))
    extra = decimals
    while not same_side(float(text)) and extra < decimals + 6:  # a cut point off the display grid
        extra += 1
        text = str(exact.quantize(Decimal(1).scaleb(-extra), rounding=toward))
    return text


def feature_for_unit(unit: str | None) -> FeatureSpec | None:
    """The one feature measured in ``unit`` ("mL/min/1.73m2" is eGFR, "kg/m2" BMI), or None when several share it
    ("mg/dL", "%"): a result in that unit is the same quantity, shown and compared the same way."""
    return _FEATURE_OF_UNIT.get(unit) if unit else None


def _features_of_one_unit() -> dict[str, FeatureSpec]:
    by_unit: dict[str, list[FeatureSpec]] = {}
    for spec in FEATURES:
        if spec.unit:
            by_unit.setdefault(spec.unit, []).append(spec)
    return {unit: specs[0] for unit, specs in by_unit.items() if len(specs) == 1}


_FEATURE_OF_UNIT = _features_of_one_unit()  # every card number asks (cards.markdown.number_text)
