"""The one gate every provider result passes before it is stored or shown.

Whatever a provider returns came from outside (a server, a model, a user's function), so
every field is checked here: text is made encodable and redacted, numbers that are not
numbers are dropped, and a malformed generation becomes a provider error, never a crash
later in the run.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ProviderError
from ..providers import Generation, TokenLogprob
from ..redact import Redactor
from ..safe_text import clean_text, shorten

__all__ = ["ERROR_LIMIT", "clean_error", "clean_generation"]

# Error messages are kept this long (after redaction) in results, store and console.
ERROR_LIMIT = 300


def clean_error(message: str, redact: Redactor) -> str:
    """Redact first, then shorten: a cut never splits a secret before it is found."""
    return shorten(redact(clean_text(message)), ERROR_LIMIT)


def clean_generation(generation: Any, redact: Redactor) -> Generation:
    """A generation safe to store: every string redacted and encodable, every number sane."""
    if not isinstance(generation, Generation):
        raise ProviderError(f"the provider returned {type(generation).__name__}, not a Generation")
    if not isinstance(generation.text, str):
        raise ProviderError(f"the output is {type(generation.text).__name__}, not text")
    logprobs = None
    if generation.logprobs:
        tokens = [_text(t.token) for t in generation.logprobs]
        logprobs = [
            TokenLogprob(token, _finite(t.logprob))
            for token, t in zip(redact.tokens(tokens), generation.logprobs, strict=True)
        ]
    return Generation(
        text=redact(clean_text(generation.text)),
        finish_reason=_optional_text(generation.finish_reason, redact),
        prompt_tokens=_count(generation.prompt_tokens),
        completion_tokens=_count(generation.completion_tokens),
        logprobs=logprobs,
        rendered_prompt=_optional_text(generation.rendered_prompt, redact),
    )


def _text(value: Any) -> str:
    return clean_text(value) if isinstance(value, str) else clean_text(str(value))


def _optional_text(value: Any, redact: Redactor) -> str | None:
    return None if value is None else redact(_text(value))


def _count(value: Any) -> int | None:
    # Token counts from a server: a whole number >= 0, or nothing.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        return None
    return value


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
