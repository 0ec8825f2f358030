"""The card budget: every patient-view card a clinician reads in seconds, and a chart's cards on about two screens.

Every patient-view service is called through the HTTP hook, as an EHR calls it, for each fixture patient and for the
Synthea bundles in ../shared/data/synthea (skipped when absent). Every card's detail must keep to the budget of
cards/markdown.py - at most 8 non-empty lines and 700 characters, no line over 300 characters, no resource ids,
engine ids or versions, coefficient tables ("beta"), no "-0.000", no number shown with more decimals than its
feature's display precision (engine/feature_catalog.py), and no clinical sentence clipped mid-way ("…"; only a quoted
note sentence may be shortened, and its line says so) - and a chart's cards, all services together, must stay few.
The Synthea test prints each chart's card count per service (pytest -s).
"""
from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest

from cards.markdown import DETAIL_MAX_CHARS, DETAIL_MAX_LINES, QUOTE_SHORTENED
from cds_hooks.app import create_app
from cds_hooks.config import DEFAULTS
from cds_hooks.declaration import SERVICES
from cds_hooks.evaluate import hook_request_from_resources
from cds_hooks.services import load_all
from engine.feature_catalog import FEATURES
from tests.conftest import FIXTURES, SHARED_DATA, TEST_AS_OF, CheckedClient

load_all()  # the service declarations, before they are listed below
SYNTHEA_FILES = sorted((SHARED_DATA / "synthea").glob("*.json")) if (SHARED_DATA / "synthea").is_dir() else []
FIXTURE_HOOKS = sorted(p for p in (FIXTURES / "hooks").glob("patient-view-*.json")
                       if "prefetch" in json.loads(p.read_text()) and "no-prefetch" not in p.name
                       and "operationoutcome" not in p.name and "paginated" not in p.name)
FIXTURE_BUNDLES = sorted((FIXTURES / "patients").glob("*.json"))
PATIENT_VIEW = [s for s in SERVICES if s.hook == "patient-view"]
# A typical adult chart, all patient-view services together: about two screens of a sandbox card column. Most Synthea
# adults get 6 or fewer; two multimorbid charts (CKD G3a-G4 with diabetes or hypertension) still get 7.
MAX_CARDS_PER_CHART = 7
LINE_MAX_CHARS = 300  # about three lines of a 400-px card column

FORBIDDEN = ("Patient/", "Observation/", "Condition/", "MedicationRequest/", "MedicationStatement/", "Procedure/",
             "beta", "-0.000", "-0.0 ", "Engine ")
ENGINE_VERSION = re.compile(r"\bv\d+\.\d+\.\d+\b")
# Units whose every feature has one display precision (eGFR and mmHg whole, BMI one decimal).
UNIT_DECIMALS = {"mmHg": 0, "mL/min/1.73m2": 0, "mg/g": 0, "U/L": 0, "kg/m2": 1, "g/dL": 1}


def _labelled_precision() -> list[tuple[re.Pattern, int, str]]:
    """'<label or short label> <number>' for every quantity feature with a display precision."""
    out = []
    for spec in FEATURES:
        if spec.display_decimals is None:
            continue
        for label in {spec.label, spec.short}:
            out.append((re.compile(rf"(?<![\w-]){re.escape(label)} (-?\d+(?:\.\d+)?)"), spec.display_decimals,
                        spec.name))
    return out


LABELLED = _labelled_precision()


