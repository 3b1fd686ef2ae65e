"""Parse a server's Retry-After, so providers can tell the runner how long to wait."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after"]


def parse_retry_after(value: str | None, value_ms: str | None = None) -> float | None:
    """Seconds from a Retry-After (delta-seconds or HTTP-date) or retry-after-ms header."""
    if value_ms:
        try:
            return max(float(value_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)
