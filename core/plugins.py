"""One generic registry for everything chosen by name: model kinds, engines, trainers, suites,
judges (lm-evaluation-harness's ``Registry`` with lazy ``module:attr`` targets).

A target is imported on first use, so listing names (``bench models``, validation) never imports
torch; an unknown name is a one-line ``BadInput`` naming the known ones. ``register`` is the
extension point for code outside this repository (a plugin module adds its own entries).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Generic, Iterator, TypeVar, Union

from .errors import BadInput

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str, targets: dict[str, Union[str, T]]):
        self.what = what  # "model kind", "suite", ... (for messages)
        self._targets: dict[str, Union[str, T]] = dict(targets)
        self._loaded: dict[str, T] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def names(self) -> list[str]:
        return list(self._targets)

    def get(self, name: str) -> T:
        if name not in self._targets:
            raise BadInput(f"unknown {self.what} '{name}' (known: {', '.join(self._targets)})")
        if name not in self._loaded:
            target = self._targets[name]
            self._loaded[name] = _load(target) if isinstance(target, str) else target
        return self._loaded[name]

    def register(self, name: str, target: Union[str, T, None] = None) -> Any:
        """Add ``name``: ``register("x", "pkg.mod:Attr")``, ``register("x", obj)`` or, as a
        decorator, ``@registry.register("x")``. A name is registered once."""
        if name in self._targets:
            raise BadInput(f"{self.what} '{name}' is already registered")
        if target is None:
            def deco(obj: Callable) -> Callable:
                self._targets[name] = obj
                return obj
            return deco
        self._targets[name] = target
        return target


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj
