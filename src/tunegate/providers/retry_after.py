"""Parse a server's Retry-After, so providers can tell the runner how long to wait."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after"]


def parse_retry_after(value: str | None, value_ms: str | None = None) -> float | None:
    """Seconds from a Retry-After (delta-seconds or HTTP-date) or retry-after-ms header.

    A value that is not a finite number >= 0 (`-100`, `inf`, `nan`) is ignored: the
    runner's own backoff applies, never "retry at once" or "wait infs"."""
    if value_ms:
        seconds = _seconds(value_ms)
        if seconds is not None:
            return seconds / 1000.0
    if not value:
        return None
    if _is_number(value):
        return _seconds(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    # A date in the past means "now": that is the server's answer, not a malformed one.
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _seconds(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
