"""Untrusted text made safe to store, write and show: decided once, here.

Model outputs, server responses and suite files are untrusted. Two things can go wrong
with their text, and each has one answer:

- **Unencodable text.** A lone UTF-16 surrogate (half an emoji, e.g. the JSON string
  `"\\ud83d"`) is a valid Python `str` that UTF-8 cannot encode, so SQLite, JSON writers and
  consoles fail on it. `clean_text` replaces each lone surrogate with U+FFFD (the Unicode
  replacement character) and joins a split pair back into its character. It is applied
  where text enters tunegate, so everything downstream is plain UTF-8.
- **Control characters.** An escape sequence in an error message can retitle or clear a
  terminal and print a fake verdict. `for_terminal` turns every C0/C1 control character
  (newline and tab aside), DEL and the bidirectional overrides into visible escapes
  (`\\x1b`, `\\u202e`) for consoles, logs and Markdown; `one_line` escapes newlines too.
"""

from __future__ import annotations

import re

__all__ = ["clean_text", "for_markdown", "for_terminal", "one_line", "shorten"]

REPLACEMENT = "\ufffd"

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls but \t and \n, DEL, C1 controls, and the bidi embeddings/overrides/isolates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_AND_NEWLINES = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
# Characters Markdown (and GitHub's HTML sanitiser) would interpret.
_MARKDOWN = re.compile(r"([\\`*_\[\]!|~@])")


def clean_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD, so it always encodes as UTF-8."""
    if not _SURROGATE.search(text):
        return text
    # UTF-16 with surrogatepass re-pairs a split pair into one character; what is left
    # unpaired decodes as U+FFFD.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: str) -> str:
    """Text safe to print or log: control characters become visible escapes."""
    return _CONTROL.sub(_escape, clean_text(text))


def one_line(text: str) -> str:
    """Like `for_terminal`, and newlines escaped too, so one message is one line."""
    return _CONTROL_AND_NEWLINES.sub(_escape, clean_text(text))


def for_markdown(text: str) -> str:
    """One line of inert Markdown: no controls, no markup, no HTML, no @-mentions."""
    text = one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


def shorten(text: str, limit: int = 300) -> str:
    """Whitespace collapsed and cut to `limit` characters. Redact before shortening: a
    secret cut in half no longer matches its full value."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
