from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tunegate import SuiteError, load_suite, load_suites
from tunegate.suite import suite_json_schema, yaml_source

from .conftest import write

GOOD = """
name: demo
defaults:
  system: Be brief.
  template: "Policy: {context}\\nQ: {prompt}"
  params: {temperature: 0, max_tokens: 32, seed: 3}
  checks:
    - metric: length
      args: {max: 50, unit: words}
gate:
  min_pass_rate: 0.5
cases:
  - id: refund
    prompt: How long do I have?
    context: 45 days.
    reference: 45 days
    tags: [refunds]
    checks:
      - metric: contains
        args: {text: "45"}
  - id: eligible
    prompt: "{group} asks about {thing}."
    context: Everyone can.
    vars:
      group: [A woman, A man]
      thing: [loyalty, rentals]
    checks:
      - metric: not_contains
        args: {text: "{group} cannot"}
  - id: chat
    messages:
      - {role: user, content: Hi}
      - {role: assistant, content: Hello}
      - {role: user, content: "Refund?"}
    repeats: 3
    params: {temperature: 0.7}
"""


def test_good_suite_expands_templates_and_inherits_defaults(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path / "s.yaml", GOOD))
    ids = [c.id for c in suite.cases]
    assert ids == [
        "refund",
        "eligible[a-woman/loyalty]",
        "eligible[a-woman/rentals]",
        "eligible[a-man/loyalty]",
        "eligible[a-man/rentals]",
        "chat",
    ]
    refund = suite.cases[0]
    assert refund.messages == (
        ("system", "Be brief."),
        ("user", "Policy: 45 days.\nQ: How long do I have?"),
    )
    assert [c.name for c in refund.checks] == ["contains", "length", "non_empty"]
    expanded = suite.cases[2]
    assert expanded.template_id == "eligible"
    assert expanded.vars == {"group": "A woman", "thing": "rentals"}
    assert expanded.prompt == "A woman asks about rentals."
    assert expanded.checks[0].args.text == "A woman cannot"  # type: ignore[attr-defined]
    chat = suite.cases[-1]
    assert chat.repeats == 3
    assert chat.params.temperature == 0.7 and chat.params.max_tokens == 32
    assert chat.prompt == "Refund?"
    assert suite.gate.min_pass_rate == 0.5


def test_list_of_mappings_vars_expand_one_case_each(tmp_path: Path) -> None:
    suite = load_suite(
        write(
            tmp_path / "s.yaml",
            """
            name: demo
            cases:
              - id: pair
                prompt: "{who} {does}"
                vars:
                  - {who: She, does: runs}
                  - {who: He, does: swims}
            """,
        )
    )
    assert [c.prompt for c in suite.cases] == ["She runs", "He swims"]