def budget_problems(card: dict, engine_ids: set[str]) -> list[str]:
    """Why a card's detail breaks the budget (empty when it keeps to it)."""
    detail = card.get("detail", "")
    problems = []
    lines = [line for line in detail.splitlines() if line.strip()]
    if len(lines) > DETAIL_MAX_LINES:
        problems.append(f"{len(lines)} lines")
    if len(detail) > DETAIL_MAX_CHARS:
        problems.append(f"{len(detail)} characters")
    problems += [f"a line of {len(line)} characters" for line in lines if len(line) > LINE_MAX_CHARS]
    problems += [f"clipped: {line!r}" for line in lines if clipped(line)]
    text = f"{detail}\n{card['summary']}\n{card['source']['label']}"
    problems += [f"contains {word!r}" for word in FORBIDDEN if word in text]
    problems += [f"names engine {e}" for e in engine_ids if re.search(rf"(?<![\w-]){re.escape(e)}(?![\w-])", text)]
    if ENGINE_VERSION.search(text):
        problems.append("names an engine version")
    for pattern, decimals, name in LABELLED:
        for number in pattern.findall(text):
            if len(number.partition(".")[2]) > decimals:
                problems.append(f"{name} shown as {number} (display precision {decimals})")
    for unit, decimals in UNIT_DECIMALS.items():
        for number in re.findall(rf"(-?\d+(?:\.\d+)?) {re.escape(unit)}(?![\w/])", text):
            if len(number.partition(".")[2]) > decimals:
                problems.append(f"{number} {unit} (display precision {decimals})")
    for number in re.findall(r"(-?\d+\.\d+) %", text):
        if len(number.partition(".")[2]) > 1:
            problems.append(f"{number} % (one decimal)")
    return problems


def clipped(line: str) -> bool:
    """A line cut mid-way ("…"): never a clinical sentence; a quoted note sentence only when the line says so."""
    if "…" not in line and "..." not in line:
        return False
    return not (line.startswith(">") and QUOTE_SHORTENED in line)


def all_engine_ids() -> set[str]:
    return {engine_id for definition in SERVICES for engine_id in definition.engines}


def chart_cards(client, resources: list[dict]) -> list[tuple[str, dict]]:
    out = []
    for definition in PATIENT_VIEW:
        body = hook_request_from_resources(resources, definition)
        resp = client.post(f"/cds-services/{definition.id}", data=json.dumps(body), content_type="application/json")
        if resp.status_code == 404 and not definition.enabled(DEFAULTS):
            continue  # a service switched off by default (the demonstration model)
        assert resp.status_code == 200, resp.get_json()
        out += [(definition.id, card) for card in resp.get_json()["cards"]]
    return out


def app_client(tmp_path, as_of: str) -> CheckedClient:
    return CheckedClient(create_app({"AS_OF": as_of, "DEV_MODE": True, "WARM_MODELS": False,
                                     "DATA_DIR": str(tmp_path / "data")}).test_client())


def assert_within_budget(cards: list[tuple[str, dict]], max_cards: int | None = None) -> None:
    engine_ids = all_engine_ids()
    broken = {f"{service}: {card['summary']}": budget_problems(card, engine_ids) for service, card in cards}
    assert not {k: v for k, v in broken.items() if v}
    if max_cards is not None:
        assert len(cards) <= max_cards, [f"{s}: {c['summary']}" for s, c in cards]


def chart_date(resources: list[dict]) -> str:
    """The day after the chart's newest dated result: the chart as a clinician opened it then."""
    days = [(r.get("effectiveDateTime") or r.get("issued") or "")[:10] for r in resources]
    return (date.fromisoformat(max(d for d in days if d)) + timedelta(days=1)).isoformat()


# -- the checker itself --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("detail, problem", [
    ("**eGFR 153.194 mL/min/1.73m2**", "egfr_mlmin173m2 shown as 153.194"),
    ("**Based on:** SBP 118.66 mmHg (2026-01-02)", "118.66 mmHg"),
    ("**Based on:** LDL-C 166.02 mg/dL", "ldl_mgdl shown as 166.02"),
    ("| ln(age) (beta 12.344) | 4.22 | +52.086 |", "contains 'beta'"),
    ("Contribution -0.000", "contains '-0.000'"),
    ("Source: Observation/a-tc", "contains 'Observation/'"),
    ("_Engine pce-2013 v1.0.0._", "names engine pce-2013"),
    ("\n".join(f"line {i}" for i in range(9)), "9 lines"),
    ("x" * 701, "701 characters"),
    ("x" * 301, "a line of 301 characters"),
    ("BP 186/105 mmHg is a crisis. Repeat and assess for acute target-organ damage (Hypertension is on the problem…",
     "clipped"),
    ("**Based on:** Age 78 · no: chronic dialysis, antiplatelet or NSAID,…", "clipped"),
    ("> He has obstructive sleep apnea, diagnosed on a sleep study last…", "clipped"),  # a quote must say so
])
def test_the_budget_check_finds_what_the_issue_saw(detail, problem):
    card = {"summary": "s", "detail": detail, "source": {"label": "Goff 2014"}}
    assert any(problem in p for p in budget_problems(card, all_engine_ids())), budget_problems(card, all_engine_ids())


