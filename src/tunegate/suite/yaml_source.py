"""Safe YAML loading that remembers where every key and value came from.

Suites are data: only `yaml.SafeLoader` is used, so no tag can construct an
object or run code. Positions let validation errors point at file:line:column.
Every way a file can be unusable (bytes, characters, syntax, aliases, tags) ends
in a SuiteError with a position and a fix, never in a Python exception.

Plain scalars are read as YAML 1.2's core schema says, not as PyYAML's YAML 1.1: only
true/false are booleans, `1:30` and `2024-01-01` stay text, `0o17` is octal, `0x1F` hex.
A number with a leading zero (`010`: 8 in YAML 1.1, 10 in 1.2, text to many a reader) is
refused with the three ways to say what was meant.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import SourceLocation, SuiteError
from .files import read_suite_file

__all__ = ["MAX_NODES", "DataPath", "YamlDocument", "load_yaml", "plain_scalar", "position_of"]

DataPath = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """A parsed YAML file plus a map from each data path to its source position."""

    path: Path
    data: Any
    value_marks: dict[DataPath, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[DataPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: DataPath, *, key: bool = False) -> SourceLocation:
        """The closest known position for `loc`, walking up to its parents."""
        marks = self.key_marks if key else self.value_marks
        probe = tuple(loc)
        while probe:
            if probe in marks:
                line, col = marks[probe]
                return SourceLocation(self.path, line, col)
            if probe in self.value_marks:
                line, col = self.value_marks[probe]
                return SourceLocation(self.path, line, col)
            probe = probe[:-1]
        line, col = self.value_marks.get((), (1, 1))
        return SourceLocation(self.path, line, col)


def load_yaml(path: Path) -> YamlDocument:
    """Parse `path` with safe semantics; every problem becomes a SuiteError with a position."""
    text = _read_text(path)
    _refuse_unreadable_characters(text, path)
    doc = YamlDocument(path=path, data=None)
    try:
        node = yaml.compose(text, Loader=_core_schema(_SAFE_LOADER))
        if node is not None:
            _refuse_oversized(node, path)
            doc.data = _convert(node, (), doc)
    except RecursionError:
        raise SuiteError(SourceLocation(path), "nested too deeply to be a suite") from None
    except yaml.reader.ReaderError as exc:  # _refuse_unreadable_characters should have said
        line, col = _reader_error_position(text, exc)
        raise SuiteError(
            SourceLocation(path, line, col), f"{exc.reason} (U+{exc.character:04X}); delete it"
        ) from None
    except yaml.MarkedYAMLError as exc:
        raise _marked_error(exc, text, path) from None
    except yaml.YAMLError as exc:
        raise SuiteError(SourceLocation(path), f"invalid YAML: {exc}") from None
    return doc


# libyaml's parser is about 10x faster and has the same safe semantics and position marks.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.SafeLoader("")
# Aliases can make a small file expand exponentially. A node costs a few hundred bytes
# once converted (value, path, position), so this bounds memory too; the example suites
# hold a few thousand.
MAX_NODES = 1_000_000

_MERGE = "tag:yaml.org,2002:merge"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution), first characters
# as PyYAML's resolver wants them; int before float, since `10` matches both. `<<` keeps
# its YAML 1.1 meaning: merge keys are part of the suite format.
_DIGITS = list("-+0123456789")
_CORE_SCHEMA: list[tuple[str, str, list[str]]] = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", _DIGITS),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        [*_DIGITS, "."],
    ),
    (_MERGE, r"^<<$", ["<"]),
]
_DECIMAL = re.compile(r"[-+]?[0-9]+")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]")
_SPECIAL_FLOATS = {".inf": math.inf, ".nan": math.nan}
# Python refuses to turn longer digit strings into ints (CVE-2020-10735); no suite needs one.
_MAX_DIGITS = 4000
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp", "merge")
}
# What YAML lets a file hold (YAML 1.1 "printable"), as PyYAML and libyaml both check it.
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
# Line breaks as YAML counts them, so positions agree with the parser's marks.
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x0B: "VT", 0x0C: "FF", 0x1B: "ESC"}
_CONTROL_NAMES[0x7F] = "DEL"


@functools.cache
def _core_schema(loader: type[Any]) -> type[Any]:
    """`loader` (libyaml's or PyYAML's parser) resolving plain scalars by YAML 1.2's core
    schema. Made per parser class, so tests can swap the parser and keep the schema."""
    resolved: type[Any] = type(f"Core{loader.__name__}", (loader,), {})
    resolved.yaml_implicit_resolvers = {}
    for tag, pattern, first in _CORE_SCHEMA:
        resolved.add_implicit_resolver(tag, re.compile(pattern), first)
    return resolved


def position_of(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of the character at `index` in `text`."""
    line, start = 1, 0
    for match in _BREAK.finditer(text, 0, index):
        line, start = line + 1, match.end()
    return line, index - start + 1


