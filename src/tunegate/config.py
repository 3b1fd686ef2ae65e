"""Project configuration: targets and defaults from tunegate.yaml or [tool.tunegate]."""

from __future__ import annotations

import json
import re
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
from .suite.files import read_suite_file

__all__ = [
    "ProjectConfig",
    "TargetSpec",
    "find_config",
    "load_config",
    "load_project_config",
    "toml_marks",
]

CONFIG_FILE = "tunegate.yaml"


class TargetSpec(BaseModel):
    """A named target: a provider plus its options. Options are checked by the provider."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False, strict=True)

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

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)

    resamples: int = Field(
        9999, ge=199, le=1_000_000, description="Bootstrap and permutation resamples."
    )
    seed: int = Field(20240613, ge=0, description="Seed of the resampling, for repeatability.")


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)

    suites: list[str] = Field(default_factory=lambda: ["suites"])
    out: str = Field("reports", description="Folder for run outputs and the store.")
    store: str | None = Field(None, description="SQLite store; default <out>/tunegate.db.")
    base: str | None = None
    candidate: str | None = None
    judge: str | None = Field(
        None, description="The target that scores judged checks (override: --judge NAME)."
    )
    targets: dict[str, TargetSpec] = Field(default_factory=dict)
    gate: GateSpec | None = Field(
        None, description="Default gate rules for every suite; a suite's own keys win."
    )
    statistics: StatisticsSpec = Field(default_factory=lambda: StatisticsSpec())
    contamination: str | None = Field(
        None,
        description="A file `tunegate contamination --write` made: its cases are tagged "
        "`contaminated` and left out of the verdict.",
    )

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
        if self.doc is None or not self.doc.value_marks:  # no key found in the file
            return display_path(self.path)
        loc = ("targets", name) + ((option,) if option else ())
        return str(self.doc.locate(loc, key=True))

    def locate(self, loc: tuple[str | int, ...]) -> str:
        """Where a key of the config file is written: `tunegate.yaml:3:7`."""
        if self.path is None:
            return "tunegate.yaml"
        if self.doc is None or not self.doc.value_marks:
            return display_path(self.path)
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

    def judge(self, named: str | None, option: str = "--judge") -> str | None:
        """The judge named on the command line, else the config's; None: judged checks are
        skipped. A name no target has is an error before any call."""
        chosen = named or self.config.judge
        if chosen is not None and chosen not in self.config.targets:
            raise ConfigError(f"{option}: {undefined_target('judge', chosen, self.config)}")
        return chosen

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
    data: dict[str, Any] = _parse_toml(_pyproject_text(path), path)
    return data


def _pyproject_text(path: Path) -> str:
    # Bounded, and never blocking on a FIFO: the same reader as suites and tunegate.yaml.
    try:
        raw = read_suite_file(path)
    except SuiteError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{display_path(path)}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
            "save the file as UTF-8"
        ) from None


def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says where only inside its message: "... (at line 3, column 5)".
        at = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = SourceLocation(path, int(at[1]), int(at[2])) if at else SourceLocation(path)
        reason = str(exc).replace(at[0], "").strip() if at else str(exc)
        raise ConfigError(f"{where}: invalid TOML ({reason}); fix the syntax") from None


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
        text = _pyproject_text(path)
        data = _parse_toml(text, path).get("tool", {}).get("tunegate", {})
        # tomllib gives no positions; a line search finds each key of [tool.tunegate].
        doc = YamlDocument(path=path, data=data)
        doc.key_marks, doc.value_marks = toml_marks(text, ("tool", "tunegate"))
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
    for role in ("base", "candidate", "judge"):
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


# Positions in TOML --------------------------------------------------------------------
# tomllib gives none, so errors in [tool.tunegate] would all point at line 1. This is a
# line search, not a parser: it finds table headers and `key = value` lines (dotted keys,
# quoted keys, one-line inline tables) under a prefix, and skips multi-line strings. A key
# it misses falls back to its parent's position, as in YAML.

Marks = dict[tuple[str | int, ...], tuple[int, int]]
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_marks(text: str, prefix: tuple[str, ...]) -> tuple[Marks, Marks]:
    """(key positions, value positions) of every key under `prefix`, relative to it,
    1-based as editors show them; `()` is the prefix's own table."""
    keys: Marks = {}
    values: Marks = {}
    table: tuple[str, ...] = ()
    in_string: str | None = None
    for number, line in enumerate(text.split("\n"), 1):  # TOML's lines, as tomllib counts
        if in_string is not None:  # inside a multi-line string: its lines are no keys
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        start = len(line) - len(line.lstrip())
        if line.startswith("[", start):
            header = _table_header(line, start)
            if header is not None:
                table = header[0]
                _mark(table, header[1], number, prefix, keys, values)
            continue
        pair = _dotted_key(line, start)
        if pair is None or not line.startswith("=", pair[2]):
            continue
        value_at = _skip_blanks(line, pair[2] + 1)
        path = table + tuple(k for k, _ in pair[0])
        _mark(path, [c for _, c in pair[0]], number, prefix, keys, values, value_at)
        if line.startswith("{", value_at):
            _inline_table(line, value_at, path, number, prefix, keys, values)
        in_string = _opens_multiline_string(line[value_at:])
    return keys, values