BAD_SUITES = [
    (
        "a var name that cannot be a field",
        """
        name: demo
        cases:
          - id: a
            prompt: "{a b}"
            vars:
              a b: [x]
        """,
        "s.yaml:6:7: variable name 'a b' cannot be a template field; variable names are "
        "letters, digits and _, not starting with a digit (e.g. a_b, used as {a_b})",
    ),
    (
        "a var name with a dot, in a list of mappings",
        """
        name: demo
        cases:
          - id: a
            prompt: "{g}"
            vars:
              - {g: x, g.y: z}
        """,
        "s.yaml:6:16: variable name 'g.y' cannot be a template field",
    ),
    (
        "a var name starting with a digit",
        """
        name: demo
        cases:
          - {id: a, prompt: p, vars: {1st: [x]}}
        """,
        "s.yaml:3:31: variable name '1st' cannot be a template field; variable names are "
        "letters, digits and _, not starting with a digit (e.g. v_1st, used as {v_1st})",
    ),
    (
        "typo in a case key",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            refrence: x
        """,
        "s.yaml:5:5: unknown key 'refrence' (did you mean 'reference'?); allowed keys: "
        "allow_empty_output, bbq, checks, context, id, messages, pair, params, prompt, reference, "
        "repeats, system, tags, vars",
    ),
    (
        "unknown top-level key",
        """
        name: demo
        case:
          - id: a
        """,
        "s.yaml:2:1: unknown key 'case' (did you mean 'cases'?)",
    ),
    (
        "missing cases",
        """
        name: demo
        """,
        "s.yaml:1:1: missing required key 'cases' in the file",
    ),
    (
        "missing case id",
        """
        name: demo
        cases:
          - prompt: p
        """,
        "s.yaml:3:5: missing required key 'id' in cases[0]",
    ),
    (
        "wrong type for max_tokens",
        """
        name: demo
        defaults:
          params:
            max_tokens: lots
        cases:
          - {id: a, prompt: p}
        """,
        "s.yaml:4:17: defaults.params.max_tokens: Input should be a valid integer",
    ),
    (
        "out of range pass rate",
        """
        name: demo
        gate: {min_pass_rate: 1.5}
        cases:
          - {id: a, prompt: p}
        """,
        "s.yaml:2:23: gate.min_pass_rate: Input should be less than or equal to 1 (got 1.5)",
    ),
    (
        "duplicate case id",
        """
        name: demo
        cases:
          - {id: a, prompt: p}
          - {id: b, prompt: p}
          - {id: a, prompt: q}
        """,
        "s.yaml:5:10: duplicate case id 'a' (first used at line 3); case ids must be unique",
    ),
    (
        "unknown metric",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - metric: contain
        """,
        "s.yaml:6:17: unknown metric 'contain' (did you mean 'contains'?); available: ",
    ),
    (
        "unknown metric argument",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - metric: contains
                args: {txt: x}
        """,
        "s.yaml:7:16: unknown key 'txt' (did you mean 'text'?); allowed keys: ignore_case, mode, "
        "text",
    ),
    (
        "invalid regex",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - metric: regex
                args: {pattern: "(unclosed"}
        """,
        "s.yaml:7:25: cases[0].checks[0].args.pattern: invalid regular expression: "
        "missing ) at position 9",
    ),
    (
        "both prompt and messages",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            messages: [{role: user, content: hi}]
        """,
        "s.yaml:3:5: cases[0]: give exactly one of 'prompt' or 'messages'",
    ),
    (
        "bad message role",
        """
        name: demo
        cases:
          - id: a
            messages: [{role: robot, content: hi}]
        """,
        "s.yaml:4:23: cases[0].messages[0].role: Input should be 'system', 'user' or 'assistant'",
    ),
    (
        "unknown template variable",
        """
        name: demo
        cases:
          - id: a
            prompt: "{grup} asks"
            vars: {group: [x, y]}
        """,
        "s.yaml:4:13: unknown template variable '{grup}' (did you mean 'group'?); "
        "this case defines: group",
    ),
    (
        "empty var list",
        """
        name: demo
        cases:
          - id: a
            prompt: "{group}"
            vars: {group: []}
        """,
        "s.yaml:5:19: vars.group has no values; give a list",
    ),
    (
        "bad case id characters",
        """
        name: demo
        cases:
          - {id: "has space", prompt: p}
        """,
        "s.yaml:3:10: cases[0].id: String should match pattern",
    ),
    (
        "tag that cannot be a marker",
        """
        name: demo
        cases:
          - {id: a, prompt: p, tags: [needs-fix]}
        """,
        "s.yaml:3:30: cases[0].tags: tag 'needs-fix' must be an identifier",
    ),
    (
        "YAML syntax error",
        """
        name: demo
        cases:
          - {id: a, prompt: [unclosed
        """,
        "s.yaml:4:1: YAML syntax error: ",
    ),
    (
        "duplicate YAML key",
        """
        name: demo
        name: other
        cases:
          - {id: a, prompt: p}
        """,
        "s.yaml:2:1: duplicate key 'name' (each key may appear once)",
    ),
    (
        "python object tag is refused",
        """
        name: !!python/object/apply:os.system ["echo pwned"]
        cases:
          - {id: a, prompt: p}
        """,
        "s.yaml:1:7: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' "
        "(suites are plain data)",
    ),
    (
        "explicit tag on a value that does not fit it",
        """
        name: demo
        cases:
          - {id: a, prompt: p, repeats: !!int three}
        """,
        "s.yaml:3:33: 'three' is not a valid !!int; fix the value, remove the tag",
    ),
    (
        "top level is a list",
        """
        - id: a
        """,
        "s.yaml:1:1: a suite must be a mapping with keys such as 'name' and 'cases'",
    ),
    (
        "length bounds reversed",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - metric: length
                args: {min: 10, max: 2}
        """,
        "s.yaml:7:15: cases[0].checks[0].args: min (10) is greater than max (2)",
    ),
    (
        "unknown field in the default template",
        """
        name: demo
        defaults:
          template: "{promt}"
        cases:
          - {id: a, prompt: p}
        """,
        "s.yaml:3:13: unknown template field '{promt}' for case 'a'; available: prompt, context",
    ),
    (
        "vars that are not lists",
        """
        name: demo
        cases:
          - id: a
            prompt: "{x}"
            vars: {x: one}
        """,
        "s.yaml:5:11: cases[0].vars: each variable needs a list of values, e.g. group: [a, b]",
    ),
    (
        "a null value of a variable",
        """
        name: demo
        cases:
          - id: a
            prompt: "{x}"
            vars: {x: [one, null]}
        """,
        "s.yaml:5:21: cases[0].vars.x[1]: Input should be a valid string; it is empty (null): "
        "write the text, or quote it: 'null'",
    ),
    (
        "a nested list of values",
        """
        name: demo
        cases:
          - id: a
            prompt: "{x}"
            vars: {x: [[one, two]]}
        """,
        "s.yaml:5:16: cases[0].vars.x[0]: Input should be a valid string; write one text "
        "here, not a list",
    ),
    (
        "NaN threshold",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - {metric: contains, args: {text: x}, threshold: .nan}
        """,
        "s.yaml:6:56: .nan is not a usable number here",
    ),
    (
        "infinite weight",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - {metric: contains, args: {text: x}, weight: .inf}
        """,
        "s.yaml:6:53: .inf is not a usable number here",
    ),
    (
        "a number too large for a float",
        """
        name: demo
        defaults:
          params: {temperature: 1e999}
        cases:
          - {id: a, prompt: p}
        """,
        "s.yaml:3:25: 1e999 is too large for a number (the largest is about 1.8e308)",
    ),
    (
        "NaN written as text",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - {metric: contains, args: {text: x}, threshold: "nan"}
        """,
        "s.yaml:6:56: cases[0].checks[0].threshold: Input should be a valid number (got 'nan'); "
        "write a number",
    ),
    (
        "NaN as a var value",
        """
        name: demo
        cases:
          - id: a
            prompt: "{x}"
            vars: {x: [1, .nan]}
        """,
        "s.yaml:5:19: .nan is not a usable number here",
    ),
    (
        "threshold below the metric's range",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - {metric: contains, args: {text: x}, threshold: -1}
        """,
        "s.yaml:6:56: threshold -1 lies outside the values contains gives (0 to 1), so the "
        "check would pass or fail every output; use a threshold from 0 to 1",
    ),
    (
        "threshold above the metric's range",
        """
        name: demo
        defaults:
          checks: [{metric: length, args: {max: 5}, threshold: 1.5}]
        cases:
          - {id: a, prompt: p}
        """,
        "s.yaml:3:56: threshold 1.5 lies outside the values length gives (0 to 1)",
    ),
    (
        "a number where a text or list of texts goes",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - metric: contains
                args: {text: 45}
        """,
        "s.yaml:7:22: cases[0].checks[0].args.text: Input should be a valid string or a valid "
        "list (got 45)",
    ),
    (
        "a list item of the wrong type",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - metric: contains
                args: {text: [a, [b]]}
        """,
        "s.yaml:7:26: cases[0].checks[0].args.text[1]: Input should be a valid string",
    ),
    (
        "vars of the wrong shape",
        """
        name: demo
        cases:
          - id: a
            prompt: "{x}"
            vars: {x: [[nested]]}
        """,
        "s.yaml:5:16: cases[0].vars.x[0]: Input should be a valid string",
    ),
    (
        "contains with neither text nor reference",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - metric: contains
        """,
        "s.yaml:6:9: contains has no text to look for: set args.text or give the case a "
        "reference (as written, it fails every sample)",
    ),
    (
        "a default exact check on a case without reference",
        """
        name: demo
        defaults:
          checks: [{metric: exact}]
        cases:
          - {id: a, prompt: p, reference: r}
          - {id: b, prompt: p}
        """,
        "s.yaml:3:12: exact has nothing to compare with: set args.text or give the case a "
        "reference; case 'b' has none",
    ),
    (
        "not_contains with an empty text",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            checks:
              - {metric: not_contains, args: {text: ["as an ai", ""]}}
        """,
        "s.yaml:6:45: cases[0].checks[0].args.text: text must not be empty, nor hold an empty",
    ),
    (
        "a var that makes a check's pattern invalid",
        """
        name: demo
        cases:
          - id: a
            prompt: "{s}"
            vars: {s: [ok, "("]}
            checks:
              - {metric: regex, args: {pattern: "x{s}"}}
        """,
        "s.yaml:7:41: cases[0].checks[0].args.pattern: invalid regular expression: missing ) at "
        "position 2 (got 'x(') (with vars s='(')",
    ),
    (
        "a var that empties a check's text",
        """
        name: demo
        defaults:
          checks: [{metric: contains, args: {text: "{s}"}}]
        cases:
          - id: a
            prompt: "{s}"
            vars: {s: [""]}
        """,
        "s.yaml:3:44: defaults.checks[0].args.text: text must not be empty, nor hold an empty "
        "string (got '') (with vars s='')",
    ),
    (
        "vars that expand past max_cases",
        "name: demo\ncases:\n  - id: a\n    prompt: '{x}{y}{z}'\n    vars:\n"
        + "".join(f"      {c}: [{', '.join(f'{c}{i}' for i in range(100))}]\n" for c in "xyz"),
        "s.yaml:6:7: case 'a' makes 1,000,000 cases (100 × 100 × 100), which brings the suite to "
        "1,000,000, over its limit of 10,000 (max_cases); use fewer values, or raise the limit "
        "with `max_cases: 1000000` at the top of the suite",
    ),
    (
        "cases that together pass max_cases",
        """
        name: demo
        max_cases: 5
        cases:
          - {id: a, prompt: "{x}", vars: {x: [1, 2, 3]}}
          - {id: b, prompt: "{x}", vars: [{x: 1}, {x: 2}, {x: 3}]}
        """,
        "s.yaml:5:34: case 'b' makes 3 cases (3), which brings the suite to 6, over its limit of 5 "
        "(max_cases); use fewer values, or raise the limit with `max_cases: 6`",
    ),
    (
        "a max_cases beyond the hard limit",
        """
        name: demo
        max_cases: 2000000
        cases:
          - {id: a, prompt: p}
        """,
        "s.yaml:2:12: max_cases: Input should be less than or equal to 1000000",
    ),
    (
        "a key written twice beside a merge key",
        """
        name: demo
        cases:
          - &c1 {id: a, prompt: p}
          - {<<: *c1, id: b, id: c}
        """,
        "s.yaml:4:22: duplicate key 'id' (each key may appear once)",
    ),
    (
        "an alias to itself",
        """
        name: demo
        cases: &x [*x]
        """,
        "s.yaml:2:8: this anchor contains an alias to itself",
    ),
    (
        "vars rows with different keys",
        """
        name: demo
        cases:
          - id: a
            prompt: "{x}"
            vars:
              - {x: a}
              - {y: b}
        """,
        "s.yaml:7:9: every entry of vars needs the same keys (x)",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in BAD_SUITES], ids=[n for n, _, _ in BAD_SUITES]
)
def test_bad_suite_error_names_file_line_and_fix(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "s.yaml", text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).startswith(expected)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"^s.yaml:1:1: empty file"):
        load_suite(write(tmp_path / "s.yaml", "\n"))


def test_duplicate_suite_names_across_files(tmp_path: Path) -> None:
    write(tmp_path / "suites" / "a.yaml", "name: x\ncases: [{id: a, prompt: p}]\n")
    write(tmp_path / "suites" / "b.yaml", "name: x\ncases: [{id: a, prompt: p}]\n")
    with pytest.raises(SuiteError, match=r"suite name 'x' is also used by"):
        load_suites([tmp_path / "suites"])


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"^nope.yaml: no such file or directory$"):
        load_suites([Path("nope.yaml")])


