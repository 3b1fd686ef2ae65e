from __future__ import annotations

from pathlib import Path

import pytest

from tunegate import SuiteError, load_suite, load_suites
from tunegate.suite import suite_json_schema

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
    assert [c.name for c in refund.checks] == ["contains", "length"]
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
        "typo in a case key",
        """
        name: demo
        cases:
          - id: a
            prompt: p
            refrence: x
        """,
        "s.yaml:5:5: unknown key 'refrence' (did you mean 'reference'?); allowed keys: "
        "checks, context, id, messages, params, prompt, reference, repeats, system, tags, vars",
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
        "missing ), unterminated subpattern",
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
        "s.yaml:3:33: 'three' is not a valid !!int; remove the tag or fix the value",
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


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("name: bomb\ncases: *a8")
    path = write(tmp_path / "s.yaml", "\n".join(lines) + "\n")
    with pytest.raises(SuiteError, match=r"^s.yaml: expands to more than 2,000,000 values"):
        load_suite(path)


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
