"""Project configuration: targets and defaults from tunegate.yaml or [tool.tunegate]."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, SourceLocation, SuiteError
from .paths import display_path
from .providers import get_provider_factory, provider_names
from .providers.base import ProviderOptions
from .suite import GateSpec, YamlDocument, did_you_mean, load_yaml, suite_error_from

__all__ = ["ProjectConfig", "TargetSpec", "find_config", "load_config", "load_project_config"]

CONFIG_FILE = "tunegate.yaml"


class TargetSpec(BaseModel):
    """A named target: a provider plus its options. Options are checked by the provider."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    provider: str = Field(description="openai, llama-cpp, replay, python, or a plugin's name.")
    concurrency: int | None = Field(None, ge=1, description="Calls in flight at once.")
    timeout: float = Field(120.0, gt=0, description="Seconds per request before it is retried.")
    max_attempts: int = Field(5, ge=1, le=20, description="Tries per call, retries included.")

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: Any) -> Any:
        # pydantic would say "a valid dictionary or instance of TargetSpec".
        if not isinstance(data, dict):
            raise ValueError(
                "a target is a mapping of its provider and options, "
                "e.g. {provider: openai, model: gpt-4o-mini}"
            )
        return data

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StatisticsSpec(BaseModel):
    """How the paired statistics are computed; part of no cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    resamples: int = Field(
        9999, ge=199, le=1_000_000, description="Bootstrap and permutation resamples."
    )
    seed: int = Field(20240613, ge=0, description="Seed of the resampling, for repeatability.")


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    suites: list[str] = Field(default_factory=lambda: ["suites"])
    out: str = Field("reports", description="Folder for run outputs and the store.")
    store: str | None = Field(None, description="SQLite store; default <out>/tunegate.db.")
    base: str | None = None
    candidate: str | None = None
    targets: dict[str, TargetSpec] = Field(default_factory=dict)
    gate: GateSpec | None = Field(
        None, description="Default gate rules for every suite; a suite's own keys win."
    )
    statistics: StatisticsSpec = Field(default_factory=lambda: StatisticsSpec())

    @field_validator("suites", mode="before")
    @classmethod
    def _one_folder(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # `suites: checks` means one


@dataclass(frozen=True)
class LoadedConfig:
    config: ProjectConfig
    path: Path | None
    root: Path
    target_options: dict[str, ProviderOptions]
    # Source positions of the config file, for messages that say where to fix a target.
    doc: YamlDocument | None = None

    def locate_target(self, name: str, option: str | None = None) -> str:
        """Where target `name` (or one of its options) is written: `tunegate.yaml:7:5`."""
        if self.path is None:
            return "tunegate.yaml"
        if self.doc is None or not self.doc.value_marks:  # TOML gives no positions
            return display_path(self.path)
        loc = ("targets", name) + ((option,) if option else ())
        return str(self.doc.locate(loc, key=True))

    def resolve(self, relative: str) -> Path:
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.root / path

    def roles(self, base: str | None, candidate: str | None) -> tuple[str | None, str]:
        """The targets named on the command line, else the config's; a candidate is required."""
        chosen = candidate or self.config.candidate
        if not chosen:
            raise ConfigError(
                "no candidate target: pass --candidate NAME or set `candidate:` in tunegate.yaml"
            )
        return base or self.config.base, chosen

    @property
    def store_path(self) -> Path:
        store = self.config.store
        return self.resolve(store) if store else self.resolve(self.config.out) / "tunegate.db"


def find_config(start: Path) -> Path | None:
    """The nearest tunegate.yaml or [tool.tunegate], not looking above a repository's root."""
    for folder in [start.resolve(), *start.resolve().parents]:
        if (folder / CONFIG_FILE).is_file():
            return folder / CONFIG_FILE
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "tunegate" in _read_pyproject(pyproject).get("tool", {}):
            return pyproject
        if (folder / ".git").exists():
            return None
    return None


def _read_pyproject(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{display_path(path)}: invalid TOML ({exc}); fix the syntax") from None


def load_project_config(
    config: str | Path | None = None, *, start: Path | None = None
) -> LoadedConfig:
    """The given config file, or the nearest tunegate.yaml / [tool.tunegate] above `start`
    (default: the working directory), which is also the root when there is none."""
    if config is not None:
        return load_config(Path(config))
    here = start or Path.cwd()
    return load_config(find_config(here), root=here)


def load_config(path: Path | None, *, root: Path | None = None) -> LoadedConfig:
    """Load and validate; `path=None` gives the defaults with `root` as the project root."""
    if path is None:
        base = (root or Path.cwd()).resolve()
        return LoadedConfig(ProjectConfig(), None, base, {})
    if path.name == "pyproject.toml":
        data = _read_pyproject(path).get("tool", {}).get("tunegate", {})
        doc = YamlDocument(path=path, data=data)  # TOML gives no positions: file only
    else:
        try:
            doc = load_yaml(path)
        except SuiteError as exc:
            raise ConfigError(str(exc)) from None
        if doc.data is None:
            doc.data = {}
    if not isinstance(doc.data, dict):
        raise ConfigError(
            f"{SourceLocation(path, 1, 1)}: the config must be a mapping of keys such as "
            "candidate:, base: and targets:"
        )
    try:
        config = ProjectConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(str(suite_error_from(exc, doc, ProjectConfig))) from None
    options = {name: _target_options(name, spec, doc) for name, spec in config.targets.items()}
    for role in ("base", "candidate"):
        chosen = getattr(config, role)
        if chosen is not None and chosen not in config.targets:
            raise ConfigError(f"{doc.locate((role,))}: {undefined_target(role, chosen, config)}")
    return LoadedConfig(config, path, path.parent.resolve(), options, doc)


def undefined_target(role: str, name: str, config: ProjectConfig) -> str:
    """`candidate target 'y' is not defined ...`: with the defined targets and the fix."""
    defined = list(config.targets)
    if not defined:
        return f"{role} target '{name}' is not defined, and no targets are: add it under targets:"
    return (
        f"{role} target '{name}' is not defined under targets{did_you_mean(name, defined)}; "
        f"defined: {', '.join(sorted(defined))}; set {role}: to one of them, or add '{name}'"
    )


def _target_options(name: str, spec: TargetSpec, doc: YamlDocument) -> ProviderOptions:
    factory = get_provider_factory(spec.provider)
    if factory is None:
        raise ConfigError(
            f"{doc.locate(('targets', name, 'provider'))}: unknown provider '{spec.provider}'"
            f"{did_you_mean(spec.provider, provider_names())}; available: "
            f"{', '.join(provider_names())}"
        )
    try:
        return factory.options_model.model_validate(spec.options)
    except ValidationError as exc:
        err = suite_error_from(
            exc,
            doc,
            factory.options_model,
            prefix=("targets", name),
            also_allowed=list(TargetSpec.model_fields),
        )
        raise ConfigError(str(err)) from None
