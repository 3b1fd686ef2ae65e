"""Providers: a registry of factories by name; third parties add theirs by entry point."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from .base import (
    Generation,
    GenerationRequest,
    Provider,
    ProviderContext,
    ProviderFactory,
    ProviderOptions,
    TokenLogprob,
)
from .llama_cpp_provider import create_llama_cpp
from .openai_provider import create_openai
from .python_provider import create_python
from .replay_provider import create_replay

__all__ = [
    "Generation",
    "GenerationRequest",
    "Provider",
    "ProviderContext",
    "ProviderFactory",
    "ProviderOptions",
    "TokenLogprob",
    "get_provider_factory",
    "provider_names",
    "register_provider",
]

ENTRY_POINT_GROUP = "tunegate.providers"
_FACTORIES: dict[str, Any] = {
    "openai": create_openai,
    "llama-cpp": create_llama_cpp,
    "replay": create_replay,
    "python": create_python,
}
_entry_points_loaded = False


def register_provider(name: str, factory: ProviderFactory) -> None:
    _FACTORIES[name] = factory


def _load_entry_points() -> None:
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _FACTORIES.setdefault(ep.name, ep.load())


def get_provider_factory(name: str) -> ProviderFactory | None:
    if name not in _FACTORIES:
        _load_entry_points()
    return _FACTORIES.get(name)


def provider_names() -> list[str]:
    _load_entry_points()
    return sorted(_FACTORIES)
