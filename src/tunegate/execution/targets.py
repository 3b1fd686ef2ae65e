"""Build configured targets (providers plus their limits) by name."""

from __future__ import annotations

from ..config import LoadedConfig
from ..errors import ConfigError
from ..paths import display_path
from ..providers import ProviderContext, get_provider_factory
from ..redact import Redactor
from ..suite import did_you_mean
from .retry import RetryPolicy
from .runner import RunnerTarget

__all__ = ["build_target"]


def build_target(name: str, loaded: LoadedConfig, redactor: Redactor) -> RunnerTarget:
    targets = loaded.config.targets
    if name not in targets:
        where = display_path(loaded.path) if loaded.path else "tunegate.yaml"
        known = ", ".join(sorted(targets)) or "none"
        raise ConfigError(
            f"no target named '{name}'{did_you_mean(name, list(targets))}; "
            f"targets defined in {where}: {known}"
        )
    spec = targets[name]
    factory = get_provider_factory(spec.provider)
    assert factory is not None  # load_config checked it
    context = ProviderContext(target=name, config_dir=loaded.root)
    provider = factory(loaded.target_options[name], context)
    for secret in context.secrets:
        redactor.add(secret)
    return RunnerTarget(
        name=name,
        provider=provider,
        concurrency=spec.concurrency or provider.default_concurrency,
        timeout=spec.timeout,
        retry=RetryPolicy(max_attempts=spec.max_attempts),
    )
