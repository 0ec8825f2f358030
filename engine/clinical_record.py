"""The medication list, allergies and drafted orders as the engines see them: plain data, no FHIR.

Scores read booleans ("on a statin"); treatment and safety rules need the list itself: which ingredient, which
class, what daily dose and intensity, since when, from which resource; and which substances the patient reacts to.
The adapter fills ``FeatureSet.medications`` and ``FeatureSet.allergies`` with these entries, and, at order-select /
order-sign, ``FeatureSet.draft_orders`` with the orders being drafted (``DraftOrder``), which are never part of the
medication list.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class MedicationEntry:
    source: str  # "MedicationStatement/12"
    resource_type: str  # MedicationRequest | MedicationStatement
    name: str  # what the record calls it ("atorvastatin 40 MG Oral Tablet")
    ingredients: tuple[str, ...]  # lower-case ingredient names from the drug knowledge
    classes: tuple[str, ...]  # drug classes, parents included ("statin", "ace_inhibitor", "antihypertensive")
    active: bool  # currently taken: status active, not a proposal / plan, not ended, not in the future
    status: str | None
    start: date | datetime | None = None
    end: date | datetime | None = None
    dose: str | None = None  # "2 tablet, 1 per day" or the dosage text
    daily_dose_mg: float | None = None  # of the single ingredient (None for combinations without per-ingredient dose)
    statin_intensity: str | None = None  # "high" | "moderate" | "low" (2018 AHA/ACC Table 3), statins only
    note: str | None = None  # assumptions made (e.g. "frequency not recorded: taken as once daily")
    recognised_by: str = "code"  # "code" | "text"
    # Why it is given, as recorded (reasonReference / reasonCode): "Condition/7", "Gout"; and the reason codes.
    reasons: tuple[str, ...] = ()
    reason_codes: tuple[tuple[str | None, str], ...] = ()

    def has_class(self, cls: str) -> bool:
        return cls in self.classes


@dataclass(frozen=True)
class AllergyEntry:
    source: str  # "AllergyIntolerance/3"
    substance: str
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    concepts: tuple[str, ...]  # terminology value sets of the substance (e.g. "statin_intolerance")
    type: str | None  # allergy | intolerance
    criticality: str | None
    reactions: tuple[str, ...]
    clinical_status: str | None
    verification_status: str | None
    recorded: date | datetime | None = None
    codes: tuple[tuple[str | None, str], ...] = ()  # (system, code) of the substance, e.g. "No known drug allergy"
    category: tuple[str, ...] = ()  # food | medication | environment | biologic


@dataclass(frozen=True)
class DraftDose:
    """The first dosage instruction of a drafted medication order, as the order-time checks read it.

    Nothing is inferred beyond arithmetic: ``amount_mg`` is the amount per administration in mg (a dose written in
    mg, or a count of tablets / capsules times the strength of the drafted product); ``daily_mg`` is that times
    ``per_day``; a value that cannot be worked out is None and ``note`` says why (or what was assumed)."""

    text: str | None = None  # the dosage text as drafted ("75 mg twice daily")
    amount: float | None = None  # per administration, in ``unit`` (doseAndRate[0].doseQuantity)
    unit: str | None = None  # UCUM code or unit as drafted ("mg", "{tbl}")
    per_day: float | None = None  # administrations per day (timing.repeat or timing.code)
    amount_mg: float | None = None
    daily_mg: float | None = None
    as_needed: bool = False
    note: str | None = None


@dataclass(frozen=True)
class DraftOrder:
    """An order the clinician is drafting and has not signed: one entry of the CDS Hooks ``context.draftOrders``
    Bundle (order-select, order-sign). It is the order-time checks' own input - ``FeatureSet.draft_orders`` - and is
    never on the medication list (``FeatureSet.medications``): a drafted drug is not a drug the patient takes.

    ``reference`` ("MedicationRequest/draft-1") is what a suggestion names in ``ChangeDraftOrder`` /
    ``CancelDraftOrder`` and what CDS Hooks sends back as ``Action.resourceId``. ``selected`` says whether this call
    is about the draft: on order-select only the drafts in ``context.selections`` are checked (the others are context,
    e.g. for interactions between drafts); on order-sign every draft is. Drug identity comes from the drug knowledge
    (fhir_adapter/terminology/drugs.py): ``ingredients`` are lower-case ingredient names, ``ingredient_rxcuis`` their
    RxNorm ingredient codes where known (same order, None when matched by name only), ``classes`` include parents.
    A ServiceRequest (or any other drafted resource) has its ``codes`` and no drug fields."""

    reference: str  # "MedicationRequest/draft-1"
    resource_type: str  # MedicationRequest | ServiceRequest | ...
    name: str  # what the clinician sees: the coding display or text ("dabigatran etexilate 150 MG Oral Capsule")
    selected: bool
    codes: tuple[tuple[str, str], ...] = ()  # (system, code) of the drug or test as drafted
    ingredients: tuple[str, ...] = ()
    ingredient_rxcuis: tuple[str | None, ...] = ()
    classes: tuple[str, ...] = ()
    strength_mg: float | None = None  # per unit of the drafted product (single-ingredient products with an mg strength)
    dose: DraftDose | None = None
    route: str | None = None  # dosageInstruction[0].route display or code ("oral", "subcutaneous")
    status: str | None = None  # "draft" as CDS Hooks asks; kept as sent
    intent: str | None = None
    has_reason: bool = False  # the order names its indication (reasonCode or reasonReference)
    reason_concepts: tuple[str, ...] = ()  # that indication by the terminology's condition concepts ("atrial_fibrillation")
    recognised_by: str = "code"  # "code" | "text" | "none": how the drug was recognised

    @property
    def is_medication(self) -> bool:
        return bool(self.ingredients)

    def has_class(self, cls: str) -> bool:
        return cls in self.classes
