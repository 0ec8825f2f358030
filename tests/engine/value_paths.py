"""Shared by the tests that hold a calculator's value-only path to its full explanation: what a call gives (its value,
or the type and text of the error it raises), and numbers of every awkward kind to call it with."""
from __future__ import annotations

import math

from hypothesis import strategies as st


def call_outcome(call):
    try:
        return call()
    except (ValueError, TypeError, ArithmeticError) as exc:
        return type(exc), str(exc)


NUMBERS = (st.floats(min_value=-10, max_value=400) | st.sampled_from([math.nan, math.inf, 0.0, True])
           | st.integers(min_value=-5, max_value=400) | st.none())
