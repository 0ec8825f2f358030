"""The quantity features' interpreter: its short way (units.converted_value) gives what the long way gives."""
from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_adapter.features.plausibility import check_plausible
from fhir_adapter.features.quantities import _CODE_NOTES, _QUANTITY_SPECS, convert_reading, quantity_interpreter
from fhir_adapter.features.selection import Reading, Reject
from fhir_adapter.parse import Coding, ObservationRecord, Quantity

LOINC = "http://loinc.org"
_FEATURES = sorted(_QUANTITY_SPECS)


def _long_way(name: str, kind: str, reading: Reading):
    """The interpreter as it was written before its short way: convert, check plausibility, add the code notes."""
    from engine.inputs import feature_unit
    from fhir_adapter import units

    conv = convert_reading(reading, kind)
    check_plausible(name, conv, feature_unit(name) or units.CANONICAL_UNIT[kind])
    note = conv.note
    for coding in reading.codes or reading.record.codes:
        extra = _CODE_NOTES.get((coding.system, coding.code))
        if extra:
            note = f"{note}; {extra}" if note else extra
    return conv.value, note


def _outcome(interpret, reading):
    try:
        return interpret(reading)
    except Reject as rej:
        return ("rejected", rej.reason)


_codings = st.lists(st.sampled_from([Coding(LOINC, "1518-0"), Coding(LOINC, "2093-3"), Coding("http://x", "1518-0"),
                                     Coding(None, None)]), max_size=2).map(tuple)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(_FEATURES),
       value=st.none() | st.booleans() | st.integers(-10, 10**4) | st.floats() | st.just(10**400),
       unit=st.none() | st.sampled_from(["mg/dL", "mmol/L", "kg", "[lb_av]", "cm", "mm[Hg]", "%", "1", "mL/min",
                                         "mL/min/{1.73_m2}", "umol/L", "kg/m2", "/min", "Cel", "nonsense"]),
       comparator=st.none() | st.just("<"), absent=st.none() | st.just("unknown"), quantity_given=st.booleans(),
       codes=_codings, record_codes=_codings)
def test_the_interpreter_gives_what_the_long_way_gives(name, value, unit, comparator, absent, quantity_given, codes,
                                                        record_codes):
    kind = _QUANTITY_SPECS[name].quantity_kind
    quantity = Quantity(value, unit, None, unit, comparator) if quantity_given else None
    record = ObservationRecord("Observation/1", "final", record_codes, (), date(2024, 1, 2), quantity, (), (), absent,
                               "Patient/1")
    reading = Reading(record, quantity, (), absent, None, codes, "x")
    interpret = quantity_interpreter(name, kind)
    expected = _outcome(lambda r: _long_way(name, kind, r), reading)
    for _ in range(2):  # the first may meet the unit for the first time; the second finds it met
        got = _outcome(interpret, reading)
        assert got == expected
        assert [type(v) for v in got] == [type(v) for v in expected]
