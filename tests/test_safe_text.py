"""Untrusted text: encodable, inert on a terminal and in Markdown, secrets and fragments gone."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tunegate.redact import FRAGMENT, REDACTED, Redactor
from tunegate.safe_text import clean_text, for_markdown, for_terminal, one_line, shorten

KEY = "sk-proj-4f9c2a7e1b8d6053a9e4c1f7b2d8e6a0c3f5"


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    half = json.loads('"half an emoji \\ud83d here"')
    assert clean_text(half) == "half an emoji \ufffd here"
    # A pair split into two code points (as some decoders leave it) becomes the emoji again.
    assert clean_text("\ud83d\ude00") == "\U0001f600"
    assert clean_text("plain") == "plain"


@given(st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF)))
def test_clean_text_always_encodes(text: str) -> None:
    clean_text(text).encode("utf-8")
    assert clean_text(clean_text(text)) == clean_text(text)


@given(st.text())
def test_terminal_text_holds_no_control_character(text: str) -> None:
    shown = for_terminal(text)
    assert not any((ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "\n" not in one_line(text) and "\r" not in one_line(text)


def test_escape_sequences_are_shown_not_obeyed() -> None:
    attack = "\x1b]0;TITLE\x07\x1b[2J\x1b[31mfake: gate PASSED\u202e"
    assert for_terminal(attack) == "\\x1b]0;TITLE\\x07\\x1b[2J\\x1b[31mfake: gate PASSED\\u202e"


def test_markdown_is_inert() -> None:
    shown = for_markdown("<img src=x onerror=alert(1)> | **bold** [link](http://x) @team\nline")
    assert "<" not in shown and ">" not in shown and "\n" not in shown
    for special in "*[]|@":
        assert all(shown[i - 1] == "\\" for i, c in enumerate(shown) if c == special)
    assert shown.startswith("&lt;img")


def test_shorten() -> None:
    assert shorten("a  b\n c") == "a b c"
    assert shorten("x" * 400, 300) == "x" * 299 + "…"


def test_a_long_fragment_of_a_key_is_the_key() -> None:
    redact = Redactor([KEY])
    assert redact(f"key {KEY} here") == f"key {REDACTED} here"
    # The first 37 characters, as a message cut short elsewhere would hold them.
    assert redact(f"…from Bearer {KEY[:37]}…") == f"…from Bearer {REDACTED}…"
    assert redact(f"tail {KEY[-FRAGMENT:]}") == f"tail {REDACTED}"
    # Shorter runs stay: too little of a key to matter, and ordinary text must survive.
    assert redact(f"prefix {KEY[: FRAGMENT - 1]} only") == f"prefix {KEY[: FRAGMENT - 1]} only"
    assert redact("sk-proj- is the prefix of every project key") == (
        "sk-proj- is the prefix of every project key"
    )


@given(st.integers(0, len(KEY) - FRAGMENT), st.integers(FRAGMENT, len(KEY)), st.text(), st.text())
def test_no_run_of_fragment_length_survives(start: int, size: int, before: str, after: str) -> None:
    piece = KEY[start : start + size]
    shown = Redactor([KEY])(before + piece + after)
    assert not any(KEY[i : i + FRAGMENT] in shown for i in range(len(KEY) - FRAGMENT + 1))


def test_a_key_split_across_tokens_is_found() -> None:
    tokens = ["Bearer ", KEY[:5], KEY[5:17], KEY[17:], " ok"]
    out = Redactor([KEY]).tokens(tokens)
    assert out == ["Bearer ", REDACTED, REDACTED, REDACTED, " ok"]
    assert Redactor([KEY]).tokens(["a", "b"]) == ["a", "b"]
