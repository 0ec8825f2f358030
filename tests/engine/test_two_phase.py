"""Engines in two phases: scores and detectors first, then rules that read their findings (engine.runner).

The rules here exist only in this file: they are never registered, so production services cannot name them.
"""
from __future__ import annotations

import pytest

import engine.calculators  # noqa: F401 - registers the calculators
from cds_hooks import declaration
from cds_hooks.declaration import ServiceDeclarationError, check_rule_inputs
from engine.base import Engine, RuleEngine
from engine.finding import Citation, Finding, Kind, Status
from engine.inputs import FeatureSet
from engine.registry import calculators, rule
from engine.runner import run_engines
from tests.engine.builders import features

PCE_INPUTS = dict(age_years=55, sex="male", race="white", chol_total_mgdl=213, hdl_mgdl=50, sbp_mmhg=120,
                  bp_treated=False, smoker_current=False, diabetes=False)
TEST_CITATION = Citation(short="test", full="A rule that exists only in the tests.")


class QuotesPceRisk(RuleEngine):
    """Reads the PCE finding and quotes its risk; what a "statin if 10-year risk >= 7.5 %" rule will do."""

    id = "test-quotes-pce"
    version = "0"
    title = "Quotes the PCE risk"
    citation = TEST_CITATION
    reads_findings = ("pce-2013",)

    def __init__(self) -> None:
        self.seen: tuple[Finding, ...] = ()

    def evaluate(self, features: FeatureSet, findings) -> list[Finding]:
        self.seen = tuple(findings)
        pce = [f for f in self.findings_of(findings, "pce-2013") if f.computed]
        if not pce:
            return [self.finding(Status.INSUFFICIENT_DATA, message="No 10-year ASCVD risk to act on.")]
        risk = pce[0].value
        return [self.finding(Status.COMPUTED, value=f"10-year ASCVD risk {risk} % (read from {pce[0].id})")]


class FailingRule(RuleEngine):
    id = "test-failing-rule"
    version = "0"
    title = "A rule that fails"
    citation = TEST_CITATION
    reads_findings = ("pce-2013",)

    def evaluate(self, features: FeatureSet, findings) -> list[Finding]:
        raise ZeroDivisionError("patient value would be here")


class FailingScore(Engine):
    id = "test-failing-score"
    version = "0"
    title = "A score that fails"
    kind = Kind.RISK
    citation = TEST_CITATION

    def evaluate(self, features: FeatureSet) -> list[Finding]:
        raise KeyError("boom")


def pce() -> Engine:
    return calculators.get("pce-2013")


def test_a_rule_reads_the_pce_finding_instead_of_recomputing_it():
    quoting = QuotesPceRisk()
    # The rule is listed first: it still runs after the score it reads.
    findings = run_engines([quoting, pce()], features(**PCE_INPUTS))
    assert [f.engine_id for f in findings] == ["pce-2013", "test-quotes-pce"]
    pce_finding, quoted = findings
    assert pce_finding.computed
    assert quoted.computed and quoted.kind is Kind.TREATMENT
    assert f"10-year ASCVD risk {pce_finding.value} %" in quoted.value


def test_a_rule_is_given_only_the_findings_of_the_engines_it_declares():
    quoting = QuotesPceRisk()
    run_engines([calculators.get("ckd-epi-2021-cr"), pce(), quoting], features(**PCE_INPUTS, creatinine_mgdl=1.0))
    assert quoting.seen and {f.engine_id for f in quoting.seen} == {"pce-2013"}


def test_a_rule_sees_the_insufficient_finding_of_its_score_and_decides():
    findings = run_engines([pce(), QuotesPceRisk()], features(age_years=55, sex="male"))
    assert findings[0].status is Status.INSUFFICIENT_DATA
    assert findings[1].status is Status.INSUFFICIENT_DATA and "No 10-year ASCVD risk" in findings[1].message


def test_a_failing_rule_becomes_an_error_finding_and_the_score_stays(caplog):
    with caplog.at_level("ERROR", logger="engine.runner"):
        findings = run_engines([pce(), FailingRule()], features(**PCE_INPUTS))
    assert [(f.engine_id, f.status) for f in findings] == [("pce-2013", Status.COMPUTED),
                                                          ("test-failing-rule", Status.ERROR)]
    assert "could not be evaluated" in findings[1].message
    assert "patient value" not in caplog.text  # the exception type is logged, never its message


def test_a_failing_first_phase_engine_is_an_error_finding_the_rule_still_reads_the_others():
    quoting = QuotesPceRisk()
    findings = run_engines([FailingScore(), pce(), quoting], features(**PCE_INPUTS))
    assert [(f.engine_id, f.status) for f in findings] == [
        ("test-failing-score", Status.ERROR), ("pce-2013", Status.COMPUTED), ("test-quotes-pce", Status.COMPUTED)]


def test_a_rule_whose_engine_did_not_run_is_an_error_finding_not_a_crash():
    findings = run_engines([QuotesPceRisk()], features(**PCE_INPUTS))
    assert [(f.engine_id, f.status) for f in findings] == [("test-quotes-pce", Status.ERROR)]
    assert "pce-2013" in findings[0].message


def test_a_service_must_declare_the_engines_its_rules_read():
    check_rule_inputs("ok", [pce(), QuotesPceRisk()])
    with pytest.raises(ServiceDeclarationError, match="'pce-2013'.*not declare"):
        check_rule_inputs("statin-advice", [QuotesPceRisk()])


def test_a_rule_cannot_read_another_rule():
    class ReadsRule(QuotesPceRisk):
        id = "test-reads-rule"
        reads_findings = ("test-quotes-pce",)

    with pytest.raises(ServiceDeclarationError, match="reads rule"):
        check_rule_inputs("s", [pce(), QuotesPceRisk(), ReadsRule()])


def test_the_service_decorator_refuses_a_rule_without_its_score_at_declaration_time(monkeypatch):
    engines = {"pce-2013": pce(), "test-quotes-pce": QuotesPceRisk()}
    monkeypatch.setattr(declaration, "find_engine", engines.__getitem__)
    with pytest.raises(ServiceDeclarationError, match="add 'pce-2013' to its engines"):
        declaration.service(id="test-statin-advice", hook="patient-view", title="t", description="d",
                            prefetch={}, engines=("test-quotes-pce",))
    assert declaration.SERVICES.get("test-statin-advice") is None


def test_only_rule_engines_register_as_rules():
    with pytest.raises(TypeError, match="not a RuleEngine"):
        rule(FailingScore)
