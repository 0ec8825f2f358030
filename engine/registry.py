"""Registries: an engine is declared once with a decorator and found everywhere from there."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class DuplicateEngineError(ValueError):
    pass


class Registry(Generic[T]):
    """An ordered id → engine map filled by the ``register`` decorator at import time."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, engine_cls: type[T]) -> type[T]:
        engine = engine_cls()
        engine_id = engine.id
        if engine_id in self._items:
            raise DuplicateEngineError(f"{self.kind} {engine_id!r} is declared twice")
        self._items[engine_id] = engine
        return engine_cls

    def get(self, engine_id: str) -> T:
        try:
            return self._items[engine_id]
        except KeyError:
            raise KeyError(f"no {self.kind} with id {engine_id!r}; known: {sorted(self._items)}") from None

    def ids(self) -> list[str]:
        return list(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def __contains__(self, engine_id: object) -> bool:
        return engine_id in self._items

    def __len__(self) -> int:
        return len(self._items)


calculators: Registry = Registry("calculator")
detectors: Registry = Registry("detector")
rules: Registry = Registry("rule")
models: Registry = Registry("model")

calculator: Callable = calculators.register
detector: Callable = detectors.register


def rule(engine_cls):
    """Register a second-phase engine: it must be an ``engine.base.RuleEngine`` (it reads other engines' findings)."""
    from engine.base import RuleEngine

    if not (isinstance(engine_cls, type) and issubclass(engine_cls, RuleEngine)):
        name = getattr(engine_cls, "__name__", engine_cls)
        raise TypeError(f"{name!r} is registered as a rule but is not a RuleEngine")
    return rules.register(engine_cls)


model: Callable = models.register

# Order-time checks (order-select / order-sign): engines that read the drafted orders (FeatureSet.draft_orders).
order_checks: Registry = Registry("order check")
order_check: Callable = order_checks.register
