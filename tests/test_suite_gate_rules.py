"""Gate rules in suite files and as project defaults in tunegate.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegate import SuiteError, load_suite
from tunegate.config import load_config
from tunegate.errors import ConfigError
from tunegate.gate import effective_gate, rule_ids, rule_specs

from .conftest import write

SUITE = """
name: s
gate:
  min_pass_rate: 0.5
  no_regression: [{{margin: 0.05}}, {{margin: 0.1, tags: [refunds], metric: {metric}}}]
  improves: {{confidence: 0.9, tags: [{tag}]}}
  on_inconclusive: warn
cases:
  - id: a
    prompt: p
    tags: [refunds]
    checks: [{{metric: contains, args: {{text: x}}, name: tone}}]
"""


def test_rules_load_with_their_scopes(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path / "s.yaml", SUITE.format(metric="tone", tag="refunds")))
    gate = effective_gate(suite, None)
    assert rule_ids(rule_specs(gate)) == [
        "min_pass_rate",
        "no_regression",
        "no_regression:tone@refunds",
        "improves@refunds",
    ]
    assert gate.on_inconclusive == "warn"


def test_a_rule_on_an_unknown_check_or_tag_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", SUITE.format(metric="tnoe", tag="refunds"))
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).endswith(
        "s.yaml:4:74: no case has a check named 'tnoe' (did you mean 'tone'?); a rule "
        "compares pass_rate or one of this suite's checks: non_empty, tone"
    )
    path = write(tmp_path / "s.yaml", SUITE.format(metric="tone", tag="refund"))
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert "s.yaml:5:38: no case has the tag 'refund' (did you mean 'refunds'?)" in str(info.value)


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ("{no_regression: {margin: 0}}", "gate.no_regression.margin"),
        ("{no_regression: {margin: .nan}}", "s.yaml:2:32: .nan is not a usable number"),
        ("{improves: {confidence: 1.5}}", "gate.improves.confidence"),
        ("{on_inconclusive: maybe}", "gate.on_inconclusive"),
        ("{no_regression: {margn: 0.05}}", "unknown key 'margn' (did you mean 'margin'?)"),
        ("{improves: []}", "s.yaml:2:18: gate.improves: an empty list of rules gates nothing"),
        (
            "{no_regression: [{margin: 0.05}, {margin: 0.1}]}",
            "gate.no_regression: two rules here compare pass_rate; keep one",
        ),
        ("{improves: {tags: [t, t]}}", "gate.improves.tags: tag 't' is listed twice"),
        ("{improves: {confidence: 95}}", "confidence is a fraction of 1: did you mean 0.95?"),
        ("{no_regression: {margin: 5}}", "margin is a fraction of 1: did you mean 0.05?"),
        ("{min_pass_rate: 80}", "min_pass_rate is a fraction of 1: did you mean 0.8?"),
    ],
)
def test_bad_rules_are_errors(tmp_path: Path, gate: str, message: str) -> None:
    path = write(
        tmp_path / "s.yaml", f"name: s\ngate: {gate}\ncases: [{{id: a, prompt: p, tags: [t]}}]\n"
    )
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert message in str(info.value)


def test_project_defaults_in_tunegate_yaml(tmp_path: Path) -> None:
    config = write(
        tmp_path / "tunegate.yaml",
        "gate: {no_regression: {margin: 0.1}, on_inconclusive: warn}\n"
        "statistics: {resamples: 999, seed: 3}\n",
    )
    loaded = load_config(config)
    suite = load_suite(write(tmp_path / "s.yaml", "name: s\ncases: [{id: a, prompt: p}]\n"))
    gate = effective_gate(suite, loaded.config.gate)
    assert rule_ids(rule_specs(gate)) == ["no_regression"]
    assert loaded.config.statistics.resamples == 999
    bad = write(tmp_path / "tunegate.yaml", "gate: {no_regression: {margin: -1}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert "tunegate.yaml:1:32: gate.no_regression.margin" in str(info.value)


def test_a_check_may_not_be_called_pass_rate(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yaml",
        "name: s\ncases:\n  - id: a\n    prompt: p\n"
        "    checks: [{metric: contains, name: pass_rate, args: {text: x}}]\n",
    )
    with pytest.raises(SuiteError, match="'pass_rate' is reserved"):
        load_suite(path)


def test_a_default_rule_applies_only_where_its_scope_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tunegate.cli import main

    write(tmp_path / "b.jsonl", '{"case_id": "a", "output": "x"}\n')
    write(
        tmp_path / "tunegate.yaml",
        "base: b\ncandidate: b\ngate:\n  improves: {tags: [refunds]}\n"
        "targets:\n  b: {provider: replay, path: b.jsonl}\n",
    )
    write(tmp_path / "suites" / "s.yaml", "name: s\ncases: [{id: a, prompt: p, tags: [t]}]\n")
    loaded = load_config(tmp_path / "tunegate.yaml")
    suite = load_suite(tmp_path / "suites" / "s.yaml")
    # Not this suite's rule: it keeps the default "every case must pass".
    assert rule_ids(rule_specs(effective_gate(suite, loaded.config.gate))) == ["min_pass_rate"]
    # And since no suite of the project has the tag, the rule is an error at its line.
    monkeypatch.chdir(tmp_path)
    error = (
        "tunegate: error: tunegate.yaml:4:14: no suite has a case with the tag 'refunds': "
        "this default rule would judge nothing"
    )
    assert main(["validate"]) == 2
    assert error in capsys.readouterr().err
    assert main(["run"]) == 2
    assert error in capsys.readouterr().err


def test_a_rule_whose_tags_never_meet_on_one_case_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yaml",
        "name: s\ngate: {improves: {tags: [a, b]}}\n"
        "cases: [{id: x, prompt: p, tags: [a]}, {id: y, prompt: p, tags: [b]}]\n",
    )
    with pytest.raises(SuiteError, match="no case has all of the tags a, b together"):
        load_suite(path)