def _mark(
    path: tuple[str, ...],
    columns: list[int],
    line: int,
    prefix: tuple[str, ...],
    keys: Marks,
    values: Marks,
    value_at: int | None = None,
) -> None:
    """Mark `path` and each of its parents that lie under `prefix`."""
    if path[: len(prefix)] != prefix:
        return
    first = len(path) - len(columns)  # columns cover the last len(columns) parts of path
    for depth in range(len(prefix), len(path) + 1):
        relative = path[len(prefix) : depth]
        column = columns[max(depth - 1 - first, 0)] + 1 if columns else 1
        keys.setdefault(relative, (line, column))
        values.setdefault(relative, (line, column))
    if value_at is not None:
        values[path[len(prefix) :]] = (line, value_at + 1)


def _table_header(line: str, start: int) -> tuple[tuple[str, ...], list[int]] | None:
    opening = 2 if line.startswith("[[", start) else 1
    parsed = _dotted_key(line, start + opening)
    if parsed is None or not line.startswith("]" * opening, parsed[2]):
        return None
    return tuple(k for k, _ in parsed[0]), [c for _, c in parsed[0]]


def _dotted_key(line: str, start: int) -> tuple[list[tuple[str, int]], int, int] | None:
    """`a."b c".d` at `start`: the parts with their columns (0-based), and where it ends."""
    parts: list[tuple[str, int]] = []
    i = _skip_blanks(line, start)
    while True:
        column = i
        if line.startswith(('"', "'"), i):
            close = line.find(line[i], i + 1)
            if close < 0:
                return None
            part = _unquote(line[i : close + 1])
            i = close + 1
        else:
            bare = _BARE_KEY.match(line, i)
            if bare is None:
                return None
            part, i = bare.group(), bare.end()
        parts.append((part, column))
        i = _skip_blanks(line, i)
        if not line.startswith(".", i):
            return parts, column, i
        i = _skip_blanks(line, i + 1)


def _inline_table(
    line: str,
    i: int,
    table: tuple[str, ...],
    number: int,
    prefix: tuple[str, ...],
    keys: Marks,
    values: Marks,
) -> int:
    """Mark the keys of the inline table opening at line[i]; where it ends."""
    i += 1
    while i < len(line):
        i = _skip_blanks(line, i)
        if line.startswith("}", i):
            return i + 1
        if line.startswith(",", i):
            i += 1
            continue
        pair = _dotted_key(line, i)
        if pair is None or not line.startswith("=", pair[2]):
            return len(line)
        path = table + tuple(k for k, _ in pair[0])
        value_at = _skip_blanks(line, pair[2] + 1)
        _mark(path, [c for _, c in pair[0]], number, prefix, keys, values, value_at)
        if line.startswith("{", value_at):
            i = _inline_table(line, value_at, path, number, prefix, keys, values)
        else:
            i = _skip_value(line, value_at)
    return i


def _skip_value(line: str, i: int) -> int:
    """The end of the value starting at line[i] inside an inline table."""
    depth = 0
    while i < len(line):
        char = line[i]
        if char in "\"'":
            close = line.find(char, i + 1)
            while char == '"' and close > 0 and line[close - 1] == "\\":
                close = line.find(char, close + 1)
            i = len(line) if close < 0 else close + 1
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            if depth == 0:
                return i
            depth -= 1
        elif char == "," and depth == 0:
            return i
        i += 1
    return i


def _opens_multiline_string(value: str) -> str | None:
    for quotes in ('"""', "'''"):
        if value.startswith(quotes) and value.count(quotes) % 2 == 1:
            return quotes
    return None


def _skip_blanks(line: str, i: int) -> int:
    while i < len(line) and line[i] in " \t":
        i += 1
    return i


def _unquote(quoted: str) -> str:
    if quoted.startswith("'"):
        return quoted[1:-1]
    try:
        value = json.loads(quoted)  # TOML basic strings escape as JSON strings do
    except ValueError:
        return quoted[1:-1]
    return value if isinstance(value, str) else quoted[1:-1]
