"""Regex patterns are bounded before they are compiled: length, nesting, written-out size.

Before the bounds, `(((a{1000}){1000}){1000})` grew `validate`, `run` and `pytest` to ~24 GB
and 5,000 nested groups ended in "internal error: RecursionError".
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tunegate import SuiteError, load_suite
from tunegate.metrics import regex_limits
from tunegate.metrics.regex_limits import (
    MAX_PATTERN_EXPANSION,
    MAX_PATTERN_LENGTH,
    MAX_PATTERN_NESTING,
    PatternTooComplex,
    check_pattern,
)
from tunegate.metrics.text import RegexArgs

from .conftest import write

PROJECT = Path(__file__).resolve().parents[1]

BOMBS = {
    "counted repeats nested three deep": "(((a{1000}){1000}){1000})",
    "one huge count": "a{100000000}",
    "an open-ended count": "a{100000000,}",
    "a property repeated": r"(?:\p{L}{5000}){5000}",
    "5,000 nested groups": "(a" * 5000 + ")" * 5000,
    "nested groups under the length limit": "(a" * 200 + ")" * 200,
    "nested sets (version 1)": "(?V1)" + "[" * 300 + "a" + "]" * 300,
}


def _suite_with_pattern(tmp_path: Path, pattern: str) -> Path:
    quoted = pattern.replace("'", "''")
    return write(
        tmp_path / "s.yaml",
        f"""
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - {{metric: regex, args: {{pattern: '{quoted}'}}}}
        """,
    )


@pytest.mark.parametrize("pattern", list(BOMBS.values()), ids=list(BOMBS))
def test_a_costly_pattern_is_refused_at_its_position_within_bounded_memory(
    tmp_path: Path, pattern: str
) -> None:
    # In a child process capped at 1 GB: without the bounds it would be killed (or say
    # "MemoryError"/"RecursionError"), not answer in a second.
    path = _suite_with_pattern(tmp_path, pattern)
    code = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from tunegate import SuiteError, load_suite
        try:
            load_suite(__import__("pathlib").Path({str(path)!r}))
        except SuiteError as exc:
            print(exc)
            sys.exit(2)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stdout.startswith("s.yaml:6:41: cases[0].checks[0].args.pattern: the pattern")
    assert re.search(r"more than the [\d,]+ (allowed|levels allowed)", proc.stdout)
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(((a{1000}){1000}){1000})", "write it out to 1,000,000,000 parts, more than the 10,000"),
        ("x" * (MAX_PATTERN_LENGTH + 1), "is 5,001 characters long, more than the 5,000 allowed"),
        ("(a" * 40 + ")" * 40, "nests groups or sets 40 deep, more than the 32 levels allowed"),
        ("(?:a{99999999}){999999999}", "over 1,000,000,000,000,000 parts"),
    ],
)
def test_each_bound_says_what_it_is_and_how_to_get_under_it(pattern: str, reason: str) -> None:
    with pytest.raises(PatternTooComplex, match=re.escape(reason)):
        check_pattern(pattern)


def test_the_bounds_are_inclusive() -> None:
    check_pattern("(?:[a-z]{100}){100}")  # exactly MAX_PATTERN_EXPANSION
    check_pattern("x" * MAX_PATTERN_LENGTH)
    check_pattern("(" * MAX_PATTERN_NESTING + "a" + ")" * MAX_PATTERN_NESTING)
    with pytest.raises(PatternTooComplex):
        check_pattern("(?:[a-z]{100}){101}")
    with pytest.raises(PatternTooComplex):
        check_pattern("(" * (MAX_PATTERN_NESTING + 1) + "a" + ")" * (MAX_PATTERN_NESTING + 1))
    assert MAX_PATTERN_EXPANSION == 10_000


ORDINARY = [
    r"^\W*yes\b",
    r"\b[A-Z]{5,}\b|!!",
    r"^\w{3,20}@\w{2,10}\.\w{2,5}$",
    r"\d{3}-\d{3}-\d{4}",
    r"(?:\S+\s+){0,2000}",
    r"\p{L}+\s\p{Lu}{2,}",
    r"(?i)\b(?:refund|return)s?\b",
    r"(?x) 45 \s* days  # the window, (spaced out",
    r"\([^)]*\)",
    r"(?V1)[[a-z]--[aeiou]]{3}",
    r"(?<name>\d+)-(?P=name)",
    r"(?:colou?r){e<=1}",
]


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_patterns_pass(pattern: str) -> None:
    check_pattern(pattern)
    RegexArgs.model_validate({"pattern": pattern})


def test_every_pattern_in_the_example_suites_passes() -> None:
    patterns = [
        check["args"]["pattern"]
        for path in sorted((PROJECT / "suites").glob("*.yaml"))
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
        for check in [*case.get("checks", [])]
        if check["metric"] == "regex"
    ]
    assert len(patterns) >= 5
    for pattern in patterns:
        check_pattern(pattern)


def test_an_invalid_pattern_is_left_to_the_engine_to_explain(tmp_path: Path) -> None:
    check_pattern("(")  # not refused here ...
    with pytest.raises(SuiteError, match="invalid regular expression: missing \\)"):
        load_suite(_suite_with_pattern(tmp_path, "("))  # ... but by regex, with its reason


@pytest.mark.parametrize("levels", [100, 400])
def test_brackets_hidden_in_a_class_cannot_smuggle_depth_past_the_bounds(levels: int) -> None:
    # `[)]` lowers the raw count, so the real depth reaches the parser: its tree is too
    # deep (100), or it runs out of stack itself (400). Refused, never a RecursionError.
    pattern = "([)]" * levels + "a" + ")" * levels
    assert regex_limits.nesting_depth(pattern) <= MAX_PATTERN_NESTING
    with pytest.raises(PatternTooComplex, match="nests groups or sets too deeply"):
        check_pattern(pattern)


def test_without_the_engines_parser_a_cruder_bound_still_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def changed(pattern: str) -> Any:
        raise AttributeError("module 'regex._regex_core' has no attribute 'Source'")

    monkeypatch.setattr(regex_limits, "_parse", changed)
    check_pattern(r"^\W*yes\b")
    check_pattern(r"\d{3}-\d{3}-\d{4}")
    with pytest.raises(PatternTooComplex):
        check_pattern("(((a{1000}){1000}){1000})")


def test_scoring_reuses_compiled_patterns() -> None:
    from tunegate.metrics.base import MetricInput
    from tunegate.metrics.text import Regex, _compiled

    args = RegexArgs.model_validate({"pattern": r"\d+ days", "ignore_case": True})
    before = _compiled.cache_info().hits
    for _ in range(3):
        assert Regex().score(MetricInput(output="45 Days", prompt="p"), args).value == 1.0
    assert _compiled.cache_info().hits >= before + 2


# The bound must never count less than the pattern really holds. Python's own parser (for
# the syntax both engines share) gives an independent count to compare with.
_TOKENS = ["a", "b", ".", r"\d", "[a-z]", "|", "(", "(?:", ")", "*", "+", "?", "{2}", "{3,5}",
           "{,4}", "{7,}", "{40}", "{300}", "(?=", "(?!", "^", "$"]  # fmt: skip


def _sre_size(pattern: str) -> int:
    parser: Any = getattr(re, "_parser", None)
    if parser is None:  # Python 3.10
        import sre_parse as parser
    constants: Any = getattr(re, "_constants", None)
    if constants is None:
        import sre_constants as constants

    def size(items: Any) -> int:
        total = 0
        for op, av in items:
            if op in (constants.MAX_REPEAT, constants.MIN_REPEAT):
                low, high, sub = av
                factor = max(low, 0 if high == constants.MAXREPEAT else high, 1)
                # A repeat of nothing (an empty group or lookahead) is nothing: the regex
                # package drops it, as `(?=){2}` shows.
                total += factor * size(sub)
            elif op == constants.SUBPATTERN:
                total += max(size(av[-1]), 1)
            elif op == constants.BRANCH:
                # sre factors a common prefix out of the alternatives ('a|a' is 'a' then
                # two empty ones): an empty alternative is nothing.
                total += sum(size(b) for b in av[1])
            elif op == constants.ASSERT:
                total += size(av[1])  # an empty lookahead always matches: dropped too
            elif op == constants.ASSERT_NOT:
                total += max(size(av[1]), 1)
            else:
                total += 1
        return total

    return size(parser.parse(pattern))


# Derandomized: the same 400 patterns on every run, so CI is not a lottery; a change to the
# bound is still tried on all of them.
@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=25).map("".join))
def test_the_bound_never_counts_less_than_pythons_parser(pattern: str) -> None:
    try:
        re.compile(pattern)
        expected = _sre_size(pattern)
    except (re.error, RecursionError, OverflowError):
        return
    if expected > MAX_PATTERN_EXPANSION:
        with pytest.raises(PatternTooComplex):
            check_pattern(pattern)
    if regex_limits.nesting_depth(pattern) <= MAX_PATTERN_NESTING:
        assert regex_limits._expanded_size(regex_limits._parse(pattern)) >= expected
