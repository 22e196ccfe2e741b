"""What the architecture, metric and classifier registries share: one instance per registered class, looked up
by name, and packages whose modules register themselves when imported."""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, noun: str, unknown_error: type[Exception] = KeyError) -> None:
        self.noun, self.unknown_error = noun, unknown_error
        self._items: dict[str, T] = {}

    def add(self, cls: type[T]) -> type[T]:
        """Class decorator: registers an instance under cls.name."""
        name = cls.name  # type: ignore[attr-defined]
        existing = self._items.get(name)
        # Same qualified name is allowed so that reloading a module does not fail.
        if existing is not None and (type(existing).__module__, type(existing).__qualname__) != (
                cls.__module__, cls.__qualname__):
            raise ValueError(f"{self.noun} {name!r} is already registered by {type(existing).__qualname__}")
        self._items[name] = cls()
        return cls

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise self.unknown_error(f"unknown {self.noun} {name!r}; known: {self.names()}") from None

    def names(self) -> list[str]:
        return sorted(self._items)


def import_submodules(package: str, path: Iterable[str]) -> None:
    """Import every module of a package (its __name__ and __path__), so that each registers itself."""
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")
