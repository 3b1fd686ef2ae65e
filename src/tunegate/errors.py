"""The exception tree. Every error says what went wrong and what to do next.

TunegateError                  exit code 2 unless stated
 ├── InputError                bad user input: suites, config, command line
 │    ├── SuiteError           carries file, line and column
 │    └── ConfigError          tunegate.yaml / [tool.tunegate]
 ├── MissingExtraError         an optional backend is not installed
 ├── StoreError                the results store cannot be used (exit 3)
 └── ProviderError             one call to one target failed; stored on the
                               result, never raised through a run
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .paths import display_path

__all__ = [
    "ConfigError",
    "InputError",
    "MissingExtraError",
    "ProviderError",
    "SourceLocation",
    "StoreError",
    "SuiteError",
    "TunegateError",
]


class TunegateError(Exception):
    """Base of every error tunegate raises on purpose."""

    exit_code = 2


class InputError(TunegateError):
    """The user gave something tunegate cannot use."""


@dataclass(frozen=True)
class SourceLocation:
    """A place in a file, 1-based, as editors show it."""

    path: Path
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        shown = display_path(self.path)
        if self.line is None:
            return shown
        if self.column is None:
            return f"{shown}:{self.line}"
        return f"{shown}:{self.line}:{self.column}"


class SuiteError(InputError):
    """A suite file is invalid; the message starts with file:line:column."""

    def __init__(self, location: SourceLocation, message: str) -> None:
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message}")


class ConfigError(InputError):
    """The project configuration is invalid or names something that does not exist."""


class MissingExtraError(TunegateError):
    """An optional dependency is needed; the message holds the install command."""

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'tunegate[{extra}]'"
        )


class StoreError(TunegateError):
    """The results store is unreadable or unwritable."""

    exit_code = 3


class ProviderError(TunegateError):
    """One generation failed. `retryable` and `retry_after` steer the runner's retries."""

    exit_code = 3

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
