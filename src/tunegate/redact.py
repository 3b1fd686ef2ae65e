"""Keep secrets out of everything tunegate writes: results, store, report, logs, console.

A secret is redacted wherever it appears in text that came from outside, and so is any
long fragment of it (`FRAGMENT` characters or more): a message cut short somewhere along
the way, or a key split across log-probability tokens, leaks no usable part of it.
A secret shorter than `FRAGMENT` is redacted where it appears whole. One shorter than
`MIN_SECRET` cannot be told from ordinary text: providers refuse such keys (a ConfigError
asking for a longer one) rather than send them unprotected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .safe_text import one_line

__all__ = ["FRAGMENT", "MIN_SECRET", "REDACTED", "RedactingFilter", "Redactor"]

REDACTED = "[REDACTED]"
# Shorter values would redact letters out of ordinary words. A key of 4 to 9 characters
# (a local server's `vllmkey`) is redacted as a whole; providers refuse shorter keys.
MIN_SECRET = 4
# A run of this many characters of a secret counts as the secret. Long enough that
# ordinary text does not match a random key; short enough that what is left of a key
# after redaction is far too little to guess the rest.
FRAGMENT = 10
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
# Keys passed in a URL's query string (`?key=…`, as some gateways take them).
_URL_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:api[-_]?key|key|token|access[-_]?token|auth|authorization|signature|sig|"
    r"secret|password|pass|pwd|code)=)[^&#\s\"'<>]+"
)


# A secret written with escapes (a judge answering JSON `"\u0073\u006b-..."`) reads back
# as the secret: such text is redacted in its decoded form.
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\(/)")


def _unescaped(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1) or match.group(2)
        if code is None:
            return "/"
        point = int(code, 16)
        return match.group(0) if 0xD800 <= point <= 0xDFFF else chr(point)

    return _ESCAPE.sub(one, text)


class Redactor:
    """Replaces every known secret value, its long fragments, URL credentials and keys in
    a URL's query string."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if len(secret) < MIN_SECRET or secret in self._secrets:
            return
        self._secrets.append(secret)
        # One alternation of every secret's fragments: the regex engine scans the text
        # once, in C, however many secrets there are.
        grams = {
            s[i : i + min(FRAGMENT, len(s))]
            for s in self._secrets
            for i in range(len(s) - min(FRAGMENT, len(s)) + 1)
        }
        self._pattern = re.compile("|".join(re.escape(g) for g in sorted(grams)))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where secrets (or long fragments of them) lie in `text`, as [start, end)."""
        if self._pattern is None:
            return []
        found: list[tuple[int, int]] = []
        position = 0
        while (match := self._pattern.search(text, position)) is not None:
            start, end = match.span()
            # Grow the match while it is still part of some secret.
            while end < len(text) and any(text[start : end + 1] in s for s in self._secrets):
                end += 1
            found.append((start, end))
            position = end
        return found

    def __call__(self, text: str) -> str:
        if self._pattern is not None and "\\" in text:
            plain = _unescaped(text)
            if plain != text and self.spans(plain):
                text = plain  # kept in its decoded form, where the secret can be found
        spans = self.spans(text)
        if spans:
            parts, last = [], 0
            for start, end in spans:
                parts += [text[last:start], REDACTED]
                last = end
            parts.append(text[last:])
            text = "".join(parts)
        text = _URL_USERINFO.sub(REDACTED + "@", text)
        return _URL_QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self(text)

    def tokens(self, tokens: Sequence[str]) -> list[str]:
        """Redact a token sequence as the text it spells: a key split across tokens is
        found, and every token that carries part of it is replaced."""
        joined = "".join(tokens)
        spans = self.spans(joined)
        out, offset = [], 0
        for token in tokens:
            start, end = offset, offset + len(token)
            offset = end
            if any(s < end and start < e for s, e in spans):
                out.append(REDACTED)
            else:
                out.append(self(token))  # URL credentials inside one token
        return out

    def deep(self, value: Any) -> Any:
        """Redact every string inside nested dicts and lists."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        return value


class RedactingFilter(logging.Filter):
    """Redacts and neutralises every record before any handler sees it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = one_line(self._redact(record.getMessage()))
        record.args = None
        return True