def test_project_suites_are_valid_and_big_enough() -> None:
    root = Path(__file__).resolve().parents[1]
    suites = load_suites([root / "suites"])
    assert {s.name for s in suites} >= {"domain", "voice", "fairness"}
    assert sum(len(s.cases) for s in suites) >= 40


def test_schema_describes_the_format() -> None:
    schema = suite_json_schema()
    assert schema["title"] == "tunegate suite"
    assert set(schema["required"]) == {"name", "cases"}
    assert schema["additionalProperties"] is False


def test_yes_and_no_stay_text_as_in_yaml_1_2(tmp_path: Path) -> None:
    suite = load_suite(
        write(
            tmp_path / "s.yaml",
            """
            name: demo
            cases:
              - id: a
                prompt: "Is it open?"
                reference: no
                checks:
                  - {metric: exact, args: {text: yes, ignore_case: true}}
            """,
        )
    )
    assert suite.cases[0].reference == "no"
    assert suite.cases[0].checks[0].args.text == "yes"  # type: ignore[attr-defined]
    assert suite.cases[0].checks[0].args.ignore_case is True  # type: ignore[attr-defined]


def test_alias_bomb_is_refused_at_once_naming_the_anchor(tmp_path: Path) -> None:
    # 10^9 values once expanded; before, conversion ran for 19 s and 500 MB first.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("name: bomb\ncases: *a8")
    path = write(tmp_path / "s.yaml", "\n".join(lines) + "\n")
    started = time.perf_counter()
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert time.perf_counter() - started < 0.5
    assert str(info.value) == (
        "s.yaml:6:5: this value expands to 1,111,111 values through aliases, more than the "
        "1,000,000 a file may hold (an alias bomb?); use fewer aliases or split the file"
    )


