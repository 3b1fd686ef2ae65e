"""Fuzz the loader: whatever the bytes, it loads or raises tunegate's own error.

Three sources: random bytes, YAML-ish text built from the syntax that breaks parsers
(anchors, merges, tags, escapes, control characters), and mutations of a valid suite.
Both YAML parsers are exercised: libyaml's and PyYAML's pure-Python one. Then two targeted
ones: regex patterns built from regex syntax (compile bombs included), under a memory cap,
and vars values in any script, whose case ids must be exactly the values' slugs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunegate import SuiteError, TunegateError, load_suite
from tunegate.suite import yaml_source
from tunegate.suite.case_ids import slug

FUZZ = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

LOADERS = [
    pytest.param(getattr(yaml, "CSafeLoader", yaml.SafeLoader), id="libyaml"),
    pytest.param(yaml.SafeLoader, id="pure-python"),
]


def load_only_own_errors(path: Path, data: bytes, loader: type[Any]) -> None:
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yaml_source, "_SAFE_LOADER", loader)
        try:
            suite = load_suite(path)
        except TunegateError as exc:
            assert str(exc).startswith("s.yaml"), str(exc)  # every error names the file
            return
    for case in suite.cases:  # what loads is usable text, storable as UTF-8
        for _, content in case.messages:
            content.encode("utf-8")


@pytest.mark.parametrize("loader", LOADERS)
@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(tmp_path: Path, loader: type[Any], data: bytes) -> None:
    load_only_own_errors(tmp_path / "s.yaml", data, loader)


TOKENS = [
    "name", "cases", "defaults", "gate", "id", "prompt", "messages", "context", "reference",
    "system", "checks", "metric", "args", "text", "pattern", "threshold", "weight", "vars",
    "template", "params", "repeats", "tags", "max_cases", "allow_empty_output", "role",
    "content", "user", "contains", "regex", "exact", "length", "not_contains", "non_empty",
    "min_pass_rate", "max", "timeout", "a", "b", "x",
    ": ", ":", "- ", "-", "\n", "\n  ", "\n    ", "  ", " ", "{", "}", "[", "]", ", ", ",",
    "&a ", "*a", "&b ", "*b", "<<: ", "<<", "!!int ", "!!str ", "!!float ", "!!binary ",
    "!!python/object:os.system ", "!tag ", "? ", "|\n  ", ">-\n  ", "---\n", "...\n", "#",
    '"', "'", '"\\ud83d"', '"\\U0001F600"', '"\\x00"', "\\", "{x}", "{{", "}}", "{group}",
    ".nan", ".inf", "-.inf", "1e999", "-1", "0", "1", "1.5", "99999999999999999999",
    "true", "no", "null", "~", "2024-01-01", "\x00", "\x1b", "\t", "\r", "\ufeff", "é",
    "\u2028", "\x85", "%YAML 1.1\n", "(", "(a|a)+$",
    "010", "-007", "0o17", "0x1F", "1:30", "1_000", "1e3", "yes", "Off", '"0.5"', "'true'",
    "{a b}", "{g.__class__}", "{x[0]}", "a b", "женщина", "José", "女性", "(a{1000}){1000}",
]  # fmt: skip


@pytest.mark.parametrize("loader", LOADERS)
@FUZZ
@given(parts=st.lists(st.sampled_from(TOKENS), max_size=60))
def test_yaml_ish_text(tmp_path: Path, loader: type[Any], parts: list[str]) -> None:
    text = "".join(parts)
    load_only_own_errors(tmp_path / "s.yaml", text.encode("utf-8", "surrogatepass"), loader)


VALID: dict[str, Any] = {
    "name": "demo",
    "defaults": {
        "system": "Be brief.",
        "template": "Policy: {context}\nQ: {prompt}",
        "params": {"temperature": 0, "max_tokens": 32, "seed": 3},
        "checks": [{"metric": "length", "args": {"max": 50, "unit": "words"}}],
    },
    "gate": {"min_pass_rate": 0.5},
    "cases": [
        {
            "id": "refund",
            "prompt": "How long?",
            "context": "45 days.",
            "reference": "45 days",
            "tags": ["refunds"],
            "checks": [{"metric": "contains", "args": {"text": "45"}, "threshold": 1.0}],
        },
        {
            "id": "eligible",
            "prompt": "{group} asks.",
            "context": "Everyone can.",
            "vars": {"group": ["A woman", "A man"]},
            "checks": [{"metric": "regex", "args": {"pattern": "^{group}"}}],
        },
        {
            "id": "chat",
            "messages": [{"role": "user", "content": "Hi"}],
            "repeats": 2,
        },
    ],
}

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["{group}", "{nope}", "(", "", "{{", "contains", "regex", "-1"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(data: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*here, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, (*here, i))
    return found


texts = st.text(max_size=12) | st.sampled_from(
    ["{group}", "{nope}", "{{group}}", "(", "", " ", "\x1b[2J", "a{2}", "\\p{L}", "(a|a)+$",
     "(((a{1000}){1000}){1000})", "(a" * 300 + ")" * 300, "{g.__class__}", "{a b}", "José",
     "женщина", "0.5", "yes"]
)  # fmt: skip
numbers = st.integers(-(10**20), 10**20) | st.floats() | st.sampled_from([0, -1, 1, 0.5, 101])


def _like(draw: st.DrawFn, original: Any) -> Any:
    """A value of the same shape as `original`, so mutations get past the schema."""
    if isinstance(original, bool):
        return draw(st.booleans() | texts)
    if isinstance(original, (int, float)):
        return draw(numbers)
    if isinstance(original, str):
        return draw(texts)
    if isinstance(original, list) and original:
        return [_like(draw, original[0]) for _ in range(draw(st.integers(0, 4)))]
    if isinstance(original, dict) and original:
        changed = dict(original)
        key = draw(st.sampled_from(sorted(original)))
        changed[key] = _like(draw, original[key])
        return changed
    return draw(values)


@st.composite
def mutated_suites(draw: st.DrawFn) -> Any:
    suite = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(suite) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = suite
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["like", "like", "like", "replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            key = draw(st.sampled_from(["allow_empty_output", "max_cases", "vars", "x"]))
            parent[key] = draw(values)
        elif action == "like":
            parent[path[-1]] = _like(draw, parent[path[-1]])
        else:
            parent[path[-1]] = draw(values)
    return suite


@pytest.mark.parametrize("loader", LOADERS[:1])
@FUZZ
@given(suite=mutated_suites())
def test_mutations_of_a_valid_suite(tmp_path: Path, loader: type[Any], suite: Any) -> None:
    text = yaml.safe_dump(suite, allow_unicode=True, sort_keys=False)
    load_only_own_errors(tmp_path / "s.yaml", text.encode("utf-8", "surrogatepass"), loader)


@contextlib.contextmanager
def memory_capped(extra: int = 2 << 30) -> Iterator[None]:
    """Address space limited to what the process has now plus `extra`, so a pattern that
    slipped past the bounds fails this test with MemoryError instead of exhausting the
    machine. The soft limit is put back afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        used = int(statm.read().split()[0]) * resource.getpagesize()
    cap = used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


