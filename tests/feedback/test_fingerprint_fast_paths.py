"""The fingerprint's shortcuts agree with the rule they stand for: inputs sorted by their JSON text, each form made
afresh for every card."""
import json
from datetime import datetime, timezone

from cds_hooks.suppression import identity
from engine.finding import Citation, Evidence, Finding, Kind, Status

WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
NAMES = ["age_years", "age", "ag", "a_b", "sbp_mmhg", "Sbp", "hdl_mgdl", "medication:warfarin", "a b", "Z", "_x",
         "x1", "x", "é"]


def _finding(fid, inputs):
    return Finding(id=fid, engine_id="e", engine_version="1", kind=Kind.RISK, status=Status.COMPUTED, title="t",
                   citation=Citation("s", "f"), inputs=tuple(inputs))


def _evidence(name, value=1.0, source="Observation/1"):
    return Evidence(name, name, value, None, WHEN, source)


def _by_json(inputs):
    return sorted((identity._input(e, {}) for e in inputs), key=json.dumps)


def test_sorted_by_name_as_by_json_text():
    for start in range(len(NAMES)):
        inputs = [_evidence(n) for n in NAMES[start:] + NAMES[:start]]
        assert identity._sorted_inputs(inputs, {}) == _by_json(inputs)
        plain = [e for e in inputs if e.name.isascii() and e.name.isidentifier()]
        assert identity._sorted_inputs(plain, {}) == _by_json(plain)


def test_repeated_names_sorted_by_json_text():
    inputs = [_evidence("sbp_mmhg", 130.0, "Observation/2"), _evidence("sbp_mmhg", 120.0), _evidence("age_years")]
    assert identity._sorted_inputs(inputs, {}) == _by_json(inputs)


def test_shared_material_gives_the_same_fingerprint():
    shared = [_evidence("age_years", 55, "Patient/p"), _evidence("sbp_mmhg"), _evidence("hdl_mgdl", 50.0)]
    first = [_finding("a", shared[:2]), _finding("b", shared)]
    second = [_finding("c", shared[1:] + [_evidence("chol_total_mgdl", 213.0)])]
    material: dict = {}
    assert identity.fingerprint(first, material) == identity.fingerprint(first)
    assert identity.fingerprint(second, material) == identity.fingerprint(second)