def _read_text(path: Path) -> str:
    # Bounded, and never blocking on a FIFO or reading a device forever: see files.py.
    raw = read_suite_file(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = raw[: exc.start].decode("utf-8")
        line, col = position_of(good, len(good))
        raise SuiteError(
            SourceLocation(path, line, col),
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x}: {exc.reason}); save the file as UTF-8",
        ) from None


def _refuse_unreadable_characters(text: str, path: Path) -> None:
    # Checked here rather than left to the parser: PyYAML's ReaderError has no line, and
    # libyaml reports a byte offset.
    bad = _NOT_PRINTABLE.search(text)
    if bad is None:
        return
    code = ord(bad.group())
    name = _CONTROL_NAMES.get(code)
    what = f"control character {name} (U+{code:04X})" if name else f"character U+{code:04X}"
    fix = (
        f'write it as the escape "\\x{code:02x}" inside a double-quoted string'
        if code < 0x100
        else "write it as an escape inside a double-quoted string"
    )
    raise SuiteError(
        SourceLocation(path, *position_of(text, bad.start())),
        f"{what} is not allowed in YAML; delete it, or {fix}",
    )


def _reader_error_position(text: str, exc: yaml.reader.ReaderError) -> tuple[int, int]:
    # PyYAML gives an index into the text; libyaml a byte offset into its UTF-8.
    index = exc.position
    if not (0 <= index < len(text) and ord(text[index]) == exc.character):
        index = len(text.encode("utf-8")[:index].decode("utf-8", errors="ignore"))
    return position_of(text, min(index, len(text)))


_SURROGATE_FIX = (
    "a UTF-16 surrogate (\\ud800-\\udfff) is half of a character and cannot be stored; "
    'write the whole character, e.g. "\\U0001F600" or the character itself'
)


def _marked_error(exc: yaml.MarkedYAMLError, text: str, path: Path) -> SuiteError:
    mark = exc.problem_mark or exc.context_mark
    where = SourceLocation(path, mark.line + 1, mark.column + 1) if mark else SourceLocation(path)
    problem = exc.problem or exc.context or "invalid YAML"
    if isinstance(exc, yaml.constructor.ConstructorError):
        return SuiteError(where, f"unsupported YAML: {problem} (suites are plain data)")
    if mark is not None and "escape" in problem:
        # libyaml refuses \ud83d with a generic message; name the usual cause.
        lines = _BREAK.split(text)
        line = lines[mark.line] if mark.line < len(lines) else ""
        escape = re.match(r"[0-9a-fA-F]{4}", line[mark.column :])
        if escape and 0xD800 <= int(escape.group(), 16) <= 0xDFFF:
            start = SourceLocation(path, mark.line + 1, max(mark.column - 1, 1))
            return SuiteError(start, f"lone surrogate \\u{escape.group()}: {_SURROGATE_FIX}")
    return SuiteError(where, f"YAML syntax error: {problem}")


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _at(doc_path: Path, node: yaml.Node) -> SourceLocation:
    return SourceLocation(doc_path, *_mark(node))


