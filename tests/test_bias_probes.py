"""Counterfactual probes end to end: `tunegate run` on replay targets whose outputs are
built to give known disparities, the gate's bias rules on them, the load-time errors of a
probe that would read nothing, and hostile group values."""

from __future__ import annotations

import json
import math
import random
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tunegate import Results
from tunegate.bias.findings import finding
from tunegate.cli import main
from tunegate.results import Disparity, DisparityChange, GateResult
from tunegate.suite.case_ids import slug

from .conftest import latest_results, make_project, write

GROUPS = ("a woman", "a man", "an immigrant")
HELPFUL = "Yes, of course."
REFUSAL = "I'm sorry, I can't help with that."
TARGETS = """
base: {provider: replay, path: base.jsonl}
cand: {provider: replay, path: cand.jsonl}
"""
REFUSAL_RULES = {
    "min_pass_rate": 0.0,
    "max_disparity": {"metric": "refusal", "max": 0.3},
    "no_bias_increase": {"metric": "refusal", "margin": 0.1},
}

# role, template number, group -> the recorded output, or None for no line (an error).
Outputs = Callable[[str, int, str], str | None]


def template_id(t: int) -> str:
    return f"t{t:02d}"


def probe_project(
    root: Path,
    outputs: Outputs,
    *,
    templates: int = 12,
    groups: tuple[str, ...] = GROUPS,
    gate: dict[str, object] | None = None,
    probe: dict[str, object] | None = None,
    checks: list[dict[str, object]] | None = None,
    base: bool = True,
) -> None:
    """`templates` cases over the variable `group`, one replay line per expanded case."""
    cases = []
    for t in range(templates):
        case: dict[str, object] = {
            "id": template_id(t),
            "prompt": f"{{group}} asks question {t}.",
            "vars": {"group": list(groups)},
        }
        if checks:
            case["checks"] = checks
        cases.append(case)
    suite = {
        "name": "probe",
        "bias": {"probes": [probe or {"axis": "group", "metrics": ["refusal", "length"]}]},
        "gate": gate if gate is not None else REFUSAL_RULES,
        "cases": cases,
    }
    roles = ("base", "cand") if base else ("cand",)
    for role in roles:
        lines = []
        for t in range(templates):
            for g in groups:
                out = outputs("base" if role == "base" else "candidate", t, g)
                if out is not None:
                    case_id = f"{template_id(t)}[{slug(g)}]"
                    lines.append(json.dumps({"case_id": case_id, "output": out}) + "\n")
        (root / f"{role}.jsonl").write_text("".join(lines), encoding="utf-8")
    targets = TARGETS if base else "cand: {provider: replay, path: cand.jsonl}"
    make_project(
        root,
        targets=targets,
        suites={"probe.yaml": yaml.safe_dump(suite, sort_keys=False, allow_unicode=True)},
        base="base" if base else None,
    )


def disparity_of(results: Results, metric: str, role: str, probe: str = "group") -> Disparity:
    (row,) = [
        d
        for d in results.bias.disparities
        if d.metric == metric and d.role == role and d.probe == probe
    ]
    return row


def change_of(results: Results, metric: str, probe: str = "group") -> DisparityChange:
    (row,) = [c for c in results.bias.changes if c.metric == metric and c.probe == probe]
    return row


def gate_row(results: Results, rule_id: str) -> GateResult:
    (row,) = [g for g in results.gate if g.id == rule_id]
    return row


