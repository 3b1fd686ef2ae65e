"""`{name}` substitution for suite text. Deliberately tiny: suites hold data, not code."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["UnknownVariable", "fields_in", "render"]

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class UnknownVariable(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def fields_in(text: str) -> set[str]:
    return {m.group(1) for m in _FIELD.finditer(text) if m.group(1)}


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