def _refuse_oversized(root: yaml.Node, path: Path) -> None:
    """Count the values the node graph expands to, before building any of them.

    Aliases are shared nodes, so memoising each node's size makes this linear in the
    file, while the expansion itself can be exponential (an alias bomb).
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise SuiteError(
                _at(path, node),
                "this anchor contains an alias to itself, which never ends; "
                "a suite is a tree, so copy the values instead",
            )
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(key)
        if total > MAX_NODES:
            raise SuiteError(
                _at(path, node),
                f"this value expands to {total:,} values through aliases, more than the "
                f"{MAX_NODES:,} a file may hold (an alias bomb?); use fewer aliases or split "
                "the file",
            )
        sizes[key] = total
        return total

    size(root)


def _convert(node: yaml.Node, here: DataPath, doc: YamlDocument) -> Any:
    doc.value_marks[here] = _mark(node)
    if node.tag == _MERGE and isinstance(node, yaml.ScalarNode):
        return node.value  # `<<` as a value is text; only as a key does it merge
    if node.tag not in _PLAIN_TAGS:
        raise SuiteError(
            _at(doc.path, node), f"unsupported YAML tag '{node.tag}' (suites are plain data)"
        )
    if isinstance(node, yaml.MappingNode):
        return _convert_mapping(node, here, doc)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*here, i), doc) for i, item in enumerate(node.value)]
    if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"):
        # YAML 1.2 semantics: yes/no/on/off stay text (`answer: no` means the word "no").
        return node.value
    return _scalar(node, doc)


def _convert_mapping(node: yaml.MappingNode, here: DataPath, doc: YamlDocument) -> dict[str, Any]:
    result: dict[str, Any] = {}
    explicit, merged = _mapping_pairs(node, doc)
    for key_node, value_node in explicit:
        key = _key(key_node, doc)
        if key in result:
            raise SuiteError(
                _at(doc.path, key_node), f"duplicate key '{key}' (each key may appear once)"
            )
        doc.key_marks[(*here, key)] = _mark(key_node)
        result[key] = _convert(value_node, (*here, key), doc)
    # `<<: *base` fills in the keys the mapping does not set itself (YAML merge keys).
    for key_node, value_node in merged:
        key = _key(key_node, doc)
        if key not in result:
            doc.key_marks[(*here, key)] = _mark(key_node)
            result[key] = _convert(value_node, (*here, key), doc)
    return result


def _mapping_pairs(
    node: yaml.MappingNode, doc: YamlDocument
) -> tuple[list[tuple[yaml.Node, yaml.Node]], list[tuple[yaml.Node, yaml.Node]]]:
    """The mapping's own pairs, and the pairs its merge keys bring, earliest source first.

    Nodes are left as they are: an anchor used in several places must read the same each
    time (PyYAML's flatten_mapping rewrites the shared node).
    """
    explicit: list[tuple[yaml.Node, yaml.Node]] = []
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag != _MERGE:
            explicit.append((key_node, value_node))
            continue
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise SuiteError(
                    _at(doc.path, source),
                    "'<<' merges a mapping or a list of mappings, e.g. <<: *defaults",
                )
            inner_explicit, inner_merged = _mapping_pairs(source, doc)
            _refuse_duplicate_keys(inner_explicit, doc)
            merged.extend(inner_explicit + inner_merged)
    return explicit, merged


def _refuse_duplicate_keys(pairs: list[tuple[yaml.Node, yaml.Node]], doc: YamlDocument) -> None:
    seen: set[str] = set()
    for key_node, _ in pairs:
        key = _key(key_node, doc)
        if key in seen:
            raise SuiteError(
                _at(doc.path, key_node), f"duplicate key '{key}' (each key may appear once)"
            )
        seen.add(key)


def _key(node: yaml.Node, doc: YamlDocument) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag not in _PLAIN_TAGS:
        raise SuiteError(_at(doc.path, node), "keys must be plain text")
    key = _scalar(node, doc)
    if not isinstance(key, str):
        raise SuiteError(_at(doc.path, node), f"keys must be text, got {key!r}")
    return key


def _scalar(node: yaml.Node, doc: YamlDocument) -> Any:
    if node.tag in (_INT, _FLOAT) and isinstance(node.value, str):
        number = _number(node.value, node.tag == _INT)
        if isinstance(number, str):
            raise SuiteError(_at(doc.path, node), number)
        if number is None:  # only with an explicit tag: a plain scalar resolves to a number
            raise _not_valid(node, doc)
        return number
    # An explicit tag on a value that does not fit it (`!!int abc`) fails inside PyYAML
    # with a plain Python error; it is bad input like any other.
    try:
        value = _constructor.construct_object(node, deep=True)
    except yaml.YAMLError:
        raise
    except Exception:
        raise _not_valid(node, doc) from None
    if isinstance(value, str) and _SURROGATE.search(value):
        # PyYAML's pure-Python parser accepts "\ud83d"; the text could never be stored.
        raise SuiteError(_at(doc.path, node), f"lone surrogate in this string: {_SURROGATE_FIX}")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def plain_scalar(text: str) -> Any:
    """`text` as YAML 1.2 reads it unquoted: a bool, int or float, else the text itself
    (also when the number would be refused, so the caller's validation says why)."""
    for tag, pattern, _ in _CORE_SCHEMA:
        if not re.match(pattern, text):
            continue
        if tag == _BOOL:
            return text.lower() == "true"
        if tag in (_INT, _FLOAT):
            number = _number(text, tag == _INT)
            return text if number is None or isinstance(number, str) else number
    return text


def _not_valid(node: yaml.Node, doc: YamlDocument) -> SuiteError:
    tag = node.tag.rsplit(":", 1)[-1]
    shown = repr(node.value) if len(str(node.value)) <= 60 else repr(str(node.value)[:57])
    return SuiteError(
        _at(doc.path, node),
        f"{shown} is not a valid !!{tag}; fix the value, remove the tag, "
        "or quote the value to keep it as text",
    )


def _number(text: str, integer: bool) -> int | float | str | None:
    """A YAML 1.2 core-schema number; a message (str) when it must be refused; None when
    `text` is no such number (only with an explicit tag: PyYAML then says it is invalid).

    PyYAML's own constructors would read `010` as 8, `1:30` as 90 and `1_000` as 1000.
    """
    body = text.lstrip("+-")
    if len(body) > _MAX_DIGITS:
        return (
            f"a number {len(body):,} characters long is more than a suite can use; "
            "write a shorter one, or quote it to mean text"
        )
    if _LEADING_ZERO.match(text) and re.fullmatch(r"[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE].*)?", text):
        sign = "-" if text.startswith("-") else ""
        plain = sign + re.sub(r"^0+(?=[0-9])", "", body)
        fixes = f'write {plain} for the number, "{text}" in quotes for text'
        if not re.fullmatch(r"[-+]?[0-7]+", text):
            return f"{text} has a leading zero; {fixes}"
        octal = f", or 0o{body.lstrip('0') or '0'} for octal" if not sign else ""
        return (
            f"{text} has a leading zero, which YAML 1.1 reads as octal and YAML 1.2 as "
            f"decimal; {fixes}{octal}"
        )
    if integer:
        if _DECIMAL.fullmatch(text):
            return int(text, 10)
        if re.fullmatch(r"0o[0-7]+", text):
            return int(text[2:], 8)
        if re.fullmatch(r"0x[0-9a-fA-F]+", text):
            return int(text[2:], 16)
        return None
    special = _SPECIAL_FLOATS.get(body.lower())
    if special is not None:
        return -special if text.startswith("-") else special
    if not re.fullmatch(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?", text):
        return None
    value = float(text)
    if math.isinf(value):
        return (
            f"{text} is too large for a number (the largest is about 1.8e308); write a smaller one"
        )
    return value
