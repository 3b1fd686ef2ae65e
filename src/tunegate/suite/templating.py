"""`{name}` substitution for suite text. Deliberately tiny: suites hold data, not code.

A field is a variable name: letters (of any script), digits and `_`, not starting with a
digit. Anything else in braces (`{g.__class__}`, `{a b}`) is sent as written; lint.py warns
about what looks like a field but is not one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "UnknownVariable",
    "fields_in",
    "is_field_name",
    "lookalike_fields",
    "render",
    "whole_field",
]

_NAME = r"[^\W\d]\w*"
_FIELD = re.compile(r"\{\{|\}\}|\{(" + _NAME + r")\}")
# Anything in single braces on one line, for spotting near-misses; `{{` and `}}` first, so
# a doubled brace is never the start of one.
_BRACED = re.compile(r"\{\{|\}\}|\{([^{}\n]{0,80})\}")
# A name, perhaps with what Python's str.format or a typo adds to one (`.attr`, `[0]`,
# `!r`, `-`, a space): at most three words, and no `:`, quotes or commas, which mark
# literal text such as `{x: 1}` or `{"json": 1}`.
_LOOKS_LIKE_A_FIELD = re.compile(r"\s*(" + _NAME + r")[\w.\[\]!-]*(?:\s+[\w.\[\]!-]+){0,2}\s*")


class UnknownVariable(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def is_field_name(name: str) -> bool:
    """Whether `{name}` is a template field, so a variable of this name can be used."""
    return re.fullmatch(_NAME, name) is not None


def whole_field(text: str) -> str | None:
    """The name when `text` is exactly one field (`"{n}"`), else None."""
    match = _FIELD.fullmatch(text)
    return match.group(1) if match else None


def fields_in(text: str) -> set[str]:
    return {m.group(1) for m in _FIELD.finditer(text) if m.group(1)}


def lookalike_fields(text: str) -> list[tuple[str, str]]:
    """`{...}` that starts like a variable name but is not one (`{g.__class__}`, `{a b}`),
    as (the braces as written, the name it starts with). Such text is never substituted.

    `{}`, `{2,3}`, `{x: 1}` and `{"json": 1}` are plainly not meant as fields.
    """
    found: list[tuple[str, str]] = []
    for match in _BRACED.finditer(text):
        inner = match.group(1)
        if inner is None or is_field_name(inner):
            continue
        looks = _LOOKS_LIKE_A_FIELD.fullmatch(inner)
        if looks is not None:
            found.append((match.group(0), looks.group(1)))
    return found


def render(text: str, values: Mapping[str, str], *, strict: bool = True) -> str:
    """Replace `{name}` with values[name]; `{{`/`}}` are literal braces.

    With strict=False, unknown fields are left as they are.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        if name in values:
            return values[name]
        if strict:
            raise UnknownVariable(name)
        return match.group(0)

    return _FIELD.sub(replace, text)
