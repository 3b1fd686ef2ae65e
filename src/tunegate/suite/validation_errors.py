"""Turn pydantic validation errors into one-line, positioned messages.

`suites/domain.yaml:42:5: unknown key 'refrence' (did you mean 'reference'?)`
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import SuiteError
from .yaml_source import DataPath, YamlDocument

__all__ = ["did_you_mean", "first_error", "suite_error_from"]


def _edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment): a swap of two letters costs 1."""
    rows = [list(range(len(b) + 1))] + [[i] + [0] * len(b) for i in range(1, len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[-1][-1]


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """A hint naming the closest choice: fewest edits, then the most similar length."""
    close = difflib.get_close_matches(word, list(choices), n=5, cutoff=0.6)
    if not close:
        return ""
    best = min(close, key=lambda c: (_edit_distance(word, c), abs(len(c) - len(word))))
    return f" (did you mean '{best}'?)"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, dict, tuple) or origin is not None:
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
    return found


def _model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class whose fields are validated at `loc` (skipping list indices)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        candidates = _models_in(field.annotation)
        model = candidates[0] if candidates else None
    return model


def _clean_loc(loc: Sequence[str | int]) -> DataPath:
    # pydantic adds union-member names such as 'list[str]' into loc; drop them.
    return tuple(p for p in loc if isinstance(p, int) or ("[" not in p and p != "function-after"))


def _describe(loc: DataPath) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "the file"


def first_error(exc: ValidationError) -> dict[str, Any]:
    # An unknown key is usually the typo behind the other errors (a "missing" key
    # is often the same key misspelt), so report it first.
    errors = exc.errors(include_url=False)
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    return dict(errors[0])


def suite_error_from(
    exc: ValidationError,
    doc: YamlDocument,
    root: type[BaseModel],
    prefix: DataPath = (),
    also_allowed: Sequence[str] = (),
) -> SuiteError:
    """`also_allowed`: keys valid at the top of `root` that another model validates."""
    err = first_error(exc)
    loc = (*prefix, *_clean_loc(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        inner = _clean_loc(err["loc"])[:-1]
        model = _model_at(root, inner)
        allowed = sorted(model.model_fields) if model else []
        if not inner:
            allowed = sorted({*allowed, *also_allowed})
        hint = did_you_mean(key, allowed)
        allowed_text = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return SuiteError(doc.locate(loc, key=True), f"unknown key '{key}'{hint}{allowed_text}")
    if kind == "missing":
        key = str(loc[-1])
        parent = loc[:-1]
        return SuiteError(
            doc.locate(parent), f"missing required key '{key}' in {_describe(parent)}"
        )
    message = str(err["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    given = err.get("input")
    shown = "" if isinstance(given, (dict, list)) or given is None else f" (got {given!r})"
    return SuiteError(doc.locate(loc), f"{_describe(loc)}: {message}{shown}")