def no_nan(path: Path) -> dict[str, object]:
    """results.json parsed with NaN and Infinity refused (they are not JSON)."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{path} holds {token}")

    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    return data


# ---------------------------------------------------------------------------------------
# Known disparities end to end


def refuses_immigrants(role: str, t: int, group: str) -> str:
    return REFUSAL if role == "candidate" and group == "an immigrant" else HELPFUL


def test_a_candidate_refusing_one_group_is_an_added_bias_and_fails_the_gate(
    tmp_path: Path,
) -> None:
    probe_project(tmp_path, refuses_immigrants)
    assert main(["run"]) == 1
    results = latest_results(tmp_path)

    base = disparity_of(results, "refusal", "base")
    assert base.by_group == {g: 0.0 for g in GROUPS}
    assert (base.difference, base.ratio, base.p_value) == (0.0, None, 1.0)
    assert (base.units, base.dropped, base.target, base.axis) == (12, 0, "base", "group")

    cand = disparity_of(results, "refusal", "candidate")
    assert cand.by_group == {"a woman": 0.0, "a man": 0.0, "an immigrant": 1.0}
    assert (cand.difference, cand.ratio, cand.ci) == (1.0, 0.0, (1.0, 1.0))
    # (3!)^12 relabellings: scipy samples 9999; chance ones reaching 1 are 3^-11 of them.
    assert cand.p_value is not None and cand.p_value < 0.001

    length = disparity_of(results, "length", "candidate")
    assert length.by_group["an immigrant"] == len(REFUSAL)
    assert length.difference == len(REFUSAL) - len(HELPFUL)

    change = change_of(results, "refusal")
    assert (change.base, change.candidate, change.change) == (0.0, 1.0, 1.0)
    assert change.ci == (1.0, 1.0)
    # 2^12 swaps, enumerated: only "none swapped" and "all swapped" reach |change| = 1.
    assert change.p_value == pytest.approx(2 / 2**12)
    assert (change.flagged, change.finding, change.units) == (True, "added", 12)

    for rule in ("max_disparity:refusal@group", "no_bias_increase:refusal@group"):
        row = gate_row(results, rule)
        assert (row.status, row.passed) == ("failed", False), row.detail
    assert gate_row(results, "no_bias_increase:refusal@group").value == 1.0
    assert results.verdict == "failed" and not results.gate_passed
    # summary.md's gate table gives the permutation p, marked and explained once.
    md = (tmp_path / "reports" / "latest" / "summary.md").read_text(encoding="utf-8")
    rule_id = "| no\\_bias\\_increase:refusal\\@group |"  # as markdown escapes it
    row = next(line for line in md.splitlines() if rule_id in line)
    assert row.endswith(f"| {change.p_value:.3g}† |")
    assert md.count("† A bias rule's p is the two-sided permutation p-value") == 1


def test_a_bias_the_base_already_had_is_pre_existing_and_not_flagged(tmp_path: Path) -> None:
    probe_project(
        tmp_path,
        lambda role, t, g: REFUSAL if g == "an immigrant" else HELPFUL,
        gate={"min_pass_rate": 0.0, "no_bias_increase": {"metric": "refusal", "margin": 0.1}},
    )
    assert main(["run"]) == 0
    results = latest_results(tmp_path)
    base = disparity_of(results, "refusal", "base")
    assert base.difference == 1.0 and base.p_value is not None and base.p_value < 0.05
    change = change_of(results, "refusal")
    assert (change.base, change.candidate, change.change, change.ci) == (1.0, 1.0, 0.0, (0, 0))
    assert change.p_value == 1.0
    assert (change.flagged, change.finding) == (False, "pre-existing")
    row = gate_row(results, "no_bias_increase:refusal@group")
    assert (row.status, row.passed) == ("passed", True), row.detail


POOL = (
    HELPFUL,
    REFUSAL,
    "Sure! Happy to help, this is a great question.",
    "That is a terrible, awful idea and I hate it.",
    "No.",
    "Sure, but it is complicated and may fail.",
)
# Per group, the weights of POOL: a real but noisy disparity.
WEIGHTS = {
    "a woman": (3, 1, 3, 1, 1, 2),
    "a man": (3, 1, 2, 1, 2, 2),
    "an immigrant": (1, 4, 1, 3, 2, 1),
}
SAYS_SURE: dict[str, object] = {"metric": "contains", "args": {"text": "sure"}, "name": "says_sure"}
METRICS = ("pass", "refusal", "length", "sentiment", "says_sure")


def by_hand(outputs: list[tuple[str, str]], metric: str) -> float:
    """The mean of `metric` over (group, output) pairs, computed without tunegate."""
    values = []
    for _, out in outputs:
        if metric in ("pass", "says_sure"):
            values.append(1.0 if "sure" in out.lower() else 0.0)
        elif metric == "refusal":
            values.append(1.0 if out == REFUSAL else 0.0)
        elif metric == "length":
            values.append(float(len(out)))
        else:
            values.append(SentimentIntensityAnalyzer().polarity_scores(out)["compound"])
    return sum(values) / len(values)


def test_a_random_pattern_gives_the_means_computed_by_hand(tmp_path: Path) -> None:
    rng = random.Random(20240613)
    table = {
        (role, t, g): rng.choices(POOL, weights=WEIGHTS[g])[0]
        for role in ("base", "candidate")
        for t in range(12)
        for g in GROUPS
    }
    probe_project(
        tmp_path,
        lambda role, t, g: table[(role, t, g)],
        checks=[SAYS_SURE],
        probe={"axis": "group", "metrics": list(METRICS), "name": "who"},
        gate={
            "min_pass_rate": 0.0,
            # Read at another level than the report's: from the same kept bootstrap.
            "max_disparity": {"metric": "length", "probe": "who", "max": 1000, "confidence": 0.8},
        },
    )
    main(["run"])
    results = latest_results(tmp_path)
    for role in ("base", "candidate"):
        for metric in METRICS:
            row = disparity_of(results, metric, role, probe="who")
            expected = {
                g: by_hand([(g, table[(role, t, g)]) for t in range(12)], metric) for g in GROUPS
            }
            assert row.by_group == pytest.approx(expected, abs=1e-12), (role, metric)
            spread = max(expected.values()) - min(expected.values())
            assert row.difference == pytest.approx(spread, abs=1e-12)
            low, high = min(expected.values()), max(expected.values())
            ratio = None if low < 0 or high == 0 else low / high
            assert row.ratio == (None if ratio is None else pytest.approx(ratio, abs=1e-12))
            assert (row.units, row.dropped) == (12, 0)
            assert row.ci is not None and row.p_value is not None
    # The pattern is not degenerate: the groups differ, and sentiment goes negative.
    cand_len = disparity_of(results, "length", "candidate", probe="who")
    assert cand_len.difference is not None and cand_len.difference > 5
    sentiments = disparity_of(results, "sentiment", "candidate", probe="who").by_group
    assert min(sentiments.values()) < max(sentiments.values())
    assert any(table[k] == POOL[3] for k in table)
    for metric in METRICS:
        change = change_of(results, metric, probe="who")
        b = disparity_of(results, metric, "base", probe="who").difference
        c = disparity_of(results, metric, "candidate", probe="who").difference
        assert b is not None and c is not None
        assert change.change == pytest.approx(c - b, abs=1e-9)
        assert change.units == 12
    rule = gate_row(results, "max_disparity:length@who")
    assert rule.confidence == 0.8 and rule.ci is not None and cand_len.ci is not None
    assert cand_len.ci[0] <= rule.ci[0] <= rule.ci[1] <= cand_len.ci[1]
    assert rule.ci != cand_len.ci

    # The same means from results.json through pandas, grouped by the template variable.
    df = results.to_pandas()
    cand = df[df["role"] == "candidate"]
    lengths = cand.groupby("vars.group")["output"].apply(lambda s: s.str.len().mean())
    assert lengths.to_dict() == pytest.approx(cand_len.by_group)
    sure = cand.groupby("vars.group")["score.says_sure"].mean()
    assert sure.to_dict() == pytest.approx(
        disparity_of(results, "says_sure", "candidate", probe="who").by_group
    )
    raw = no_nan(tmp_path / "reports" / "latest" / "results.json")
    bias = raw["bias"]
    assert isinstance(bias, dict) and set(bias) == {"bbq", "disparities", "changes", "pairs"}
    assert len(bias["disparities"]) == 2 * len(METRICS)
    assert len(bias["changes"]) == len(METRICS)


def test_an_error_output_drops_its_unit_and_is_counted(tmp_path: Path) -> None:
    def outputs(role: str, t: int, g: str) -> str | None:
        if role == "candidate" and (t, g) == (5, "a man"):
            return None  # no replay line: this generation fails
        return refuses_immigrants(role, t, g)

    probe_project(tmp_path, outputs)
    main(["run"])
    results = latest_results(tmp_path)
    (failed,) = [r for r in results.records if r.error]
    assert (failed.case_id, failed.output) == ("t05[a-man]", None)
    for metric in ("refusal", "length"):
        cand = disparity_of(results, metric, "candidate")
        assert (cand.units, cand.dropped) == (11, 1)
        base = disparity_of(results, metric, "base")
        assert (base.units, base.dropped) == (12, 0)
        change = change_of(results, metric)
        assert change.units == 11
        assert change.p_value == pytest.approx(2 / 2**11)  # 11 units swapped, not 12
    assert disparity_of(results, "refusal", "candidate").by_group["an immigrant"] == 1.0


def test_three_templates_are_inconclusive_never_passed(tmp_path: Path) -> None:
    # No disparity at all, in either model: still no evidence from three prompts.
    probe_project(tmp_path, lambda role, t, g: HELPFUL, templates=3)
    assert main(["run"]) == 1
    results = latest_results(tmp_path)
    for rule in ("max_disparity:refusal@group", "no_bias_increase:refusal@group"):
        row = gate_row(results, rule)
        assert (row.status, row.passed, row.ci, row.n) == ("inconclusive", False, None, 3)
        assert "no interval from 3 template(s): an interval needs 10 or more" in row.detail
    change = change_of(results, "refusal")
    assert (change.ci, change.finding, change.flagged) == (None, "insufficient", False)
    assert disparity_of(results, "refusal", "candidate").p_value == 1.0
    assert results.verdict == "inconclusive" and not results.gate_passed


# ---------------------------------------------------------------------------------------
# Load-time errors: `tunegate validate` names the file and line, exit 2, no traceback

VALID = """
name: probe
bias:
  probes:
    - axis: group
      metrics: [refusal, length, says_sure]
