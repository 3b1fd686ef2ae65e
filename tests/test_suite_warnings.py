"""Warnings: suites that load but will surely not do what was meant, with file:line."""

from __future__ import annotations

from pathlib import Path

from tunegate import load_suite
from tunegate.errors import SourceLocation
from tunegate.suite import SuiteWarning

from .conftest import write


def warnings_of(tmp_path: Path, text: str) -> list[str]:
    return [str(w) for w in load_suite(write(tmp_path / "s.yaml", text)).warnings]


def test_a_field_in_a_case_without_vars_is_sent_literally(tmp_path: Path) -> None:
    found = warnings_of(
        tmp_path,
        """
        name: demo
        cases:
          - id: a
            prompt: "{group} wants to join. Can {pronoun} join?"
          - id: b
            messages:
              - {role: user, content: "Hello {name}"}
            reference: "{ok}"
        """,
    )
    assert found == [
        "s.yaml:4:13: warning: {group}, {pronoun} is sent to the model as written in case 'a', "
        "which has no vars; define them under vars, or double the braces ({{group}}) to mean "
        "them literally",
        "s.yaml:7:31: warning: {name} is sent to the model as written in case 'b', which has no "
        "vars; define it under vars, or double the braces ({{name}}) to mean them literally",
        "s.yaml:8:16: warning: {ok} is sent to the model as written in case 'b', which has no "
        "vars; define it under vars, or double the braces ({{ok}}) to mean them literally",
    ]


def test_a_field_in_the_default_system_prompt_is_named_once(tmp_path: Path) -> None:
    found = warnings_of(
        tmp_path,
        """
        name: demo
        defaults:
          system: "You help {customer}."
        cases:
          - {id: a, prompt: p}
          - {id: b, prompt: q}
          - {id: c, prompt: "{customer}", vars: {customer: [x]}}
        """,
    )
    assert found == [
        "s.yaml:3:11: warning: {customer} is sent to the model as written in cases without "
        "vars; define it under vars, or double the braces ({{customer}}) to mean them literally"
    ]


def test_doubled_braces_silence_the_warning_and_send_one_brace(tmp_path: Path) -> None:
    suite = load_suite(
        write(
            tmp_path / "s.yaml",
            """
            name: demo
            cases:
              - {id: a, prompt: "Fill in {{name}}, keep {x: 1} and a{2}"}
            """,
        )
    )
    assert suite.warnings == ()
    assert suite.cases[0].prompt == "Fill in {name}, keep {x: 1} and a{2}"


def test_template_context_on_a_case_without_context(tmp_path: Path) -> None:
    suite = load_suite(
        write(
            tmp_path / "s.yaml",
            """
            name: demo
            defaults:
              template: "Policy: {context}\\nQuestion: {prompt}"
            cases:
              - {id: has, prompt: p, context: c}
              - id: lacks
                prompt: p
              - {id: empty-on-purpose, prompt: p, context: ""}
              - {id: chat, messages: [{role: user, content: hi}]}
            """,
        )
    )
    assert suite.warnings == (
        SuiteWarning(
            SourceLocation(tmp_path / "s.yaml", 6, 5),
            "case 'lacks' has no context, but defaults.template (line 3) uses {context}, so "
            'the model gets an empty one; give the case a context (or write context: "" if it '
            "is meant to be empty)",
        ),
    )
    assert str(suite.warnings[0]).startswith("s.yaml:6:5: warning: case 'lacks' has no context")


def test_one_warning_per_template_not_per_expansion(tmp_path: Path) -> None:
    found = warnings_of(
        tmp_path,
        """
        name: demo
        defaults:
          template: "{context} {prompt}"
        cases:
          - {id: a, prompt: "{g}", vars: {g: [x, y, z]}}
        """,
    )
    assert len(found) == 1 and found[0].startswith("s.yaml:5:5: warning: case 'a' has no context")


def test_the_example_suites_have_no_warnings() -> None:
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "suites").glob("*.yaml")):
        assert load_suite(path).warnings == (), path


def test_braces_that_look_like_a_field_but_are_not_a_name(tmp_path: Path) -> None:
    # Before: sent to the model literally, without a word, even in a case with vars.
    found = warnings_of(
        tmp_path,
        """
        name: demo
        defaults:
          template: "{prompt} { context }"
          system: "Answer as {brand name}."
        cases:
          - id: a
            prompt: "{g} said {g.__class__} and {a b}"
            context: "{g!r} {{g.__class__}} {} {2,3} {\\"json\\": 1} {x: 1} {x:>10}"
            vars: {g: [x, y]}
          - {id: b, prompt: "{x[0]}", context: c}
        """,
    )
    assert found == [
        "s.yaml:3:13: warning: { context } is sent to the model as written: a template field "
        "is a variable name (letters, digits and _), which this is not; double the braces "
        "({{ context }}) to mean them literally",
        "s.yaml:4:11: warning: {brand name} is sent to the model as written: a template field "
        "is a variable name (letters, digits and _), which this is not; double the braces "
        "({{brand name}}) to mean them literally",
        "s.yaml:7:13: warning: {g.__class__} is sent to the model as written: a template field "
        "is a variable name (letters, digits and _), which this is not; double the braces "
        "({{g.__class__}}) to mean them literally, or write {g} for the variable",
        "s.yaml:7:13: warning: {a b} is sent to the model as written: a template field is a "
        "variable name (letters, digits and _), which this is not; double the braces "
        "({{a b}}) to mean them literally",
        "s.yaml:8:14: warning: {g!r} is sent to the model as written: a template field is a "
        "variable name (letters, digits and _), which this is not; double the braces "
        "({{g!r}}) to mean them literally, or write {g} for the variable",
        "s.yaml:10:21: warning: {x[0]} is sent to the model as written: a template field is a "
        "variable name (letters, digits and _), which this is not; double the braces "
        "({{x[0]}}) to mean them literally",
    ]


def test_fields_in_any_script_are_fields(tmp_path: Path) -> None:
    suite = load_suite(
        write(
            tmp_path / "s.yaml",
            "name: demo\ncases:\n"
            '  - {id: a, prompt: "{группа} {名前}", vars: {группа: [x], 名前: [y]}}\n',
        )
    )
    assert suite.cases[0].prompt == "x y" and suite.warnings == ()
