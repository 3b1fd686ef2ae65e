"""Ids of expanded cases: `template[value/value]`, readable in any script.

`vars: {group: [женщина, мужчина]}` gives `eligible[женщина]` and `eligible[мужчина]`, and
"José" keeps its é: an id is made of the values' letters, marks and digits of any script,
lowercased. Two values that differ only in case or punctuation ("Jose" and "jose!") still
give one id; the loader then names both values and how to tell them apart.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import Any

import regex

__all__ = ["collision_message", "differing", "expanded_id", "slug", "value_path"]

# Letters, combining marks (the vowel signs of Devanagari are marks, not letters), digits,
# and the `_` and `.` an id may hold; every other run becomes one `-`.
_OTHER = regex.compile(r"[^\p{L}\p{M}\p{N}_.]+")


def slug(value: str) -> str:
    """`value` as it appears in a case id: NFC, case-folded, other characters as `-`."""
    # NFC again after casefold, which may decompose ("İ" folds to "i" + a combining dot).
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())
    return _OTHER.sub("-", folded).strip("-") or "_"


def expanded_id(template_id: str, values: Mapping[str, str]) -> str:
    return f"{template_id}[{'/'.join(slug(v) for v in values.values())}]"


def differing(first: Mapping[str, str], second: Mapping[str, str]) -> list[str]:
    """The variables whose values differ between two expansions (all, if none does)."""
    return [name for name in second if first.get(name) != second[name]] or list(second)


def value_path(vars_spec: Any, index: int, name: str) -> tuple[str | int, ...]:
    """Where, under the case's `vars`, expansion number `index` takes its value of `name`.

    A mapping of lists expands as itertools.product does (the last variable fastest), so
    the position of each value follows from `index` by mixed-radix digits.
    """
    if isinstance(vars_spec, list):
        return ("vars", index, name)
    names = list(vars_spec)
    k = names.index(name)
    inner = math.prod(len(vars_spec[n]) for n in names[k + 1 :])
    return ("vars", name, (index // inner) % len(vars_spec[name]))


def collision_message(
    case_id: str, first: Mapping[str, str], second: Mapping[str, str], line: int | None
) -> str:
    """Why two expansions of one template share an id, and the ways out."""
    differ = differing(first, second)
    name = differ[0]
    shown = ", ".join(f"{n}={second[n]!r}" for n in differ)
    earlier = ", ".join(f"{n}={first.get(n)!r}" for n in differ)
    where = f" (line {line})" if line else ""
    if first == second:
        return (
            f"vars give {shown} twice, so the case id '{case_id}' is made twice; "
            "delete the repeated value"
        )
    return (
        f"{shown} and {earlier}{where} both give the case id '{case_id}' (ids keep letters "
        "and digits, lowercased, and turn everything else into '-'); make the values differ "
        "in letters or digits, or give vars as a list of mappings with one more variable "
        f"that tells them apart, e.g. - {{{name}: {second[name]!r}, variant: b}}"
    )
