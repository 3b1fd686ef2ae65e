"""Providers: a registry of factories by name; third parties add theirs by entry point."""

from __future__ import annotations

from .._registry import Registry
from .base import (
    Generation,
    GenerationRequest,
    Loglikelihood,
    LoglikelihoodRequest,
    LoglikelihoodUnsupported,
    OutputLimitOptions,
    Provider,
    ProviderContext,
    ProviderFactory,
    ProviderOptions,
    ScoresText,
    TokenLogprob,
    check_loglikelihood,
    require_loglikelihood,
    supports_loglikelihood,
)
from .llama_cpp_provider import create_llama_cpp
from .openai_provider import create_openai
from .python_provider import create_python
from .replay_provider import create_replay

__all__ = [
    "Generation",
    "GenerationRequest",
    "Loglikelihood",
    "LoglikelihoodRequest",
    "LoglikelihoodUnsupported",
    "OutputLimitOptions",
    "Provider",
    "ProviderContext",
    "ProviderFactory",
    "ProviderOptions",
    "ScoresText",
    "TokenLogprob",
    "check_loglikelihood",
    "get_provider_factory",
    "provider_names",
    "register_provider",
    "require_loglikelihood",
    "supports_loglikelihood",
]

_FACTORIES: Registry[ProviderFactory] = Registry("tunegate.providers")
for _name, _factory in (
    ("openai", create_openai),
    ("llama-cpp", create_llama_cpp),
    ("replay", create_replay),
    ("python", create_python),
):
    _FACTORIES.register(_name, _factory)  # type: ignore[arg-type]


def register_provider(name: str, factory: ProviderFactory) -> None:
    _FACTORIES.register(name, factory)


def get_provider_factory(name: str) -> ProviderFactory | None:
    return _FACTORIES.get(name)


def provider_names() -> list[str]:
    return _FACTORIES.names()
