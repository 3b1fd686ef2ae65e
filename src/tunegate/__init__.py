"""tunegate: evaluate a fine-tuned model against its base, audit bias, gate the iteration."""

from __future__ import annotations

__version__ = "0.1.0"

from .api import run
from .errors import (
    ConfigError,
    InputError,
    MissingExtraError,
    ProviderError,
    StoreError,
    SuiteError,
    TunegateError,
)
from .metrics import MetricError
from .results import Record, Results, load_results
from .suite import Case, Suite, SuiteWarning, load_suite, load_suites

__all__ = [
    "Case",
    "ConfigError",
    "InputError",
    "MetricError",
    "MissingExtraError",
    "ProviderError",
    "Record",
    "Results",
    "StoreError",
    "Suite",
    "SuiteError",
    "SuiteWarning",
    "TunegateError",
    "__version__",
    "load_results",
    "load_suite",
    "load_suites",
    "run",
]
