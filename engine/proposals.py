"""What an engine proposes a clinician do: typed, FHIR-free proposals that the cards layer turns into FHIR R4 resources
and CDS Hooks actions (``cards/fhir.py`` is the one place that writes those resources).

An engine says *what* should happen - add a problem, order a test, start a medication (with alternatives), change or
cancel an order the clinician is drafting - in clinical terms (codes, dose, reason, the results that justify it). It
does not know the patient id, FHIR element names or CDS Hooks; so the same proposal can become a CDS Hooks suggestion
today and something else tomorrow, and every resource we send is built (and validated in the tests) the same way.

A finding carries ``Suggestion``s: each is one button on the card ("Add diabetes to the problem list"), made of one or
more proposals that the EHR applies together (e.g. "cancel the drafted warfarin and start apixaban"). A
``StartMedication`` with several options is a choice: it becomes one suggestion per option, of which the clinician
accepts at most one.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Union

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"

# "MedicationRequest/abc-1": the relative reference CDS Hooks 2.0.1 uses for Action.resourceId.
_RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]{1,63}/[A-Za-z0-9.-]{1,64}$")
# Only orders can be drafted by the clinician at order-select / order-sign time.
DRAFT_ORDER_TYPES = frozenset({"MedicationRequest", "ServiceRequest"})


class ProposalError(ValueError):
    """A proposal that cannot become a valid resource or action (a programming error in the engine)."""


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str | None = None

    def __post_init__(self):
        if not self.system or not self.code:
            raise ProposalError("a Coding needs a system and a code")


@dataclass(frozen=True)
class ConditionRef:
    """The condition a finding is about: what the cards layer merges findings on (same id, a related id, or the same
    first SNOMED CT coding), and what an ``AddProblem`` puts on the problem list."""

    id: str  # our concept id, e.g. "diabetes-mellitus"
    name: str
    codings: tuple[Coding, ...] = ()  # SNOMED CT first, then ICD-10-CM
    related_ids: tuple[str, ...] = ()  # concepts that are the same problem for de-duplication ("type-2-diabetes")

    @property
    def first_snomed(self) -> str | None:
        return next((c.code for c in self.codings if c.system == SNOMED), None)


class Verification(str, enum.Enum):
    """FHIR condition-ver-status codes an engine may propose; an engine never claims a diagnosis is confirmed."""

    PROVISIONAL = "provisional"
    DIFFERENTIAL = "differential"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class AddProblem:
    """Put a condition on the problem list (a Condition, category problem-list-item, clinical status active)."""

    condition: ConditionRef
    description: str  # what the action does and why, shown by the EHR next to the action
    note: str  # kept on the Condition itself: who suggested it and on what grounds
    evidence: tuple[str, ...] = ()  # "Observation/a1", "DocumentReference/n1": the records that justify it
    text: str | None = None  # the Condition's code text when more specific than the name ("CKD (G3a)")
    verification: Verification = Verification.PROVISIONAL

    def __post_init__(self):
        if not self.condition.codings:
            raise ProposalError(f"AddProblem({self.condition.id}): a problem needs at least one coding")
        _check_references(self.evidence, "AddProblem.evidence")


@dataclass(frozen=True)
class OrderTest:
    """Order a test or procedure (a ServiceRequest, status draft, intent proposal: the clinician signs it)."""

    code: Coding  # LOINC for laboratory tests, SNOMED CT for procedures
    text: str
    reason: str  # why, in words; also the action description unless ``description`` is given
    reason_codings: tuple[Coding, ...] = ()  # the suspected condition
    reason_references: tuple[str, ...] = ()  # the results that prompted it
    description: str | None = None

    def __post_init__(self):
        _check_references(self.reason_references, "OrderTest.reason_references")

    @property
    def laboratory(self) -> bool:
        return self.code.system == LOINC


@dataclass(frozen=True)
class Dose:
    """A dosage instruction: the text a clinician reads, and its structure when there is one."""

    text: str  # "20 mg orally once daily"
    quantity: float | None = None
    unit: str | None = None  # UCUM, e.g. "mg"
    times_per_day: int | None = None

    def __post_init__(self):
        if (self.quantity is None) != (self.unit is None):
            raise ProposalError("a Dose has both a quantity and its unit, or neither")
        if self.quantity is not None and self.quantity <= 0:
            raise ProposalError("a dose quantity is positive")
        if self.times_per_day is not None and self.times_per_day < 1:
            raise ProposalError("times_per_day is at least 1")


@dataclass(frozen=True)
class MedicationOption:
    """One medication a ``StartMedication`` offers: the drug (RxNorm) and its dose; ``label`` is its button."""

    medication: Coding
    dose: Dose
    label: str


@dataclass(frozen=True)
class StartMedication:
    """Start a medication (a MedicationRequest, status draft, intent proposal). With several options the clinician
    picks at most one; ``recommended`` is the index of the preferred option (None: no preference)."""

    options: tuple[MedicationOption, ...]
    reason: str
    reason_codings: tuple[Coding, ...] = ()
    reason_references: tuple[str, ...] = ()
    recommended: int | None = 0
    description: str | None = None

    def __post_init__(self):
        if not self.options:
            raise ProposalError("StartMedication needs at least one option")
        if self.recommended is not None and not 0 <= self.recommended < len(self.options):
            raise ProposalError("StartMedication.recommended is not the index of an option")
        if len({o.label for o in self.options}) != len(self.options):
            raise ProposalError("StartMedication options need distinct labels (each is a button)")
        _check_references(self.reason_references, "StartMedication.reason_references")


@dataclass(frozen=True)
class ChangeDraftOrder:
    """Change an order the clinician is drafting (order-select / order-sign ``draftOrders``): the cards layer sends the
    whole draft with these fields replaced, as CDS Hooks asks of an update."""

    draft: str  # "MedicationRequest/draft-1"
    description: str
    reason: str  # kept on the changed order as a note
    code: Coding | None = None  # another drug (MedicationRequest) or test (ServiceRequest)
    dose: Dose | None = None  # MedicationRequest only

    def __post_init__(self):
        _check_draft(self.draft)
        if self.code is None and self.dose is None:
            raise ProposalError("ChangeDraftOrder changes nothing")
        if self.dose is not None and not self.draft.startswith("MedicationRequest/"):
            raise ProposalError("only a MedicationRequest has a dose")


@dataclass(frozen=True)
class CancelDraftOrder:
    """Remove an order the clinician is drafting (a CDS Hooks delete action with ``resourceId``)."""

    draft: str  # "ServiceRequest/draft-2"
    description: str
    reason: str

    def __post_init__(self):
        _check_draft(self.draft)


Proposal = Union[AddProblem, OrderTest, StartMedication, ChangeDraftOrder, CancelDraftOrder]


class SelectionBehavior(str, enum.Enum):
    """CDS Hooks 2.0.1 Card.selectionBehavior."""

    ANY = "any"
    AT_MOST_ONE = "at-most-one"


@dataclass(frozen=True)
class Suggestion:
    """One button on a card: its proposals are applied together. ``recommended`` is CDS Hooks ``isRecommended``."""

    label: str
    proposals: tuple[Proposal, ...]
    recommended: bool = False

    def __post_init__(self):
        if not self.label.strip():
            raise ProposalError("a suggestion needs a label")
        if not self.proposals:
            raise ProposalError(f"suggestion '{self.label}' proposes nothing")
        choices = [p for p in self.proposals if isinstance(p, StartMedication) and len(p.options) > 1]
        if len(choices) > 1:
            raise ProposalError(f"suggestion '{self.label}' has two medication choices; make them two findings")

    @property
    def adds_problem(self) -> bool:
        return any(isinstance(p, AddProblem) for p in self.proposals)

    @property
    def is_choice(self) -> bool:
        """Whether it offers alternatives (a StartMedication with several options): then at most one is taken."""
        return any(isinstance(p, StartMedication) and len(p.options) > 1 for p in self.proposals)


def suggest(label: str, *proposals: Proposal, recommended: bool = False) -> Suggestion:
    return Suggestion(label=label, proposals=tuple(proposals), recommended=recommended)


def _check_references(references: tuple[str, ...], where: str) -> None:
    # Evidence comes from the record as it was sent ("Observation/a1", "urn:uuid:..." in a transaction Bundle): any
    # FHIR Reference.reference string is kept; only empty or blank-containing ones are refused.
    for ref in references:
        if not isinstance(ref, str) or not ref or any(map(str.isspace, ref)):  # map: no generator per character
            raise ProposalError(f"{where}: '{ref}' is not a FHIR reference")


def _check_draft(draft: str) -> None:
    # CDS Hooks 2.0.1 Action.resourceId is a relative reference: Type/id, nothing else.
    if not isinstance(draft, str) or not _RELATIVE_REFERENCE.match(draft):
        raise ProposalError(f"draft order '{draft}' is not a relative reference Type/id")
    if draft.split("/", 1)[0] not in DRAFT_ORDER_TYPES:
        raise ProposalError(f"'{draft}' is not a draftable order ({', '.join(sorted(DRAFT_ORDER_TYPES))})")
