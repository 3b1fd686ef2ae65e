"""Build configured targets (providers plus their limits) by name, or only check them."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from ..config import LoadedConfig
from ..errors import ConfigError, TunegateError
from ..paths import display_path
from ..providers import Provider, ProviderContext, get_provider_factory
from ..providers.packaged_models import assembly_deferred
from ..redact import Redactor
from ..suite import did_you_mean
from .retry import RetryPolicy
from .runner import RunnerTarget, cannot_score

__all__ = ["TargetCheck", "build_target", "check_targets"]

# A message that starts with a file (`recorded/cand.jsonl:2: ...`) already says where.
_LOCATED = re.compile(r"^[^\s:]*[./][^\s:]*(?::\d+){0,2}: ")


def build_target(name: str, loaded: LoadedConfig, redactor: Redactor) -> RunnerTarget:
    spec = loaded.config.targets.get(name)
    if spec is None:
        targets = loaded.config.targets
        where = display_path(loaded.path) if loaded.path else "tunegate.yaml"
        known = ", ".join(sorted(targets)) or "none"
        raise ConfigError(
            f"no target named '{name}'{did_you_mean(name, list(targets))}; "
            f"targets defined in {where}: {known}"
        )
    provider, secrets = _construct(name, loaded)
    for secret in secrets:
        redactor.add(secret)
    return RunnerTarget(
        name=name,
        provider=provider,
        concurrency=spec.concurrency or provider.default_concurrency,
        timeout=spec.timeout,
        retry=RetryPolicy(max_attempts=spec.max_attempts),
    )


@dataclass(frozen=True)
class TargetCheck:
    name: str
    provider: str
    problem: str | None  # one line saying where and what to fix; None when the target is usable
    # Why the target cannot score text by log-likelihood (pair cases); None when it can.
    cannot_score: str | None = None
    # What the user should know though it does not stop a run (validate warns).
    notes: tuple[str, ...] = ()


def check_targets(loaded: LoadedConfig) -> list[TargetCheck]:
    """Construct every configured target as a run would (files, keys, packages, imports),
    without calling a model, loading one or assembling a packaged one."""
    checks: list[TargetCheck] = []
    built: list[Provider] = []
    for name, spec in loaded.config.targets.items():
        notes: list[str] = []
        try:
            with assembly_deferred():
                provider, _ = _construct(name, loaded, notes)
        except TunegateError as exc:
            checks.append(TargetCheck(name, spec.provider, str(exc)))
            continue
        built.append(provider)
        unable = cannot_score(provider)
        checks.append(TargetCheck(name, spec.provider, None, unable, tuple(notes)))
    if built:
        asyncio.run(_close(built))
    return checks


async def _close(providers: list[Provider]) -> None:
    for provider in providers:
        await provider.aclose()


def _construct(
    name: str, loaded: LoadedConfig, notes: list[str] | None = None
) -> tuple[Provider, set[str]]:
    spec = loaded.config.targets[name]
    factory = get_provider_factory(spec.provider)
    assert factory is not None  # load_config checked it
    locations = {"": loaded.locate_target(name)}
    locations.update({key: loaded.locate_target(name, key) for key in spec.options})
    context = ProviderContext(
        target=name,
        config_dir=loaded.root,
        locations=locations,
        timeout=spec.timeout,
        notes=[] if notes is None else notes,
    )
    try:
        provider = factory(loaded.target_options[name], context)
    except ConfigError as exc:
        raise ConfigError(_located(str(exc), context)) from None
    return provider, context.secrets


def _located(message: str, context: ProviderContext) -> str:
    """Start a factory's message with where the target is configured, unless it says where."""
    own = f"target '{context.target}'"
    if message.startswith(own):
        return f"{context.where()}{message[len(own) :]}"
    if _LOCATED.match(message):
        return message
    return f"{context.where()}: {message}"
