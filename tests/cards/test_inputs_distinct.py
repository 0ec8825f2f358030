"""``inputs_line`` leaves out repeated inputs exactly as by their text f"{name}|{value}|{effective}"."""
from datetime import date, datetime, timezone

from cards.markdown import _distinct
from engine.finding import Evidence


def _by_text(inputs):
    seen, out = set(), []
    for ev in inputs:
        key = f"{ev.name}|{ev.value}|{ev.effective}"
        if key not in seen:
            seen.add(key)
            out.append(ev)
    return out


def test_distinct_as_by_text():
    day = date(2026, 3, 2)
    when = datetime(2026, 3, 2, tzinfo=timezone.utc)
    inputs = [Evidence("sbp_mmhg", "SBP", 120.0, "mmHg", when), Evidence("sbp_mmhg", "SBP", 120.0, "mmHg", when),
              Evidence("sbp_mmhg", "SBP", 120, "mmHg", when), Evidence("sbp_mmhg", "Other", 120.0, None, when),
              Evidence("sbp_mmhg", "SBP", 120.0, "mmHg", day), Evidence("age_years", "Age", 55),
              Evidence("diabetes", "Diabetes", True), Evidence("diabetes", "Diabetes", 1), Evidence("age_years", "Age", 55)]
    assert _distinct(inputs) == _by_text(inputs)
    assert [id(e) for e in _distinct(inputs)] == [id(e) for e in _by_text(inputs)]


def test_names_with_the_separator():
    inputs = [Evidence("a|b", "x", "c"), Evidence("a", "x", "b|c"), Evidence("a", "x", "b|c")]
    assert [id(e) for e in _distinct(inputs)] == [id(e) for e in _by_text(inputs)]
    assert len(_distinct(inputs)) == 1
