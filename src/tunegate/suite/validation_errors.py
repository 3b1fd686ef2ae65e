"""Turn pydantic validation errors into one-line, positioned messages.

`suites/domain.yaml:42:5: unknown key 'refrence' (did you mean 'reference'?)`
"""

from __future__ import annotations

import difflib
import re
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


_ABSENT = object()


def _child(data: Any, part: str | int) -> Any:
    if isinstance(data, dict) and isinstance(part, str) and part in data:
        return data[part]
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return _ABSENT


def _data_at(data: Any, path: DataPath) -> Any:
    for part in path:
        data = _child(data, part)
    return data


def _looks_like_label(part: str) -> bool:
    # Used only when the input is unknown: pydantic's names for union members and
    # validators ('str', 'list[str]', 'function-after[...]', 'nullable[...]', ...).
    return part in _TYPE_LABELS or "[" in part or part.startswith("function-")


_TYPE_LABELS = {"str", "int", "float", "bool", "none", "bytes", "dict", "list", "decimal"}


def _clean_loc(loc: Sequence[str | int], data: Any = _ABSENT, *, missing: bool = False) -> DataPath:
    """The user's path in `loc`, without the names pydantic gives union members.

    pydantic puts 'str', 'list[str]', 'function-after[...]', a model's class name or a
    tagged union's tag into `loc`. Walking the input alongside tells them apart from the
    user's own keys: a part is kept when the input has it (or, for a missing key, last).
    """
    kept: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if node is _ABSENT:
            if isinstance(part, int) or not _looks_like_label(part) or (last and missing):
                kept.append(part)
            continue
        child = _child(node, part)
        if child is not _ABSENT:
            kept.append(part)
            node = child
        elif last and missing:
            kept.append(part)
        # else: a label pydantic added; the input stays where it was
    return tuple(kept)


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


def _union_error(exc: ValidationError, data: Any) -> tuple[dict[str, Any], DataPath, str]:
    """The error to report, its user path, and its message.

    A value that fits no member of a union gets errors from every member. The member
    with the fewest errors, then the one that got deepest into the value, is the one the
    user meant (a list whose item is wrong); members that tie at the same place are named
    together ("a valid string or a valid list").
    """
    first = first_error(exc)
    start, _ = _member_of(first, data)
    if start is None:
        return first, _user_loc(first, data), _message(first)
    members: dict[str | int, list[dict[str, Any]]] = {}
    for raw in exc.errors(include_url=False):
        err = dict(raw)
        origin, label = _member_of(err, data)
        if origin == start and label is not None:
            members.setdefault(label, []).append(err)

    def rank(errors: list[dict[str, Any]]) -> tuple[int, int]:
        return len(errors), -max(len(_user_loc(e, data)) for e in errors)

    best = min(rank(errors) for errors in members.values())
    chosen = [_representative(errs, data) for errs in members.values() if rank(errs) == best]
    at = _user_loc(chosen[0], data)
    if len(chosen) == 1 or chosen[0]["type"] in ("extra_forbidden", "missing"):
        return chosen[0], at, _message(chosen[0])
    messages: list[str] = []
    for err in chosen:
        # pydantic's own elaboration ("..., unable to parse string as an integer") is
        # dropped when members are named together.
        text = _message(err).split(", ")[0]
        if _user_loc(err, data) == at and text not in messages:
            messages.append(text)
    lead = "Input should be "
    if len(messages) > 1 and all(m.startswith(lead) for m in messages):
        messages = [messages[0], *(m[len(lead) :] for m in messages[1:])]
    return chosen[0], at, " or ".join(messages)


def _user_loc(err: dict[str, Any], data: Any) -> DataPath:
    return _clean_loc(err["loc"], data, missing=err["type"] == "missing")


def _member_of(err: dict[str, Any], data: Any) -> tuple[DataPath | None, str | int | None]:
    """The user's path up to the first union-member label in the error's loc, and the label."""
    loc, kept = tuple(err["loc"]), _user_loc(err, data)
    for i, part in enumerate(loc):
        if i >= len(kept) or part != kept[i]:
            return kept[:i], part
    return None, None


def _representative(errors: list[dict[str, Any]], data: Any) -> dict[str, Any]:
    # An unknown key first (as in first_error), else the deepest error.
    extra = [e for e in errors if e["type"] == "extra_forbidden"]
    return extra[0] if extra else max(errors, key=lambda e: len(_user_loc(e, data)))


def _message(err: dict[str, Any]) -> str:
    message = str(err["msg"])
    return message[len("Value error, ") :] if message.startswith("Value error, ") else message


# A long run of key-like characters with no space: what an API key, token or password
# looks like. A value in the wrong field may be one, so its text is not echoed.
_KEY_LIKE = re.compile(r"[A-Za-z0-9_\-.+/=:]{20,}")


def _shown(value: Any) -> str:
    if isinstance(value, str) and _KEY_LIKE.fullmatch(value.strip()):
        return f"a {len(value)}-character string, not shown: it may be a secret"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def suite_error_from(
    exc: ValidationError,
    doc: YamlDocument,
    root: type[BaseModel],
    prefix: DataPath = (),
    also_allowed: Sequence[str] = (),
) -> SuiteError:
    """`also_allowed`: keys valid at the top of `root` that another model validates.

    `doc.data` at `prefix` must be what was validated (or hold it), so the error's path
    can be told apart from pydantic's own labels.
    """
    data = _ABSENT if doc.data is None else _data_at(doc.data, prefix)
    err, inner, message = _union_error(exc, data)
    loc = (*prefix, *inner)
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(root, inner[:-1])
        allowed = sorted(model.model_fields) if model else []
        if not inner[:-1]:
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
    given = err.get("input")
    shown = "" if isinstance(given, (dict, list)) or given is None else f" (got {_shown(given)})"
    return SuiteError(
        doc.locate(loc), f"{_describe(loc)}: {message}{shown}{_type_hint(kind, given)}"
    )


# Models are strict: a boolean is true or false, a number is a number. These say how to
# write what the user most likely meant.
_NUMBER_TYPES = {"int_type", "float_type", "int_from_float"}
_NUMBER_TEXT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")


def _type_hint(kind: str, given: Any) -> str:
    if kind == "bool_type":
        if isinstance(given, str) and given.strip() in ("true", "false"):
            return f"; write it without quotes: {given.strip()}"
        if isinstance(given, str) and given.strip().lower() in _YAML11_BOOLS:
            return "; write true or false (yes, no, on and off are text in YAML 1.2)"
        return "; write true or false"
    if kind in _NUMBER_TYPES and isinstance(given, str):
        if _NUMBER_TEXT.fullmatch(given.strip()):
            return f"; write it without quotes: {given.strip()}"
        if re.fullmatch(r"[-+]?[0-9]+(?::[0-5]?[0-9])+(?:\.[0-9]*)?", given.strip()):
            return "; write a number (YAML 1.2 reads 1:30 as text, not as 90 sexagesimal)"
        return "; write a number"
    if kind in _NUMBER_TYPES and isinstance(given, bool):
        return "; write a number (true and false are booleans)"
    if kind == "string_type" and given is None:
        return "; it is empty (null): write the text, or quote it: 'null'"
    if kind == "string_type" and isinstance(given, (list, dict)):
        return f"; write one text here, not a {'list' if isinstance(given, list) else 'mapping'}"
    return ""


_YAML11_BOOLS = {"yes", "no", "y", "n", "on", "off"}