def test_vars_limit_is_checked_before_expanding(tmp_path: Path) -> None:
    # 4 × 100 values ended in MemoryError; the count is known before anything is built.
    values = "[" + ", ".join(str(i) for i in range(100)) + "]"
    text = "name: demo\ncases:\n  - id: a\n    prompt: p\n    vars:\n"
    text += "".join(f"      {name}: {values}\n" for name in "abcd")
    started = time.perf_counter()
    with pytest.raises(SuiteError, match=r"makes 100,000,000 cases \(100 × 100 × 100 × 100\)"):
        load_suite(write(tmp_path / "s.yaml", text))
    assert time.perf_counter() - started < 0.5


def test_max_cases_can_be_raised(tmp_path: Path) -> None:
    values = "[" + ", ".join(str(i) for i in range(150)) + "]"
    text = "name: demo\nmax_cases: 22500\ncases:\n  - id: a\n    prompt: '{x}{y}'\n"
    text += f"    vars: {{x: {values}, y: {values}}}\n"
    assert len(load_suite(write(tmp_path / "s.yaml", text)).cases) == 22500


def test_merge_key_override_is_not_a_duplicate(tmp_path: Path) -> None:
    suite = load_suite(
        write(
            tmp_path / "s.yaml",
            """
            name: demo
            cases:
              - &c1 {id: a, prompt: p, tags: [x]}
              - {<<: *c1, id: b}
              - <<: [{id: z, prompt: first wins}, *c1]
                id: c
              - {<<: *c1, id: d}
            """,
        )
    )
    assert [(c.id, c.prompt, c.tags) for c in suite.cases] == [
        ("a", "p", ("x",)),
        ("b", "p", ("x",)),
        ("c", "first wins", ("x",)),
        ("d", "p", ("x",)),
    ]


