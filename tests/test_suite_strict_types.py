"""Suite models are strict: a boolean is true or false, a number is a number.

Before: `allow_empty_output: yes` (text in YAML 1.2) became True, and `min_pass_rate: "0.5"`
and `min_pass_rate: true` were accepted as numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegate import SuiteError, load_suite

from .conftest import write

WRONG = [
    (
        "allow_empty_output: yes",
        "defaults: {allow_empty_output: yes}",
        "s.yaml:2:32: defaults.allow_empty_output: Input should be a valid boolean (got 'yes'); "
        "write true or false (yes, no, on and off are text in YAML 1.2)",
    ),
    (
        "a quoted boolean",
        'defaults: {allow_empty_output: "true"}',
        "s.yaml:2:32: defaults.allow_empty_output: Input should be a valid boolean (got 'true'); "
        "write it without quotes: true",
    ),
    (
        "a number as a boolean",
        "defaults: {params: {logprobs: 1}}",
        "s.yaml:2:31: defaults.params.logprobs: Input should be a valid boolean (got 1); "
        "write true or false",
    ),
    (
        "a quoted number",
        'gate: {min_pass_rate: "0.5"}',
        "s.yaml:2:23: gate.min_pass_rate: Input should be a valid number (got '0.5'); "
        "write it without quotes: 0.5",
    ),
    (
        "a boolean as a number",
        "gate: {min_pass_rate: true}",
        "s.yaml:2:23: gate.min_pass_rate: Input should be a valid number (got True); "
        "write a number (true and false are booleans)",
    ),
    (
        "a quoted integer",
        'defaults: {repeats: "3"}',
        "s.yaml:2:21: defaults.repeats: Input should be a valid integer (got '3'); "
        "write it without quotes: 3",
    ),
    (
        "a fraction as an integer",
        "defaults: {params: {max_tokens: 64.5}}",
        "s.yaml:2:33: defaults.params.max_tokens: Input should be a valid integer (got 64.5)",
    ),
    (
        "a quoted number in a rule",
        'gate: {no_regression: {margin: "0.05"}}',
        "s.yaml:2:32: gate.no_regression.margin: Input should be a valid number (got '0.05'); "
        "write it without quotes: 0.05",
    ),
    (
        "a quoted number in a check",
        'defaults: {checks: [{metric: length, args: {max: 5}, threshold: "1"}]}',
        "s.yaml:2:65: defaults.checks[0].threshold: Input should be a valid number (got '1'); "
        "write it without quotes: 1",
    ),
    (
        "yes as a metric argument",
        "defaults: {checks: [{metric: contains, args: {text: x, ignore_case: yes}}]}",
        "s.yaml:2:69: defaults.checks[0].args.ignore_case: Input should be a valid boolean "
        "(got 'yes'); write true or false",
    ),
    (
        "a quoted metric argument",
        'defaults: {checks: [{metric: length, args: {max: "50"}}]}',
        "s.yaml:2:50: defaults.checks[0].args.max: Input should be a valid integer (got '50'); "
        "write it without quotes: 50",
    ),
]


@pytest.mark.parametrize(
    ("line", "expected"), [(line, e) for _, line, e in WRONG], ids=[n for n, *_ in WRONG]
)
def test_a_loose_value_is_refused_with_its_position_and_fix(
    tmp_path: Path, line: str, expected: str
) -> None:
    text = f"name: demo\n{line}\ncases: [{{id: a, prompt: p}}]\n"
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path / "s.yaml", text))
    assert str(info.value).startswith(expected)


def test_integers_are_fine_where_numbers_are_expected(tmp_path: Path) -> None:
    text = """
    name: demo
    defaults:
      params: {temperature: 1, top_p: 1}
      checks: [{metric: length, args: {max: 50}, threshold: 1, weight: 2}]
    gate: {min_pass_rate: 1, no_regression: {margin: 1}}
    cases: [{id: a, prompt: p, allow_empty_output: false}]
    """
    suite = load_suite(write(tmp_path / "s.yaml", text))
    assert suite.cases[0].params.temperature == 1.0
    assert suite.gate.min_pass_rate == 1.0


def test_a_number_from_vars_still_fills_a_numeric_argument(tmp_path: Path) -> None:
    # Vars are text; an argument that takes only numbers, written as one field, reads the
    # value as YAML 1.2 would. Booleans from vars follow the same rule, so `yes` is refused.
    text = """
    name: demo
    cases:
      - id: a
        prompt: "At most {n} words"
        vars: {n: [5, 10]}
        checks: [{metric: length, args: {max: "{n}", unit: words}}]
    """
    suite = load_suite(write(tmp_path / "s.yaml", text))
    assert [c.checks[0].args.max for c in suite.cases] == [5, 10]  # type: ignore[attr-defined]
    refused = """
    name: demo
    cases:
      - id: a
        prompt: "{x}"
        vars: {x: ["yes"]}
        checks: [{metric: contains, args: {text: a, ignore_case: "{x}"}}]
    """
    with pytest.raises(
        SuiteError, match=r"Input should be a valid boolean .*\(with vars x='yes'\)"
    ):
        load_suite(write(tmp_path / "s.yaml", refused))
