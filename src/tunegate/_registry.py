"""A name -> object registry that also loads third-party entries from an entry-point group."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, group: str, adapt: Callable[[Any], T] | None = None) -> None:
        self.group = group
        self._adapt = adapt
        self._items: dict[str, T] = {}
        self._entry_points_loaded = False

    def register(self, name: str, item: T) -> T:
        """Add `item`; a later registration under the same name replaces the earlier one."""
        self._items[name] = item
        return item

    def _load_entry_points(self) -> None:
        # Entry points load on first need, so importing tunegate imports no plugin.
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            loaded = ep.load()
            self._items.setdefault(ep.name, self._adapt(loaded) if self._adapt else loaded)

    def get(self, name: str) -> T | None:
        if name not in self._items:
            self._load_entry_points()
        return self._items.get(name)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)
