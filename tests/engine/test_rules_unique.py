"""``engine.rules.common.unique``: the same object, else an equal one, is kept once, in order."""
from engine.finding import Evidence
from engine.rules.common import unique


def _as_a_loop(items):
    out = []
    for ev in items:
        if ev is not None and ev not in out:
            out.append(ev)
    return out


def test_unique_as_a_loop():
    a = Evidence("age_years", "Age", 55)
    items = [a, None, Evidence("age_years", "Age", 55), Evidence("age_years", "Age", 56), a,
             Evidence("statin", "On statin", False), Evidence("statin", "On statin", 0), Evidence("x", "X", float("nan"))]
    items.append(items[-1])
    assert [id(e) for e in unique(items)] == [id(e) for e in _as_a_loop(items)]
    assert [id(e) for e in unique(iter(items))] == [id(e) for e in _as_a_loop(items)]


def test_other_objects_compared_as_before():
    class Same:
        def __eq__(self, other):
            return True

    items = [Evidence("a", "A", 1), Same(), Evidence("b", "B", 2)]
    assert unique(items) == _as_a_loop(items)
