"""A target for a fresh adapter: the project's base target with `adapter_path` set.

Used by the training callback and `tunegate watch`, which gate adapters that did not exist
when tunegate.yaml was written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..config import LoadedConfig, TargetSpec
from ..errors import ConfigError
from ..providers import get_provider_factory
from ..suite import YamlDocument, did_you_mean, suite_error_from

__all__ = ["require_target", "with_adapter_target", "with_target"]


def require_target(loaded: LoadedConfig, name: str | None, option: str, hint: str = "") -> None:
    """Stop now, naming `option`, when `name` is given but is no target of the config."""
    targets = loaded.config.targets
    if name is not None and name not in targets:
        known = ", ".join(sorted(targets)) or "none"
        raise ConfigError(f"{option} '{name}' is not a target; {hint}defined: {known}")


def with_target(
    loaded: LoadedConfig, name: str, spec: dict[str, Any], doc: YamlDocument | None = None
) -> LoadedConfig:
    """`loaded` plus (or with a replaced) target `name`, its options checked by its provider.
    `doc`: the file `spec` came from (a `*.target.yaml`), for errors at file:line that, like
    tunegate.yaml's, never echo a value that may be a secret."""
    from ..providers import provider_names

    where = doc or YamlDocument(path=Path(f"target '{name}'"), data=spec)
    try:
        target = TargetSpec.model_validate(spec)
    except ValidationError as exc:
        raise ConfigError(str(suite_error_from(exc, where, TargetSpec))) from None
    factory = get_provider_factory(target.provider)
    if factory is None:
        raise ConfigError(
            f"{where.locate(('provider',))}: unknown provider '{target.provider}'"
            f"{did_you_mean(target.provider, provider_names())}; available: "
            f"{', '.join(provider_names())}"
        )
    try:
        options = factory.options_model.model_validate(target.options)
    except ValidationError as exc:
        err = suite_error_from(
            exc, where, factory.options_model, also_allowed=list(TargetSpec.model_fields)
        )
        raise ConfigError(str(err)) from None
    config = loaded.config.model_copy(update={"targets": {**loaded.config.targets, name: target}})
    return dataclasses.replace(
        loaded, config=config, target_options={**loaded.target_options, name: options}
    )


def with_adapter_target(
    loaded: LoadedConfig, *, template: str, name: str, adapter: Path
) -> LoadedConfig:
    """Target `name`: target `template` (a llama-cpp target) serving `adapter`."""
    targets = loaded.config.targets
    if template not in targets:
        known = ", ".join(sorted(targets)) or "none"
        raise ConfigError(f"no target named '{template}' to serve adapters with; defined: {known}")
    spec = targets[template].model_dump(exclude_none=True)
    spec.update(targets[template].options)
    if spec.get("provider") != "llama-cpp":
        raise ConfigError(
            f"target '{template}' uses provider '{spec.get('provider')}'; serving a LoRA adapter "
            "needs a llama-cpp target (model_path or model_package)"
        )
    spec["adapter_path"] = str(adapter.resolve())
    return with_target(loaded, name, spec)
