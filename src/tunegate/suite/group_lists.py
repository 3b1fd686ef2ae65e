"""Group lists: the values of a counterfactual probe's axis, kept as data the user edits.

A case writes `vars: {group: {groups: religion}}` for a list shipped with tunegate
(src/tunegate/suite/groups/*.yaml), or `{groups: groups/customers.yaml}` for a file beside
the suite (a YAML list, a mapping with `groups:`, or a .txt file of one group a line).
`tunegate import holistic-bias` writes such files. docs/bias.md
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import SourceLocation, SuiteError
from .files import read_suite_file
from .validation_errors import did_you_mean
from .yaml_source import DataPath, YamlDocument, load_yaml

__all__ = ["MAX_GROUPS", "NOT_PLAIN", "builtin_group_lists", "resolve_group_lists"]

MAX_GROUPS = 10_000
MAX_GROUP_CHARS = 1_000
_SUFFIXES = (".yaml", ".yml", ".txt")


def builtin_group_lists() -> list[str]:
    folder = resources.files("tunegate.suite") / "groups"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def resolve_group_lists(doc: YamlDocument) -> None:
    """Replace every `{groups: LIST}` variable of the suite with the list's values."""
    cases = doc.data.get("cases") if isinstance(doc.data, dict) else None
    if not isinstance(cases, list):
        return
    for i, case in enumerate(cases):
        variables = case.get("vars") if isinstance(case, dict) else None
        if not isinstance(variables, dict):
            continue
        for name, value in list(variables.items()):
            if isinstance(value, dict):
                here: DataPath = ("cases", i, "vars", name)
                variables[name] = _group_list(value, doc, here)


def _group_list(value: dict[Any, Any], doc: YamlDocument, here: DataPath) -> list[str]:
    named = builtin_group_lists()
    if set(value) != {"groups"} or not isinstance(value["groups"], str):
        raise SuiteError(
            doc.locate(here),
            "a variable's values are a list, or {groups: LIST} naming a group list: one of "
            f"{', '.join(named)}, or a .yaml/.txt file beside the suite",
        )
    ref = value["groups"]
    where = doc.locate((*here, "groups"))
    if ref in named:
        text = (resources.files("tunegate.suite") / "groups" / f"{ref}.yaml").read_text("utf-8")
        return _from_yaml_text(text, Path(f"{ref}.yaml"), where)
    if not ref.endswith(_SUFFIXES):
        raise SuiteError(
            where,
            f"no built-in group list '{ref}'{did_you_mean(ref, named)} (built in: "
            f"{', '.join(named)}); a file of your "
            "own ends in .yaml, .yml or .txt",
        )
    path = _contained(doc.path, ref, where)
    if not path.exists():
        raise SuiteError(where, f"group list {ref} not found (relative to {doc.path.name})")
    if not path.is_file():
        raise SuiteError(
            where, f"group list {ref} is not a regular file; name a .yaml or .txt file"
        )
    if path.suffix == ".txt":
        return _from_txt(path)
    return _checked(load_yaml(path), path)


def _contained(suite: Path, ref: str, where: SourceLocation) -> Path:
    """The list's path: relative, in the suite's folder or its parent's (the project, when
    suites live in suites/). Its groups are sent to models: a suite may not name any file
    on the machine (/home/me/.netrc.txt)."""
    path = suite.parent / ref
    if Path(ref).is_absolute():
        raise SuiteError(where, f"group list {ref} is an absolute path; {_PLACES}")
    home = suite.parent.resolve().parent
    try:
        inside = path.resolve().is_relative_to(home)
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL
        inside = False
    if not inside:
        raise SuiteError(where, f"group list {ref} lies outside the project; {_PLACES}")
    return path