BINARY_SUITES = [
    (
        "NUL byte",
        b'name: demo\ncases:\n  - {id: a, prompt: "x\x00y"}\n',
        "s.yaml:3:23: control character NUL (U+0000) is not allowed in YAML; delete it, or write "
        'it as the escape "\\x00" inside a double-quoted string',
    ),
    (
        "ESC byte after a multi-byte character",
        "name: demo\ncases:\n  - id: a\n    prompt: café \x1b[31mred\n".encode(),
        "s.yaml:4:18: control character ESC (U+001B) is not allowed in YAML",
    ),
    (
        "DEL",
        b"name: demo\x7f\ncases: []\n",
        "s.yaml:1:11: control character DEL (U+007F) is not allowed in YAML",
    ),
    (
        "a noncharacter",
        "name: demo\ncases:\n  - {id: a, prompt: \ufffe}\n".encode(),
        "s.yaml:3:21: character U+FFFE is not allowed in YAML; delete it",
    ),
    (
        "not UTF-8",
        b"name: demo\ncases:\n  - {id: a, prompt: caf\xe9}\n",
        "s.yaml:3:24: not UTF-8 text (byte 0xe9: invalid continuation byte); save the file as "
        "UTF-8",
    ),
]


@pytest.mark.parametrize(
    ("data", "expected"),
    [(d, e) for _, d, e in BINARY_SUITES],
    ids=[n for n, _, _ in BINARY_SUITES],
)
def test_unreadable_text_is_a_positioned_error(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(data)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).startswith(expected)