REGEX_TOKENS = [
    "a", "b", ".", "\\d", "\\w", "\\p{L}", "\\X", "[a-z]", "[", "]", "^", "$", "|", "(",
    "(?:", "(?>", "(?=", "(?<=", "(?i)", "(?x)", "(?V1)", "(?#c)", ")", "*", "+", "?", "*?",
    "++", "{2}", "{3,5}", "{,9}", "{7,}", "{1000}", "{65535}", "{1,1000}", "{e<=1}", "\\",
    "#", " ", "\n", "(?1)", "(?R)", "\\1", "{g}",
]  # fmt: skip


QUANTIFIERS = ["", "", "*", "+?", "{2}", "{3,5}", "{7,}", "{1000}", "{65535}", "{1,1000}", "{e<=1}"]
ATOMS = ["a", ".", "\\d", "\\p{L}", "[a-z]", "\\X", "(?1)", "{g}", "\\1"]


def _group(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda opener, parts, joiner, quantifier: f"{opener}{joiner.join(parts)}){quantifier}",
        st.sampled_from(["(", "(?:", "(?>", "(?=", "(?i:", "(?V1)("]),
        st.lists(inner, min_size=1, max_size=3),
        st.sampled_from(["", "|"]),
        st.sampled_from(QUANTIFIERS),
    )


# Well-formed nesting, where counted repeats multiply (the compile bombs), and token soup
# for the syntax's corners.
regex_patterns = (
    st.recursive(
        st.builds(lambda atom, q: atom + q, st.sampled_from(ATOMS), st.sampled_from(QUANTIFIERS)),
        _group,
        max_leaves=12,
    )
    | st.lists(st.sampled_from(REGEX_TOKENS), max_size=40).map("".join)
    | st.text(max_size=30)
)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc to cap memory")
@settings(FUZZ, max_examples=500)
@given(pattern=regex_patterns)
def test_regex_patterns(tmp_path: Path, pattern: str) -> None:
    # Loading compiles the pattern (after `{g}` is filled); bombs must be refused first.
    suite = {
        "name": "re",
        "cases": [
            {
                "id": "a",
                "prompt": "{g}",
                "vars": {"g": ["x", "(a|a)+"]},
                "checks": [{"metric": "regex", "args": {"pattern": pattern}}],
            }
        ],
    }
    text = json.dumps(suite, ensure_ascii=True)  # JSON is YAML, and keeps the text exact
    path = tmp_path / "s.yaml"
    with memory_capped():
        load_only_own_errors(path, text.encode("utf-8", "surrogatepass"), LOADERS[0].values[0])


# Any letter, mark, digit, punctuation, symbol or space of any script; not controls, format
# characters or line separators (which YAML folds inside quotes, changing the value).
var_values = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"),
        blacklist_characters="\ufeff\ufffe\uffff",
    ),
    max_size=10,
)


@pytest.mark.parametrize("loader", LOADERS)
@settings(FUZZ, max_examples=300)
@given(values=st.lists(var_values, min_size=1, max_size=5))
def test_vars_in_any_script(tmp_path: Path, loader: type[Any], values: list[str]) -> None:
    written = ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
    text = f'name: demo\ncases:\n  - {{id: a, prompt: "<{{g}}>", vars: {{g: [{written}]}}}}\n'
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    slugs = [slug(v) for v in values]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yaml_source, "_SAFE_LOADER", loader)
        if len(set(slugs)) < len(slugs):  # two values, one id: refused, naming both
            with pytest.raises(SuiteError, match=r"both give the case id|twice"):
                load_suite(path)
            return
        suite = load_suite(path)
    assert [c.id for c in suite.cases] == [f"a[{s}]" for s in slugs]
    assert [c.prompt for c in suite.cases] == [f"<{v}>" for v in values]
    assert all(s == "_" or s.strip("-") == s for s in slugs)
