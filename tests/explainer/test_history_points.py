"""The explainer's history points: the short way for the usual values gives what _plain and _iso give."""
from __future__ import annotations

from datetime import date, timedelta, timezone
from decimal import Decimal
from enum import Enum

from hypothesis import given
from hypothesis import strategies as st

from cds_hooks.explainer.evidence import _history_point, _iso, _plain
from engine.finding import Evidence


class _Flag(int, Enum):
    ON = 1


class _Day(date):
    pass


_values = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3) | st.just(_Flag.ON)
           | st.just(Decimal("1.5")) | st.just(date(2024, 1, 2)) | st.just([1]))
_moments = (st.none() | st.dates() | st.datetimes() | st.datetimes(timezones=st.just(timezone(timedelta(hours=-5))))
            | st.just(_Day(2024, 1, 2)) | st.just("2024-01-02") | st.just(5))


@given(value=_values, effective=_moments, unit=st.none() | st.just("mg/dL"), source=st.none() | st.just("Obs/1"))
def test_a_history_point_is_the_plain_value_and_iso_date(value, effective, unit, source):
    point = Evidence("x", "X", value, unit, effective, source)
    assert _history_point(point) == [_plain(value), unit, _iso(effective), source]
    assert [type(v) for v in _history_point(point)] == [type(_plain(value)), type(unit), type(_iso(effective)),
                                                         type(source)]
