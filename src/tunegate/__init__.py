"""tunegate: evaluate a fine-tuned model against its base, audit bias, gate the iteration.

The public names load on first use, so `import tunegate` (and the console script's start)
stays short: a Ctrl-C while the heavy modules load reaches `tunegate.entry`, not a traceback.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The judge libraries phone home unless told not to: deepeval sends telemetry and reads a
# .env file, ragas tracks every judge call. Set here, before either can be imported through
# tunegate, and only as defaults, so a user's explicit setting stands.
JUDGE_LIBRARY_OPT_OUTS = {
    "DEEPEVAL_TELEMETRY_OPT_OUT": "1",
    "DEEPEVAL_DISABLE_DOTENV": "1",
    "RAGAS_DO_NOT_TRACK": "true",
}
for _name, _value in JUDGE_LIBRARY_OPT_OUTS.items():
    os.environ.setdefault(_name, _value)

if TYPE_CHECKING:
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

_HOME = {
    "run": ".api",
    "ConfigError": ".errors",
    "InputError": ".errors",
    "MissingExtraError": ".errors",
    "ProviderError": ".errors",
    "StoreError": ".errors",
    "SuiteError": ".errors",
    "TunegateError": ".errors",
    "MetricError": ".metrics",
    "Record": ".results",
    "Results": ".results",
    "load_results": ".results",
    "Case": ".suite",
    "Suite": ".suite",
    "SuiteWarning": ".suite",
    "load_suite": ".suite",
    "load_suites": ".suite",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'tunegate' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


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
