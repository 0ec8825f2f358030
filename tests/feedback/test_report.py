"""``precision-cds feedback-report``: rates per rule over time, override reasons, rules over the override threshold, and
what the feedback hid - as text, JSON and a self-contained HTML page with plots."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import make_url

from cds_hooks import report_html
from cds_hooks.cli import main
from cds_hooks.report import build_report, feedback_report, format_text
from cds_hooks.report_html import render_html
from cds_hooks.store import store_of
from tests.conftest import CheckedClient
from tests.feedback.conftest import accept, card_about, feedback_app, open_chart, override

REASONS = "urn:precision-cds:override-reason"


def row(outcome: str, finding: str, when: datetime, code: str | None = None) -> dict:
    engine = finding.split(":")[0]
    return {"outcome": outcome, "engine_ids": json.dumps([engine]), "finding_ids": json.dumps([finding]),
            "override_code": code, "override_system": REASONS if code else None, "has_user_comment": False,
            "received_at": when}


JUNE, JULY = datetime(2026, 6, 3, tzinfo=timezone.utc), datetime(2026, 7, 8, tzinfo=timezone.utc)
ROWS = ([row("overridden", "fh:fh", JUNE, "not-applicable")] * 9 + [row("accepted", "fh:fh", JUNE)]
        + [row("overridden", "fh:fh", JULY, "patient-declined")] * 2
        + [row("accepted", "dm:dm", JUNE)] * 6 + [row("overridden", "dm:dm", JULY, "already-addressed")] * 5)


def test_rates_over_time_per_rule():
    report = build_report(ROWS)
    assert report["period"] == "month"
    fh = report["over_time"]["findings"]["fh:fh"]
    assert [(p["key"], p["total"], p["override_rate"]) for p in fh] == [("2026-06", 10, 0.9), ("2026-07", 2, 1.0)]
    dm = report["over_time"]["engines"]["dm"]
    assert [(p["key"], p["acceptance_rate"]) for p in dm] == [("2026-06", 1.0), ("2026-07", 0.0)]
    weekly = build_report(ROWS, period="week")["over_time"]["overall"]["all"]
    assert [p["key"] for p in weekly] == ["2026-W23", "2026-W28"]


def test_rules_over_the_threshold_are_candidates_to_retire_or_retune():
    report = build_report(ROWS, threshold=0.8, min_items=10)
    assert [(c["level"], c["key"]) for c in report["candidates"]] == [("engine", "fh"), ("finding", "fh:fh")]
    assert report["candidates"][1]["override_rate"] == round(11 / 12, 4)
    assert build_report(ROWS, threshold=0.4, min_items=12)["candidates"][0]["key"] == "fh"  # dm has 11 items
    assert [c["key"] for c in build_report(ROWS, threshold=0.4, min_items=11)["candidates"]] == ["fh", "dm", "fh:fh",
                                                                                                 "dm:dm"]
    assert build_report(ROWS, threshold=0.95, min_items=1)["candidates"] == []


def test_the_text_report_names_the_candidates_and_the_reasons_in_words():
    text = format_text(build_report(ROWS, threshold=0.8))
    assert "Candidates to retire or retune (override rate >= 80 % over >= 10 items)" in text
    assert re.search(r"finding fh:fh\s+12\s+1\s+11", text)
    assert "Not applicable to this patient (not-applicable)" in text
    assert "dm 2026-07" in text


def test_the_html_page_is_self_contained_with_plots():
    page = render_html(build_report(ROWS, threshold=0.8))
    assert page.count("<svg") == 6  # over time, one per rule over time (2), engines, rules, reasons
    assert "<script" not in page.lower() and "<link" not in page.lower() and " src=" not in page
    assert not re.search(r"""(href|src)=["']?https?:""", page)  # nothing fetched, no CDN
    assert "<tr class='flag'><td>fh:fh</td>" in page
    assert "Patient declined (patient-declined)" in page


def test_without_matplotlib_the_page_keeps_its_tables(monkeypatch):
    monkeypatch.setattr(report_html, "matplotlib", None)
    page = render_html(build_report(ROWS))
    assert "<svg" not in page and "pip install 'precision-cds[report]'" in page and "fh:fh" in page