@pytest.mark.parametrize(
    ("loader", "where"),
    [(getattr(yaml, "CSafeLoader", yaml.SafeLoader), "3:27"), (yaml.SafeLoader, "3:21")],
    ids=["libyaml", "pure-python"],
)
def test_a_lone_surrogate_escape_never_reaches_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loader: type, where: str
) -> None:
    # PyYAML's own parser turns "\ud83d" into text that no UTF-8 store can hold.
    monkeypatch.setattr(yaml_source, "_SAFE_LOADER", loader)
    path = write(tmp_path / "s.yaml", 'name: demo\ncases:\n  - {id: a, prompt: "half \\ud83d"}\n')
    with pytest.raises(SuiteError, match=rf"^s.yaml:{where}: lone surrogate .*write the whole"):
        load_suite(path)


def test_a_folder_named_like_a_suite(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").mkdir()
    with pytest.raises(SuiteError, match=r"^x.yaml: is a folder, not a YAML file$"):
        load_suite(tmp_path / "x.yaml")


def test_absurd_nesting_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", "name: deep\ncases: " + "[" * 5000 + "]" * 5000 + "\n")
    # libyaml stops at its own depth limit; the pure-Python parser hits Python's.
    deep = (
        r"^s.yaml(:2:\d+)?: "
        r"(nested too deeply to be a suite|YAML syntax error: exceeded maximum nesting depth)$"
    )
    with pytest.raises(SuiteError, match=deep):
        load_suite(path)


def test_folder_without_suites(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SuiteError, match=r"^empty: no suite files"):
        load_suites([tmp_path / "empty"])


@pytest.mark.parametrize(
    "loader", [getattr(yaml, "CSafeLoader", yaml.SafeLoader), yaml.SafeLoader], ids=["c", "py"]
)
def test_reader_error_positions_agree_between_parsers(loader: type) -> None:
    # The pre-scan catches these first; the parser's own error is the fallback, and
    # libyaml counts bytes where PyYAML counts characters.
    text = "name: é\r\nb: ü \x1b\n"
    with pytest.raises(yaml.reader.ReaderError) as info:
        yaml.compose(text, Loader=loader)
    assert yaml_source._reader_error_position(text, info.value) == (2, 6)
