"""Shared guards for metrics that run third-party code on untrusted output.

Outputs may be megabytes, binary-ish or full of escape sequences. A metric must finish in
bounded time and fail only with MetricError, so each one caps the text it reads
(`capped`) and runs library code inside `library_call`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .base import MetricError

__all__ = ["MAX_JSON_CHARS", "MAX_TEXT_CHARS", "capped", "library_call"]

# Past this many characters a text metric reads only the start: ROUGE-L's LCS is quadratic
# in pure Python (about 1 s at this size on one core), and a grade or a sentiment of the
# first 10,000 characters says what the rest would.
MAX_TEXT_CHARS = 10_000

# JSON cannot be judged on a prefix; the C parser is linear, so the cap only bounds memory.
MAX_JSON_CHARS = 1_000_000


def capped(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """The first `limit` characters of `text`."""
    return text if len(text) <= limit else text[:limit]


@contextmanager
def library_call(metric: str) -> Iterator[None]:
    """Turn anything a library raises on strange input into MetricError, named."""
    try:
        yield
    except MetricError:
        raise
    except Exception as exc:  # a library bug on one output is that output's error, not a crash
        raise MetricError(f"{metric} could not score this output ({type(exc).__name__})") from None
