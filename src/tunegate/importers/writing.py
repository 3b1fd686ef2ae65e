"""Reading users' benchmark files safely and writing the suites made from them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError
from ..paths import display_path

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_LINE_CHARS",
    "JsonObject",
    "comments",
    "encodable",
    "json_path",
    "read_json_document",
    "read_lines",
    "write_new_file",
    "write_suite",
]

# A benchmark line is a few kilobytes; a longer one is not a benchmark file (or is hostile),
# and is refused before it fills the memory.
MAX_LINE_CHARS = 1_000_000
# A benchmark that is one JSON document (BOLD, HolisticBias) is read whole: the largest public
# one is half a megabyte, so a file a hundred times that is refused before it is parsed.
MAX_JSON_BYTES = 64_000_000


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 text file, a line at a time, with the line of a bad
    byte named; a BOM at the start is dropped."""
    shown = display_path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{shown}: no such file") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    with handle:
        for number, raw in enumerate(_bounded_lines(handle, shown), start=1):
            try:
                # Lines split at b"\n", which is never inside a UTF-8 sequence.
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{shown}:{number}: byte {exc.start + 1} of the line is not UTF-8 text; "
                    "save the file as UTF-8"
                ) from None
            if number == 1:
                text = text.removeprefix("\ufeff")
            yield number, text.rstrip("\r\n")


def _bounded_lines(handle: Any, shown: str) -> Iterator[bytes]:
    number = 0
    while True:
        raw: bytes = handle.readline(MAX_LINE_CHARS * 4 + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_CHARS * 4 or (not raw.endswith(b"\n") and handle.peek(1)):
            raise InputError(
                f"{shown}:{number}: the line is over {MAX_LINE_CHARS:,} characters; "
                "not a benchmark file"
            )
        yield raw


class JsonObject(dict[str, Any]):
    """A JSON object as parsed, remembering keys the file gives twice (json keeps only the
    last, which would drop data without a word)."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> JsonObject:
    made = JsonObject(pairs)
    if len(made) != len(pairs):
        seen: set[str] = set()
        repeated: list[str] = []
        for key, _ in pairs:
            if key in seen:
                repeated.append(key)
            seen.add(key)
        made.repeated = tuple(repeated)
    return made


def read_json_document(path: Path, what: str) -> Any:
    """A file holding one JSON document (`what` names the format in errors): UTF-8 with
    the line of a bad byte, syntax errors with file:line:column, at most MAX_JSON_BYTES.
    Objects come back as JsonObject, so a repeated key can be reported with its path."""
    shown = display_path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{shown}: a folder, not a {what} file") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_JSON_BYTES:
        raise InputError(
            f"{shown}: over {MAX_JSON_BYTES:,} bytes, too large for a {what} file (the public "
            "ones are under 1 MB); refused before reading it"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(
            f"{shown}:{line}: byte {column} of the line is not UTF-8 text; save the file as UTF-8"
        ) from None
    try:
        return json.loads(text.removeprefix("\ufeff"), object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{shown}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg}); a {what} file is one "
            "JSON document"
        ) from None
    except RecursionError:
        raise InputError(f"{shown}: JSON nested too deeply; not a {what} file") from None


def encodable(text: str) -> bool:
    """Whether `text` can be written as UTF-8: JSON's \\ud800 escapes give lone surrogates,
    which no file can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_path(*parts: str | int) -> str:
    """A place in a JSON document as JSONPath: `$.gender["American actors"][3]`."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part, ensure_ascii=not encodable(part))}]"
    return out


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _text(dumper: Any, value: str) -> Any:
    # Prompts span lines: a block scalar reads as the text itself, not as '...\n\n...'.
    style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def write_suite(
    path: Path,
    suite: dict[str, Any],
    *,
    force: bool,
    header: str,
    flow_style: bool | None = None,
) -> None:
    """Write `suite` as YAML, with `header` as comment lines; never over an existing file
    unless `force`, and never half-written. `flow_style` as yaml.dump's default_flow_style
    (None: lists of plain values on one line; False: one item a line)."""
    text = yaml.dump(
        suite,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=1_000_000,
        default_flow_style=flow_style,
    )
    write_new_file(path, comments(header) + text, force=force)


def comments(header: str) -> str:
    """`header` as `#` comment lines (YAML and group-list .txt files read them so)."""
    return "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())


def write_new_file(path: Path, text: str, *, force: bool) -> None:
    """Write `text` to `path`: never over an existing file unless `force`, never
    half-written (a temporary file beside it, then renamed)."""
    if path.exists() and not force:
        raise InputError(
            f"{display_path(path)} exists; choose another --out, or pass --force to replace it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
