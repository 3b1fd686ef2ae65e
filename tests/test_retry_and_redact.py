from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunegate.execution.retry import RetryPolicy
from tunegate.providers.retry_after import parse_retry_after
from tunegate.redact import Redactor


@given(st.integers(1, 30), st.integers(0, 2**32))
def test_backoff_stays_within_the_exponential_envelope(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30)
    delay = policy.delay(attempt, None, random.Random(seed))
    assert 0 <= delay <= min(30, 0.5 * 2 ** (attempt - 1))


@given(st.floats(0, 1000, allow_nan=False), st.integers(1, 10))
def test_retry_after_wins_up_to_the_cap(retry_after: float, attempt: int) -> None:
    policy = RetryPolicy(max_retry_after=120)
    assert policy.delay(attempt, retry_after, random.Random(0)) == min(retry_after, 120)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None, "1500") == 1.5
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    seconds = parse_retry_after(format_datetime(when, usegmt=True))
    assert seconds is not None and 25 <= seconds <= 30
    past = datetime.now(timezone.utc) - timedelta(seconds=30)
    assert parse_retry_after(format_datetime(past, usegmt=True)) == 0.0


@pytest.mark.parametrize(
    ("value", "value_ms", "expected"),
    [
        ("-100", None, None),  # negative: the runner's backoff, not "retry at once"
        ("inf", None, None),
        ("nan", None, None),
        ("-inf", None, None),
        (None, "inf", None),  # not "wait infs"
        (None, "nan", None),
        (None, "-5", None),
        ("2", "inf", 2.0),  # a bad retry-after-ms leaves Retry-After to say
        ("0", None, 0.0),
    ],
)
def test_parse_retry_after_ignores_what_is_not_a_finite_delay(
    value: str | None, value_ms: str | None, expected: float | None
) -> None:
    assert parse_retry_after(value, value_ms) == expected


def test_redactor() -> None:
    redact = Redactor(["sk-live-0123456789", "abc"])
    assert redact("key sk-live-0123456789 here") == "key [REDACTED] here"
    assert redact("abc stays") == "abc stays"  # too short to tell from text: refused upstream
    assert redact("https://user:pa55@host/v1") == "https://[REDACTED]@host/v1"
    redact.add("another-secret-value")
    assert redact("another-secret-value!") == "[REDACTED]!"
    assert redact.optional(None) is None


def test_redactor_deep() -> None:
    redact = Redactor(["sk-live-0123456789"])
    nested = {"a": ["x sk-live-0123456789", 3], "b": {"c": "sk-live-0123456789"}, "d": None}
    assert redact.deep(nested) == {"a": ["x [REDACTED]", 3], "b": {"c": "[REDACTED]"}, "d": None}


def test_a_short_secret_is_redacted_where_it_appears_whole() -> None:
    redact = Redactor(["vllmkey", "abcd"])
    assert redact("Bearer vllmkey, again:vllmkey") == "Bearer [REDACTED], again:[REDACTED]"
    assert redact("abcd") == "[REDACTED]"
    # Its pieces are ordinary text: only a long secret's fragments are secrets too.
    assert redact("vllm key") == "vllm key"
    assert redact.tokens(["Bearer ", "vll", "mkey"]) == ["Bearer ", "[REDACTED]", "[REDACTED]"]


def test_keys_in_a_url_query_string_are_redacted() -> None:
    from tunegate.redact import Redactor

    redact = Redactor()
    url = "https://gw.example/v1?key=AIzaSyA1b2C3d4E5f6G7h8&region=eu"
    assert redact(url) == "https://gw.example/v1?key=[REDACTED]&region=eu"
    assert redact.deep({"base_url": "http://h/v1?api-key=s3cr3t#x"}) == {
        "base_url": "http://h/v1?api-key=[REDACTED]#x"
    }
    assert redact("the token=plain words stay") == "the token=plain words stay"


def test_a_secret_written_with_json_escapes_is_redacted() -> None:
    """A judge (or server) answering JSON can spell the key as escapes; decoded, it is the
    key, so it is redacted in its decoded form."""
    from tunegate.redact import REDACTED, Redactor

    key = "sk-live-0123456789abcdefghij"
    redact = Redactor([key])
    escaped = "".join(f"\\u{ord(c):04x}" for c in key)
    assert redact(f'{{"reason": "{escaped}"}}') == f'{{"reason": "{REDACTED}"}}'
    assert key[:12] not in redact(escaped.replace("\\u002d", "-"))
    assert redact("path\\/to \\u0041") == "path\\/to \\u0041"  # no secret: left as written