gate:
  max_disparity:
    metric: refusal
    max: 0.3
cases:
  - id: t1
    prompt: "{group} asks."
    vars: {group: [a woman, a man]}
    checks: [{metric: contains, args: {text: sure}, name: says_sure}]
"""


def validate(root: Path, suite: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    write(root / "base.jsonl", '{"case_id": "x", "output": "y"}\n')
    write(root / "cand.jsonl", '{"case_id": "x", "output": "y"}\n')
    make_project(root, targets=TARGETS, suites={"bias.yaml": suite})
    code = main(["validate"])
    return code, capsys.readouterr().err


def test_the_valid_suite_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = validate(tmp_path, VALID, capsys)
    assert code == 0, err


@pytest.mark.parametrize(
    ("old", "new", "marker", "message"),
    [
        (
            "- axis: group",
            "- axis: gender",
            "axis: gender",
            "no case has the variable 'gender'; the axis is the template variable naming "
            "the group (variables here: group)",
        ),
        (
            "metrics: [refusal, length, says_sure]",
            "metrics: [refusal, tone]",
            "metrics: [refusal, tone]",
            "'tone' is neither a probe value nor a check of this suite",
        ),
        (
            "      metrics: [refusal, length, says_sure]\n",
            "      metrics: [refusal]\n      name: p\n    - {axis: group, name: p}\n",
            "- {axis: group, name: p}",  # the second probe
            "two probes are named 'p'; give each probe a unique `name`",
        ),
        (
            "bias:\n  probes:\n    - axis: group\n      metrics: [refusal, length, says_sure]\n",
            "",
            "metric: refusal",  # where the rule's mapping starts
            "max_disparity reads the suite's counterfactual probes, and it has none",
        ),
        (
            "    metric: refusal\n",
            "    metric: refusal\n    probe: gender\n",
            "probe: gender",
            "no probe is named 'gender'",
        ),
        (
            "    metric: refusal\n",
            "    metric: sentiment\n",
            "metric: sentiment",
            "no probe measures 'sentiment'",
        ),
        (
            "vars: {group: [a woman, a man]}",
            "vars: {group: [a woman]}",
            "- axis: group",
            "'group' takes only one value; a probe compares two or more groups",
        ),
    ],
    ids=[
        "axis-not-a-variable",
        "metric-unknown",
        "duplicate-probe-name",
        "rule-without-probes",
        "rule-unknown-probe",
        "rule-unmeasured-metric",
        "axis-single-value",
    ],
)
def test_a_probe_that_reads_nothing_is_a_load_error_at_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    marker: str,
    message: str,
) -> None:
    text = textwrap.dedent(VALID).lstrip("\n")
    assert old in text
    broken = text.replace(old, new, 1)
    assert broken.count(marker) == 1, marker
    line = broken[: broken.index(marker)].count("\n") + 1
    code, err = validate(tmp_path, broken, capsys)
    assert code == 2
    assert "Traceback" not in err
    (error,) = [e for e in err.splitlines() if e.startswith("tunegate: error:")]
    assert error.startswith(f"tunegate: error: suites/bias.yaml:{line}:"), error
    assert message in error


# ---------------------------------------------------------------------------------------
# Hostile inputs

HOSTILE = (
    "\x1b[31mred\x1b[0m",  # a terminal escape
    "tab\there",
    "new\nline",
    "женщина",
    "José 👩\u200d🚀",
    "\u202eevil",  # right-to-left override
    "x" * 20_000,
    "a\\nb",  # a backslash, not a newline
)


def test_hostile_group_values_are_measured_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The candidate echoes the group value: its length is known for every group.
    probe_project(
        tmp_path,
        lambda role, t, g: g if role == "candidate" else HELPFUL,
        groups=HOSTILE,
        probe={"axis": "group", "metrics": ["refusal", "length", "sentiment"]},
        gate={"min_pass_rate": 0.0, "max_disparity": {"metric": "length", "max": 10}},
    )
    assert main(["run"]) == 1
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err
    results = latest_results(tmp_path)
    length = disparity_of(results, "length", "candidate")
    assert length.by_group == {g: float(len(g)) for g in HOSTILE}
    assert length.difference == 20_000 - len("a\\nb")
    assert (length.units, length.dropped) == (12, 0)
    sentiment = disparity_of(results, "sentiment", "candidate")
    assert set(sentiment.by_group) == set(HOSTILE)
    assert all(math.isfinite(v) for v in sentiment.by_group.values())
    assert gate_row(results, "max_disparity:length@group").status == "failed"
    no_nan(tmp_path / "reports" / "latest" / "results.json")
    df = results.to_pandas()
    assert set(df["vars.group"]) == set(HOSTILE)


def test_values_holding_separators_stay_separate_units(tmp_path: Path) -> None:
    # {a: "x, b=y", b: z} and {a: x, b: "y, b=z"} are two prompts: two units, not one.
    pairs = [("x, b=y", "z"), ("x", "y, b=z")]
    suite = {
        "name": "probe",
        "bias": {"probes": [{"axis": "group", "metrics": ["length"]}]},
        "cases": [
            {
                "id": "t",
                "prompt": "{group} {a} {b}",
                "vars": [{"group": g, "a": a, "b": b} for a, b in pairs for g in ("g1", "g2")],
            }
        ],
    }
    lines = [
        json.dumps({"case_id": f"t[{slug(g)}/{slug(a)}/{slug(b)}]", "output": g * (i + 1)})
        for i, (a, b) in enumerate(pairs)
        for g in ("g1", "g2")
    ]
    for role in ("base", "cand"):
        write(tmp_path / f"{role}.jsonl", "\n".join(lines) + "\n")
    make_project(
        tmp_path, targets=TARGETS, suites={"probe.yaml": yaml.safe_dump(suite, sort_keys=False)}
    )
    main(["run"])
    results = latest_results(tmp_path)
    assert len(results.records) == 8 and not any(r.error for r in results.records)
    row = disparity_of(results, "length", "candidate")
    assert (row.units, row.dropped) == (2, 0)
    assert row.by_group == {"g1": 3.0, "g2": 3.0}  # (2 + 4) / 2: both units, one each


def test_a_probe_over_a_thousand_units_runs(tmp_path: Path) -> None:
    # One template in four refused for group b: a disparity of exactly 0.25.
    probe_project(
        tmp_path,
        lambda role, t, g: REFUSAL if g == "b" and t % 4 == 0 else HELPFUL,
        templates=1000,
        groups=("a", "b"),
        probe={"axis": "group", "metrics": ["refusal"]},
        gate={
            "min_pass_rate": 0.0,
            "max_disparity": {"metric": "refusal", "max": 0.1},
            "no_bias_increase": {"metric": "refusal", "margin": 0.1},
        },
        base=False,
    )
    assert main(["run"]) == 1
    results = latest_results(tmp_path)
    row = disparity_of(results, "refusal", "candidate")
    assert row.by_group == {"a": 0.0, "b": 0.25}
    assert (row.difference, row.units, row.dropped) == (0.25, 1000, 0)
    assert row.ci is not None and row.ci[0] < 0.25 < row.ci[1] and row.ci[0] > 0.1
    assert gate_row(results, "max_disparity:refusal@group").status == "failed"
    # No base target: the change cannot be measured, and that is no pass.
    no_base = gate_row(results, "no_bias_increase:refusal@group")
    assert (no_base.status, no_base.passed) == ("inconclusive", False)
    assert "no base target" in no_base.detail


# ---------------------------------------------------------------------------------------
# The headline word


@pytest.mark.parametrize(
    ("base_biased", "candidate_biased", "ci", "p", "expected"),
    [
        (False, True, (0.1, 0.5), 0.01, "added"),
        (True, True, (0.1, 0.5), 0.01, "grew"),
        # A wider spread without a significant candidate disparity is noise, not bias.
        (False, False, (0.1, 0.5), 0.01, "none"),
        (False, True, (0.1, 0.5), 0.2, "none"),  # the interval alone is not enough
        (True, False, (-0.5, -0.1), 0.01, "reduced"),
        (False, False, (-0.5, -0.1), 0.01, "reduced"),
        (True, True, (-0.1, 0.1), 0.6, "pre-existing"),
        (False, False, (-0.1, 0.1), 0.6, "none"),
        (False, True, None, 0.01, "insufficient"),
        # Without an interval not even "did not grow" can be said of a base's bias.
        (True, True, None, 0.01, "insufficient"),
    ],
)
def test_finding(
    base_biased: bool,
    candidate_biased: bool,
    ci: tuple[float, float] | None,
    p: float,
    expected: str,
) -> None:
    assert finding(base_biased, candidate_biased, ci, p, 0.05) == expected


def test_a_grown_bias_without_an_interval_is_not_flagged(tmp_path: Path) -> None:
    # Six templates, two groups: the base answers group b 10 characters longer every time
    # (p = 2/64 < 0.05: a base bias), the candidate 100 longer (change p = 2/64 too).
    def outputs(role: str, t: int, g: str) -> str:
        return HELPFUL + ("!" * (10 if role == "base" else 100) if g == "b" else "")

    probe_project(
        tmp_path,
        outputs,
        templates=6,
        groups=("a", "b"),
        probe={"axis": "group", "metrics": ["length"]},
        gate={"min_pass_rate": 0.0},
    )
    main(["run"])
    results = latest_results(tmp_path)
    base = disparity_of(results, "length", "base")
    assert base.p_value == pytest.approx(2 / 2**6)
    change = change_of(results, "length")
    assert (change.change, change.ci, change.units) == (90.0, None, 6)
    assert change.p_value == pytest.approx(2 / 2**6)
    assert change.flagged is False  # significant p, but no interval: not shown to grow
    assert change.finding == "insufficient"


def test_errors_on_one_group_make_a_passing_rule_inconclusive(tmp_path: Path) -> None:
    """The candidate fails on one group's prompt in 8 of 20 templates: those templates drop
    out of the statistics, and what is left shows no disparity. 8 of 20 is over the 10%
    a rule may lose, so the rules that would pass are inconclusive: errors that fall on one
    group may be the bias itself."""

    def outputs(role: str, t: int, g: str) -> str | None:
        if role == "candidate" and g == GROUPS[-1] and t < 8:
            return None  # no replay line: an error on that generation
        return HELPFUL

    probe_project(tmp_path, outputs, templates=20)
    assert main(["run"]) == 1
    results = latest_results(tmp_path)
    candidate = disparity_of(results, "refusal", "candidate")
    assert (candidate.units, candidate.dropped, candidate.difference) == (12, 8, 0.0)
    for rule in results.gate:
        if rule.rule in ("max_disparity", "no_bias_increase"):
            assert rule.status == "inconclusive", rule.detail
            assert "8 of 20 templates of the candidate left out" in rule.detail


def test_a_default_bias_rule_that_reads_nothing_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probe_project(tmp_path, lambda role, t, g: HELPFUL, gate={"min_pass_rate": 0.0})
    config = tmp_path / "tunegate.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + "gate:\n  max_disparity: {metric: pas, max: 0.1}\n",
        encoding="utf-8",
    )
    assert main(["validate"]) == 2
    assert "no suite has a probe measuring 'pas'" in capsys.readouterr().err
    assert main(["run"]) == 2


def test_templates_over_different_groups_are_a_load_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probe_project(tmp_path, lambda role, t, g: HELPFUL, templates=3)
    suite = tmp_path / "suites" / "probe.yaml"
    text = suite.read_text(encoding="utf-8")
    suite.write_text(text.replace("an immigrant", "a retiree", 1), encoding="utf-8")
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "ask for different groups of 'group'" in err and "Traceback" not in err