_PLACES = (
    "name a .yaml or .txt file in the suite's folder or its parent's, relative to the suite "
    "(e.g. groups/customers.yaml, or ../groups/customers.yaml from suites/)"
)
# A group is one line of plain text: no control characters, no line separators that
# would make one line two (U+2028), hide text on a terminal (ESC), reorder it (bidi
# controls) or hide it from a reader (zero-width and tag characters, a mid-text BOM).
NOT_PLAIN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\U000e0000-\U000e007f]"
)
_LIST_KEYS = {"groups", "axis", "source"}


def _from_yaml_text(text: str, name: Path, where: SourceLocation) -> list[str]:
    import yaml

    data = yaml.safe_load(text)
    groups = data.get("groups") if isinstance(data, dict) else data
    if not isinstance(groups, list) or not groups:
        raise SuiteError(where, f"the built-in group list {name} is broken; reinstall tunegate")
    return [str(g) for g in groups]


def _from_txt(path: Path) -> list[str]:
    raw = read_suite_file(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SuiteError(
            SourceLocation(path, line), "not UTF-8 text; save the group list as UTF-8"
        ) from None
    groups: list[str] = []
    seen: dict[str, int] = {}
    # A BOM (Windows editors write one) would otherwise start the first group's name.
    # Split on newlines only: str.splitlines would also split on U+2028 and \x1c.
    for number, written in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        group = written.removesuffix("\r").strip()
        if not group or group.startswith("#"):
            continue
        bad = NOT_PLAIN.search(written.removesuffix("\r"))
        column = written.index(bad.group()) + 1 if bad else None
        _check_one(group, SourceLocation(path, number, column), seen, number)
        groups.append(group)
    return _bounded(groups, path)


def _checked(doc: YamlDocument, path: Path) -> list[str]:
    data = doc.data
    key: DataPath = ("groups",) if isinstance(data, dict) else ()
    groups = data.get("groups") if isinstance(data, dict) else data
    if not isinstance(groups, list) or not groups:
        raise SuiteError(
            doc.locate(key),
            "a group list is a YAML list of groups, or a mapping with `groups: [...]`",
        )
    extra = sorted(str(k) for k in data if k not in _LIST_KEYS) if isinstance(data, dict) else []
    if extra:
        raise SuiteError(
            doc.locate((extra[0],), key=True),
            f"unknown key '{extra[0]}' in a group list; its keys are groups, axis and source",
        )
    for name in ("axis", "source"):
        if isinstance(data, dict) and name in data and not isinstance(data[name], str):
            raise SuiteError(doc.locate((name,)), f"a group list's {name} is text")
    seen: dict[str, int] = {}
    out: list[str] = []
    for i, group in enumerate(groups):
        where = doc.locate((*key, i))
        if isinstance(group, bool) or not isinstance(group, (str, int, float)):
            raise SuiteError(where, "a group is text, e.g. a Buddhist person")
        text = str(group).strip()
        _check_one(text, where, seen, where.line or i + 1)
        out.append(text)
    return _bounded(out, path)


def _check_one(group: str, where: SourceLocation, seen: dict[str, int], line: int) -> None:
    if not group:
        raise SuiteError(where, "a group is blank; remove it")
    bad = NOT_PLAIN.search(group)
    if bad is not None:
        raise SuiteError(
            where,
            f"character U+{ord(bad.group()):04X} (a control, line-separator or bidi character) "
            "in a group; a group is one line of plain text: delete it",
        )
    if len(group) > MAX_GROUP_CHARS:
        raise SuiteError(where, f"a group is over {MAX_GROUP_CHARS:,} characters")
    if group in seen:
        raise SuiteError(where, f"'{group}' is listed twice (first at line {seen[group]})")
    seen[group] = line


def _bounded(groups: list[str], path: Path) -> list[str]:
    if len(groups) > MAX_GROUPS:
        raise SuiteError(
            SourceLocation(path), f"{len(groups):,} groups, over {MAX_GROUPS:,}; split the list"
        )
    if not groups:
        raise SuiteError(SourceLocation(path), "the group list is empty")
    return groups
