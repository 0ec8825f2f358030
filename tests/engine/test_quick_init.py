"""quick_init (engine/quick_init.py): the faster ``__init__`` builds the same frozen instances as the dataclass's."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date

import pytest

from engine.finding import Evidence, InputProblem, MissingInput
from engine.quick_init import quick_init
from fhir_adapter.features.selection import Reading
from fhir_adapter.parse import records
from fhir_adapter.units import Converted

QUICK_CLASSES = [Evidence, InputProblem, MissingInput, Reading, Converted,
                 *(cls for cls in vars(records).values()
                   if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == records.__name__)]


def dataclass_init(cls):
    """A class of the same fields with the ``__init__`` dataclasses generates."""
    specs = []
    for f in dataclasses.fields(cls):
        kwargs = {"compare": f.compare, "repr": f.repr}
        if f.default is not dataclasses.MISSING:
            kwargs["default"] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            kwargs["default_factory"] = f.default_factory
        specs.append((f.name, f.type, field(**kwargs)))
    return dataclasses.make_dataclass(cls.__name__, specs, frozen=True)


def sample_values(cls, required_only: bool):
    values = {}
    for i, f in enumerate(dataclasses.fields(cls)):
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        if required_only and has_default:
            continue
        values[f.name] = (f"value {i}",)  # any hashable value will do: the fields are not type-checked
    return values


@pytest.mark.parametrize("cls", QUICK_CLASSES, ids=lambda c: c.__name__)
def test_quick_instances_equal_the_dataclass_ones(cls):
    plain = dataclass_init(cls)
    for required_only in (True, False):
        values = sample_values(cls, required_only)
        quick, slow = cls(**values), plain(**values)
        assert vars(quick) == vars(slow)  # same fields, same values, defaults and factories applied
        assert list(vars(quick)) == [f.name for f in dataclasses.fields(cls)]
        assert quick == cls(**values) and hash(quick) == hash(cls(**values))
        assert repr(quick).replace(cls.__qualname__, cls.__name__) == repr(slow)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(quick, dataclasses.fields(cls)[0].name, "changed")
    positional = list(sample_values(cls, False).values())
    assert vars(cls(*positional)) == vars(plain(*positional))


def test_default_factories_give_a_new_object_each_time():
    @quick_init
    @dataclass(frozen=True)
    class Holder:
        name: str
        items: dict = field(default_factory=dict)
        when: date | None = None

    a, b = Holder("a"), Holder("b")
    assert a.items == {} and a.items is not b.items and a.when is None
    assert Holder("a", {"x": 1}, date(2020, 1, 1)) == Holder(name="a", items={"x": 1}, when=date(2020, 1, 1))
    with pytest.raises(TypeError):
        Holder()  # a required field is still required
    with pytest.raises(TypeError):
        Holder("a", unknown=1)
    assert dataclasses.replace(a, name="c") == Holder("c")


def test_refuses_what_it_cannot_copy():
    @dataclass(frozen=True)
    class WithPostInit:
        x: int

        def __post_init__(self):
            pass

    @dataclass(frozen=True)
    class WithKeywordOnly:
        x: int = field(kw_only=True)

    for cls in (WithPostInit, WithKeywordOnly):
        with pytest.raises(TypeError):
            quick_init(cls)