def test_a_quoted_note_sentence_may_be_shortened_when_it_says_so():
    card = {"summary": "Possible undocumented problem in notes: Obstructive sleep apnea", "source": {"label": "x"},
            "detail": f"> He has obstructive sleep apnea, diagnosed on a sleep study… {QUOTE_SHORTENED}"}
    assert budget_problems(card, all_engine_ids()) == []


def test_a_card_within_budget_passes_the_check():
    card = {"summary": "10-year ASCVD risk (Pooled Cohort Equations): 5.4 % (borderline)",
            "detail": "**5.4 %**, borderline\n\n**Based on:** Age 55, male, white · Total cholesterol 213 mg/dL, "
                      "HDL cholesterol 50 mg/dL, SBP 120 mmHg (2026-03-02) · no: diabetes, current smoker",
            "source": {"label": "Goff 2014 (ACC/AHA Pooled Cohort Equations)"}}
    assert budget_problems(card, all_engine_ids()) == []


# -- fixture patients ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", FIXTURE_HOOKS, ids=lambda p: p.stem)
def test_fixture_hook_requests_keep_to_the_card_budget(client, path):
    request = json.loads(path.read_text())
    cards = []
    for definition in PATIENT_VIEW:
        if definition.id == "note-diagnosis-gaps":
            continue  # quotes a note sentence; its card is checked in tests/models
        resp = client.post(f"/cds-services/{definition.id}", data=json.dumps(request),
                           content_type="application/json")
        if resp.status_code == 200:
            cards += [(definition.id, card) for card in resp.get_json()["cards"]]
    assert cards
    assert_within_budget(cards)


@pytest.mark.parametrize("path", FIXTURE_BUNDLES, ids=lambda p: p.stem)
def test_fixture_patients_keep_to_the_card_budget(tmp_path, path):
    resources = [e["resource"] for e in json.loads(path.read_text())["entry"]]
    assert_within_budget(chart_cards(app_client(tmp_path, TEST_AS_OF), resources), MAX_CARDS_PER_CHART)


# -- Synthea charts ------------------------------------------------------------------------------------------------
@pytest.mark.skipif(not SYNTHEA_FILES, reason="../shared/data/synthea is absent")
@pytest.mark.parametrize("path", SYNTHEA_FILES, ids=lambda p: p.name[:24])
def test_a_synthea_chart_fits_about_two_screens(tmp_path, path):
    resources = [e["resource"] for e in json.loads(path.read_text())["entry"]]
    # Opened when the chart was current (its results in their look-back windows), and years later (most stale).
    for as_of in (chart_date(resources), TEST_AS_OF):
        cards = chart_cards(app_client(tmp_path, as_of), resources)
        per_service = {s: sum(1 for t, _ in cards if t == s) for s in dict.fromkeys(s for s, _ in cards)}
        print(f"\n{path.name.split('_')[0]} as of {as_of}: {len(cards)} cards "
              f"({', '.join(f'{s} {n}' for s, n in per_service.items())})")
        assert_within_budget(cards, MAX_CARDS_PER_CHART)
        # One "data needed" card per service at most, and no order suggested twice on one card.
        for service in {s for s, _ in cards}:
            needed = [c for s, c in cards if s == service and c["summary"].startswith("Data needed")]
            assert len(needed) <= 1
            for card in needed:
                labels = [s["label"] for s in card.get("suggestions", [])]
                assert len(labels) == len(set(labels))
        # Not-applicable results are not cards by default, and the demonstration model is off.
        assert not any(c["summary"].startswith("Not applicable") for _, c in cards)
        assert "heart-disease-model-demo" not in {s for s, _ in cards}