def test_report_from_feedback_given_over_http(client, app, clock, database, tmp_path, monkeypatch):
    """Clinicians answer cards; the CLI reads the same database and reports per rule, with what was hidden."""
    cards = open_chart(client)
    assert override(client, card_about(cards, "familial"), "not-applicable").status_code == 200
    assert override(client, card_about(cards, "diabetes"), "patient-declined").status_code == 200
    assert accept(client, card_about(cards, "anaemia"), "complete blood count").status_code == 200
    clock.days = 40  # a month later the patient-declined card is still hidden; the accepted suggestion is back
    assert len(card_about(open_chart(client), "anaemia")["suggestions"]) == 2
    store_of(app).dispose()
    for key, value in database.environment().items():
        monkeypatch.setenv(key, value)

    result = CliRunner().invoke(main, ["feedback-report", "--format", "json", "--min-items", "1", "--threshold", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {c["key"] for c in report["candidates"]} == {"fh-possible", "fh-possible:fh", "diabetes-gap",
                                                        "diabetes-gap:diabetes"}
    hidden = {s["key"]: s for s in report["suppressions"]}
    assert hidden["fh-possible:fh"]["reasons"] == {"not-applicable": 1}
    assert hidden["anemia-gap:anemia"]["reasons"] == {"accepted": 1}

    out = tmp_path / "feedback.html"
    written = CliRunner().invoke(main, ["feedback-report", "--format", "html", "--out", str(out), "--min-items", "1"])
    assert written.exit_code == 0, written.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "diabetes-gap:diabetes" in page
    assert "dx-gaps-woman" not in page  # aggregates only
    needs_out = CliRunner().invoke(main, ["feedback-report", "--format", "html"])
    assert needs_out.exit_code == 2 and "--out" in needs_out.output


@pytest.mark.parametrize("args", [["--threshold", "1.5"], ["--min-items", "0"], ["--period", "year"]])
def test_bad_report_options_are_usage_errors(args):
    assert CliRunner().invoke(main, ["feedback-report", *args]).exit_code == 2


# -- rates per rule over time in every format --------------------------------------------------------------------------
def test_the_text_report_has_each_rules_rates_over_time():
    text = format_text(build_report(ROWS))
    section = text.split("Rules by month", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"fh:fh 2026-06\s+10\s+1\s+9\s+10\.0\s+90\.0", section)
    assert re.search(r"dm:dm 2026-07\s+5\s+0\s+5\s+0\.0\s+100\.0", section)
    long_rule = "renal-dosing:dabigatran/af-crcl-15-30-and-a-very-long-band-name"
    text = format_text(build_report([row("accepted", long_rule, JUNE)]))
    assert re.search(r"renal-dosing:dabigatran\S* 2026-06\s+1\s+1\s+0", text)  # the period survives the clip


def test_the_html_page_plots_each_rule_over_time():
    page = render_html(build_report(ROWS, threshold=0.8))
    section = page.split("<h2>Rules by month</h2>", 1)[1].split("<h2>", 1)[0]
    assert section.count("<svg") == 2
    assert 'aria-label="Acceptance and override rate of fh:fh by month"' in section
    assert "<tr class='flag'><td>fh:fh</td><td>2026-06</td>" in section  # the table has every rule and period
    assert "<script" not in section.lower() and not re.search(r"""(href|src)=["']?https?:""", section)


# -- since: applied by the database, in UTC --------------------------------------------------------------------------------
def test_since_selects_the_same_rows_whatever_its_time_zone(client, app):
    from datetime import timedelta

    assert override(client, card_about(open_chart(client), "diabetes"), "not-applicable").status_code == 200
    store = store_of(app)
    two_hours_ago = datetime.now(timezone.utc) - timedelta(hours=2)
    in_an_hour = datetime.now(timezone.utc) + timedelta(hours=1)
    for zone in (timezone.utc, timezone(timedelta(hours=5)), timezone(timedelta(hours=-8))):
        assert len(list(store.feedback_rows(since=two_hours_ago.astimezone(zone)))) == 1, zone
        assert list(store.feedback_rows(since=in_an_hour.astimezone(zone))) == [], zone
    assert len(list(store.feedback_rows(since=two_hours_ago.replace(tzinfo=None)))) == 1  # naive: UTC
    assert list(store.feedback_rows(since=in_an_hour.replace(tzinfo=None))) == []
    assert len(list(store.suppression_rows(since=two_hours_ago.astimezone(timezone(timedelta(hours=-8)))))) == 1
    [stored] = list(store.feedback_rows())
    assert stored["received_at"].utcoffset() == timedelta(0)  # aware, in UTC, from every database
    assert feedback_report(store, since=two_hours_ago.replace(tzinfo=None))["overall"]["total"] == 1


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_since_holds_on_a_postgresql_server_in_another_time_zone(database, clock):
    """The service's database sessions run in America/Los_Angeles; a naive since (as the CLI passes it) is still
    UTC."""
    from datetime import timedelta

    url = make_url(database.url)
    in_los_angeles = url.update_query_dict({"options": url.query["options"] + " -ctimezone=America/Los_Angeles"})
    app = feedback_app(replace(database, url=in_los_angeles.render_as_string(hide_password=False)), clock)
    client = CheckedClient(app.test_client())
    store = store_of(app)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW timezone").scalar() == "America/Los_Angeles"
    assert override(client, card_about(open_chart(client), "diabetes"), "not-applicable").status_code == 200
    since = (datetime.now(timezone.utc) - timedelta(hours=2)).replace(tzinfo=None)
    assert len(list(store.feedback_rows(since=since))) == 1
    assert feedback_report(store, since=since)["overall"]["total"] == 1
    assert card_about(open_chart(client), "diabetes") is None


def test_the_report_asks_the_database_for_the_rows_since(client, app):
    """--since is a WHERE clause, not a scan of every row ever stored."""
    from sqlalchemy import event

    assert override(client, card_about(open_chart(client), "diabetes"), "not-applicable").status_code == 200
    store = store_of(app)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        report = feedback_report(store, since=datetime(2026, 1, 1))
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert report["overall"]["total"] == 1
    feedback_query = next(s for s in statements if "FROM feedback" in s)
    suppression_query = next(s for s in statements if "FROM card_suppression" in s)
    assert "feedback.received_at >=" in feedback_query
    assert "card_suppression.created_at >=" in suppression_query
