"""Bounds a regular expression must meet before the `regex` package compiles it.

Compiling is where patterns blow up, before any match timeout can help: `regex` writes
each counted repetition out, so `a{1000000}` takes about 270 MB and
`(((a{1000}){1000}){1000})` more memory than a machine has; its parser is recursive, so
thousands of nested groups end in a RecursionError. Both are refused here, with a reason
a suite author can act on, by looking at the pattern without compiling it:

1. its length;
2. how deeply its brackets nest, counted on the raw text (cheap, no recursion), so that
   the parser below never runs out of stack on an ordinary call stack;
3. its size once counted repetitions are written out, read off the parse tree of `regex`'s
   own parser (exactly the syntax the engine accepts: `\\p{L}`, nested sets, verbose mode),
   which builds `X{m,n}` as one node with its counts and never expands it.

The parse tree comes from `regex`'s internal parser. Should a later `regex` release change
it, a cruder bound that needs no parser takes over (length times the product of every count
in the text): it may refuse more, never less.
"""

from __future__ import annotations

import re
from typing import Any

import regex

try:  # the engine's own parser; see the module docstring for the fallback
    from regex import _regex_core
except ImportError:  # pragma: no cover - depends on the installed regex release
    _regex_core = None

__all__ = [
    "MAX_PATTERN_EXPANSION",
    "MAX_PATTERN_LENGTH",
    "MAX_PATTERN_NESTING",
    "PatternTooComplex",
    "check_pattern",
]

MAX_PATTERN_LENGTH = 5_000
# regex's parser uses about five Python frames per level and fails near 200 levels on an
# empty stack; 32 leaves room for a deep caller (pytest collection) and is far beyond
# what a readable pattern needs.
MAX_PATTERN_NESTING = 32
# A group level is about two nodes of regex's tree (the group, its sequence); compiling
# recurses over the tree, so it is bounded too, for nesting the raw count cannot see.
_MAX_TREE_DEPTH = 4 * MAX_PATTERN_NESTING + 8
# Written-out parts. At this size a compile takes a few milliseconds and about 2 MB;
# `(?:[a-z]{100}){100}` is exactly 10,000.
MAX_PATTERN_EXPANSION = 10_000
# Sizes are only compared with the limit; capping them keeps the arithmetic and the
# message small whatever the counts (a count may be up to 4,294,967,294).
_CAP = 10**15


class PatternTooComplex(ValueError):
    """Too costly to compile; the message names the bound and how to get under it."""


def check_pattern(pattern: str) -> None:
    """Raise PatternTooComplex when compiling `pattern` could exhaust memory or the stack.

    An invalid pattern passes: `regex.compile` then says what is wrong with it, and where.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternTooComplex(
            f"the pattern is {len(pattern):,} characters long, more than the "
            f"{MAX_PATTERN_LENGTH:,} allowed; shorten it or split it over several checks"
        )
    depth = nesting_depth(pattern)
    if depth > MAX_PATTERN_NESTING:
        raise _too_deep(depth)
    try:
        size, tree_depth = _measure(_parse(pattern))
    except RecursionError:  # brackets hidden from the raw count (in a class or a comment)
        raise _too_deep(None) from None
    except regex.error:
        return
    except Exception:  # regex's internal parser changed: use the cruder bound
        size, tree_depth = _crude_size(pattern), 0
    if tree_depth > _MAX_TREE_DEPTH:  # the same, found by the parser: ( [)] ( [)] ...
        raise _too_deep(None)
    if size > MAX_PATTERN_EXPANSION:
        shown = f"{size:,}" if size < _CAP else f"over {_CAP:,}"
        raise PatternTooComplex(
            f"the pattern's counted repetitions ({{m}} or {{m,n}}; nested ones multiply) write "
            f"it out to {shown} parts, more than the {MAX_PATTERN_EXPANSION:,} allowed; "
            "use smaller counts, + or * instead of a count, or a length check for long text"
        )


def _too_deep(depth: int | None) -> PatternTooComplex:
    how = f"{depth} deep" if depth is not None else "too deeply"
    return PatternTooComplex(
        f"the pattern nests groups or sets {how}, more than the {MAX_PATTERN_NESTING} levels "
        "allowed; flatten it (a group inside a group inside ... can usually be one group)"
    )


def nesting_depth(pattern: str) -> int:
    """The deepest nesting of unescaped ( and [ in the raw text.

    Not the parser's reading (a `(` inside a class counts too): it only has to be cheap
    and keep the recursive parser from running out of stack. A closing bracket never
    takes the count below zero, so `[)]` cannot hide the groups that follow it.
    """
    depth = deepest = 0
    escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth = max(depth - 1, 0)
    return deepest


def _parse(pattern: str) -> Any:
    """regex's parse tree of `pattern`, as `regex.compile` builds it before compiling."""
    if _regex_core is None:  # pragma: no cover - depends on the installed regex release
        raise LookupError("regex's parser is not available")
    flags = 0
    while True:  # a global inline flag such as (?x) makes regex parse again from the start
        source = _regex_core.Source(pattern)
        info = _regex_core.Info(flags, source.char_type, {})
        source.ignore_space = bool(info.flags & regex.VERBOSE)
        try:
            return _regex_core._parse_pattern(source, info)
        except _regex_core._UnscopedFlagSet:
            flags = info.global_flags


def _measure(tree: Any) -> tuple[int, int]:
    """The tree's written-out size (see _expanded_size) and its depth in nodes."""
    return _expanded_size(tree), _tree_depth(tree)


def _tree_depth(tree: Any) -> int:
    base = _regex_core.RegexBase
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > _MAX_TREE_DEPTH:
            break
        for value in vars(node).values():
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, base):
                    stack.append((child, depth + 1))
    return deepest


def _expanded_size(tree: Any) -> int:
    """Leaves (characters, sets, properties...) of the tree once every repeat is written
    out with its largest count: `a{3}b` is 4, `(?:[a-z]{100}){100}` is 10,000.

    Iterative (post-order over an explicit stack): the tree is as deep as the pattern.
    """
    base = _regex_core.RegexBase
    sizes: dict[int, int] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(tree, False)]
    while stack:
        node, children_done = stack.pop()
        children = [
            child
            for value in vars(node).values()
            for child in (value if isinstance(value, list) else [value])
            if isinstance(child, base)
        ]
        if not children_done:
            if id(node) not in seen:  # a node met again (shared, or a cycle) is sized once
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in children)
            continue
        inner = max(sum(sizes.get(id(child), 1) for child in children), 1)
        counts = [getattr(node, "min_count", None), getattr(node, "max_count", None)]
        factor = max((c for c in counts if isinstance(c, int)), default=1)
        sizes[id(node)] = min(max(factor, 1) * inner, _CAP)
    return sizes[id(tree)]


_COUNT = re.compile(r"\{\s*([0-9]*)\s*(?:,\s*([0-9]*)\s*)?\}")


def _crude_size(pattern: str) -> int:
    """An upper bound that needs no parser: each part written out at most the product of
    all counts in the text."""
    size = max(len(pattern), 1)
    for match in _COUNT.finditer(pattern):
        factor = max((int(n) if len(n) < 16 else _CAP for n in match.groups() if n), default=1)
        size = min(size * max(factor, 1), _CAP)
    return size
