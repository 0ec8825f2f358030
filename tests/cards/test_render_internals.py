"""The renderer's hot-path helpers agree with the plain definitions they replace: pruning and card uuids."""
from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from cards import render

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.sampled_from(["", "x", "0", " "]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from("abcde"), children, max_size=4),
    max_leaves=30)


def plain_prune(value):
    """The definition: drop None, '', [] and {} recursively (a container emptied by pruning goes too)."""
    if isinstance(value, dict):
        pruned = {k: plain_prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        pruned = [plain_prune(v) for v in value]
        return [v for v in pruned if v not in (None, "", [], {})]
    return value


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_prune_is_the_plain_definition(value):
    pruned = render._prune(value)
    assert pruned == plain_prune(value)
    assert type(pruned) is type(plain_prune(value))


def test_prune_keeps_falsy_scalars_that_are_not_empty():
    card = {"a": 0, "b": False, "c": 0.0, "d": [None, "", [], {}, [[]], {"x": {}}], "e": {"f": None}, "g": "0"}
    assert render._prune(card) == {"a": 0, "b": False, "c": 0.0, "g": "0"}


class _Text(str):
    pass


class _Mapping(dict):
    pass


class _Items(list):
    pass


def test_prune_treats_subclasses_as_their_base_types():
    # The walk tests exact types in line and hands anything else to _pruned_value: the same answer either way.
    card = {"a": _Text(""), "b": _Text("x"), "c": _Mapping(), "d": _Mapping(e=_Items([None, _Text("")])),
            "f": _Items([_Mapping(g=1), _Items(), _Text("y")]), "h": ["", _Mapping(i=_Text("z"))]}
    pruned = render._prune(card)
    assert pruned == plain_prune(card) == {"b": "x", "f": [{"g": 1}, "y"], "h": [{"i": "z"}]}
    assert type(pruned["f"]) is list and type(pruned["f"][0]) is dict and type(pruned["h"][0]) is dict


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_card_uuids_are_uuid5_of_the_call_and_the_name(namespace, name):
    base = uuid.uuid5(render._NAMESPACE, namespace) if namespace else render._NAMESPACE
    assert render._uuid(namespace, name) == str(uuid.uuid5(base, name))


def test_topic_slugs_are_kept_in_a_bounded_cache():
    assert render._slug.cache_info().maxsize is not None
    for topic in ("Cardiovascular risk assessment (primary prevention)", "Ünïcode — topic", ""):
        assert render._slug(topic) == render._slug.__wrapped__(topic)
