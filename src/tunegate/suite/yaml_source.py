"""Safe YAML loading that remembers where every key and value came from.

Suites are data: only `yaml.SafeLoader` is used, so no tag can construct an
object or run code. Positions let validation errors point at file:line:column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import SourceLocation, SuiteError

__all__ = ["DataPath", "YamlDocument", "load_yaml"]

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
    """Parse `path` with safe semantics; syntax errors become SuiteError with a position."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(SourceLocation(path), "file not found") from None
    except UnicodeDecodeError as exc:
        raise SuiteError(SourceLocation(path), f"not UTF-8 text ({exc.reason})") from None
    doc = YamlDocument(path=path, data=None)
    try:
        node = yaml.compose(text, Loader=_SAFE_LOADER)
        if node is not None:
            doc.data = _convert(node, (), doc)
    except RecursionError:
        raise SuiteError(SourceLocation(path), "nested too deeply to be a suite") from None
    except _TooLarge:
        raise SuiteError(
            SourceLocation(path),
            f"expands to more than {MAX_NODES:,} values (an alias bomb?); split the file",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (
            SourceLocation(path, mark.line + 1, mark.column + 1) if mark else SourceLocation(path)
        )
        problem = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, yaml.constructor.ConstructorError):
            raise SuiteError(
                where, f"unsupported YAML: {problem} (suites are plain data)"
            ) from None
        raise SuiteError(where, f"YAML syntax error: {problem}") from None
    return doc


# libyaml's parser is about 10x faster and has the same safe semantics and position marks.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.SafeLoader("")
# Aliases can make a small file expand exponentially; no real suite comes near this.
MAX_NODES = 2_000_000


class _TooLarge(Exception):
    pass


_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp", "merge")
}


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(node: yaml.Node, here: DataPath, doc: YamlDocument) -> Any:
    doc.value_marks[here] = _mark(node)
    if len(doc.value_marks) > MAX_NODES:
        raise _TooLarge
    where = SourceLocation(doc.path, *_mark(node))
    if node.tag not in _PLAIN_TAGS:
        raise SuiteError(where, f"unsupported YAML tag '{node.tag}' (suites are plain data)")
    if isinstance(node, yaml.MappingNode):
        _constructor.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, doc)
            key_at = SourceLocation(doc.path, *_mark(key_node))
            if not isinstance(key, str):
                raise SuiteError(key_at, f"keys must be text, got {key!r}")
            if key in result:
                raise SuiteError(key_at, f"duplicate key '{key}' (each key may appear once)")
            child = (*here, key)
            doc.key_marks[child] = _mark(key_node)
            result[key] = _convert(value_node, child, doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*here, i), doc) for i, item in enumerate(node.value)]
    if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"):
        # YAML 1.2 semantics: yes/no/on/off stay text (`answer: no` means the word "no").
        return node.value
    return _scalar(node, doc)


def _scalar(node: yaml.Node, doc: YamlDocument) -> Any:
    # An explicit tag on a value that does not fit it (`!!int abc`) fails inside PyYAML
    # with a plain Python error; it is bad input like any other.
    try:
        return _constructor.construct_object(node, deep=True)
    except (ValueError, TypeError, AttributeError):
        tag = node.tag.rsplit(":", 1)[-1]
        raise SuiteError(
            SourceLocation(doc.path, *_mark(node)),
            f"{node.value!r} is not a valid !!{tag}; remove the tag or fix the value",
        ) from None
