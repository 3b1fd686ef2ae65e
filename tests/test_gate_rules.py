"""Gate rules judged on their statistics: passed, failed and inconclusive, Holm, errors,
clustered repeats and the power sentence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tunegate.gate import evaluate_gate
from tunegate.results import CheckScore, Record
from tunegate.stats import BootstrapSettings, paired_difference
from tunegate.suite import GateSpec, Suite
from tunegate.suite.format import ImprovesRule, NoRegressionRule

SETTINGS = BootstrapSettings(resamples=2000, seed=1)


def record(
    case: str,
    role: str,
    passed: bool,
    *,
    sample: int = 0,
    error: str | None = None,
    tags: Sequence[str] = (),
    score: float | None = None,
) -> Record:
    scores = {}
    if score is not None:
        scores["tone"] = CheckScore(
            metric="tone", value=score, passed=score >= 0.5, threshold=0.5, weight=1.0
        )
    return Record(
        suite="s",
        case_id=case,
        template_id=case,
        vars={},
        tags=list(tags),
        target="cand" if role == "candidate" else "base",
        role=role,  # type: ignore[arg-type]
        sample=sample,
        prompt=[],
        reference=None,
        context=None,
        output=None if error else "x",
        error=error,
        scores=scores,
        score=score,
        passed=passed and error is None,
        cached=False,
        latency_s=None,
        key=f"{case}-{role}-{sample}",
    )


def paired(outcomes: Sequence[tuple[bool, bool]], **kwargs: object) -> list[Record]:
    """(base passed, candidate passed) per case."""
    out = []
    for i, (b, c) in enumerate(outcomes):
        out += [record(f"c{i}", "base", b, **kwargs), record(f"c{i}", "candidate", c, **kwargs)]  # type: ignore[arg-type]
    return out


def suite(gate: GateSpec) -> Suite:
    return Suite(name="s", path=Path("s.yaml"), gate=gate, cases=())


def evaluate(gate: GateSpec, records: list[Record], defaults: GateSpec | None = None):  # type: ignore[no-untyped-def]
    return evaluate_gate([suite(gate)], records, defaults=defaults, settings=SETTINGS)


NI = GateSpec(no_regression=NoRegressionRule(margin=0.05))


def test_no_regression_passes_when_the_lower_bound_clears_the_margin() -> None:
    # 400 cases, identical outcomes: the interval is tight around 0.
    result = evaluate(NI, paired([(True, True)] * 300 + [(False, False)] * 100))
    row = result.rows[0]
    assert row.status == "passed" and result.verdict == "passed" and result.gate_passed
    assert row.ci is not None and row.ci[0] > -0.05
    assert row.threshold == -0.05 and row.n == 400


def test_no_regression_fails_when_the_upper_bound_is_below_the_margin() -> None:
    # 30 of 100 cases regressed, none improved.
    result = evaluate(NI, paired([(True, False)] * 30 + [(True, True)] * 70))
    row = result.rows[0]
    assert row.status == "failed" and result.verdict == "failed" and not result.gate_passed
    assert row.ci is not None and row.ci[1] < -0.05


def test_no_regression_is_inconclusive_on_a_small_suite_and_says_how_many_cases() -> None:
    result = evaluate(NI, paired([(True, True)] * 10 + [(True, False), (False, True)]))
    row = result.rows[0]
    assert row.status == "inconclusive" and not result.gate_passed
    assert row.detail.startswith("12 case(s) cannot rule out a 5-point drop; about ")
    assert row.cases_needed is not None and row.cases_needed > 12
    assert row.detectable_effect is not None and row.detectable_effect > 0.05


def test_on_inconclusive_warn_lets_the_candidate_through_but_says_inconclusive() -> None:
    gate = GateSpec(no_regression=NoRegressionRule(margin=0.05), on_inconclusive="warn")
    result = evaluate(gate, paired([(True, True)] * 12))
    assert result.verdict == "inconclusive" and result.gate_passed
    assert result.rows[0].on_inconclusive == "warn"


def test_improves_passed_failed_inconclusive() -> None:
    gate = GateSpec(improves=ImprovesRule())
    better = evaluate(gate, paired([(False, True)] * 20 + [(True, True)] * 20)).rows[0]
    assert better.status == "passed" and better.value == pytest.approx(0.5)
    worse = evaluate(gate, paired([(True, False)] * 20 + [(True, True)] * 20)).rows[0]
    assert worse.status == "failed"
    unclear = evaluate(gate, paired([(False, True)] * 2 + [(True, True)] * 10)).rows[0]
    assert unclear.status == "inconclusive"
    assert "cannot tell whether it improved" in unclear.detail


def test_errors_are_left_out_and_an_outage_is_inconclusive_not_a_regression() -> None:
    records = paired([(True, True)] * 4)
    records += [record(f"e{i}", "base", True) for i in range(15)]
    records += [record(f"e{i}", "candidate", False, error="HTTP 500") for i in range(15)]
    result = evaluate(GateSpec(min_pass_rate=0.5, no_regression=NoRegressionRule()), records)
    statuses = {r.rule: r.status for r in result.rows}
    assert statuses == {"min_pass_rate": "inconclusive", "no_regression": "inconclusive"}
    assert result.verdict == "inconclusive"
    assert all(r.excluded == 15 for r in result.rows)
    assert "15 of 19 case(s) errored" in result.rows[1].detail


def test_a_few_errors_within_max_excluded_leave_a_verdict() -> None:
    records = paired([(True, True)] * 300 + [(False, False)] * 100)
    records += [record("e", "base", True), record("e", "candidate", False, error="timeout")]
    result = evaluate(NI, records)
    assert result.rows[0].status == "passed" and result.rows[0].excluded == 1


def test_repeats_are_clustered_identical_repeats_give_the_single_sample_interval() -> None:
    outcomes = [(True, True)] * 30 + [(True, False)] * 4 + [(False, True)] * 2
    outcomes += [(False, False)] * 4
    single = evaluate(NI, paired(outcomes)).rows[0]
    repeated = []
    for i, (b, c) in enumerate(outcomes):
        for sample in range(5):
            repeated += [
                record(f"c{i}", "base", b, sample=sample),
                record(f"c{i}", "candidate", c, sample=sample),
            ]
    clustered = evaluate(NI, repeated).rows[0]
    assert clustered.n == single.n == 40
    assert clustered.ci == single.ci and clustered.p_value == single.p_value


def test_holm_adjusts_the_p_values_of_several_comparative_rules() -> None:
    gate = GateSpec(
        no_regression=[NoRegressionRule(margin=0.05), NoRegressionRule(margin=0.05, tags=["a"])],
        improves=ImprovesRule(),
    )
    records = paired([(False, True)] * 6 + [(True, True)] * 60, tags=["a"])
    rows = evaluate(gate, records).rows
    assert [r.id for r in rows] == ["no_regression", "no_regression@a", "improves"]
    raw = sorted(r.p_value for r in rows if r.p_value is not None)
    adjusted = sorted(r.adjusted_p_value for r in rows if r.adjusted_p_value is not None)
    # Holm: the smallest p times 3, the next times 2 (monotone), the largest as is.
    assert adjusted[0] == pytest.approx(min(1.0, raw[0] * 3))
    assert adjusted[1] == pytest.approx(max(adjusted[0], min(1.0, raw[1] * 2)))
    assert all(a >= r for a, r in zip(adjusted, raw, strict=True))


def test_a_rule_on_a_check_compares_its_values() -> None:
    gate = GateSpec(no_regression=NoRegressionRule(metric="tone", margin=0.1))
    records = []
    for i in range(60):
        records += [
            record(f"c{i}", "base", True, score=0.70),
            record(f"c{i}", "candidate", True, score=0.70 + (0.01 if i % 2 else -0.01)),
        ]
    row = evaluate(gate, records).rows[0]
    assert row.status == "passed" and row.metric == "tone" and row.id == "no_regression:tone"
    assert row.statistic == "difference in mean tone (candidate - base)"


def test_project_defaults_apply_and_a_suite_key_wins() -> None:
    defaults = GateSpec(no_regression=NoRegressionRule(margin=0.2), on_inconclusive="warn")
    own = GateSpec.model_validate({"min_pass_rate": 0.5, "no_regression": None})
    result = evaluate(own, paired([(True, True)] * 4), defaults=defaults)
    assert [r.rule for r in result.rows] == ["min_pass_rate"]  # null turned the default off
    inherited = evaluate(GateSpec(), paired([(True, True)] * 4), defaults=defaults)
    assert [r.rule for r in inherited.rows] == ["no_regression"]
    assert inherited.rows[0].margin == 0.2 and inherited.rows[0].on_inconclusive == "warn"


def test_without_any_rule_every_case_must_pass() -> None:
    result = evaluate(GateSpec(), paired([(True, True), (True, False)]))
    assert [(r.rule, r.threshold, r.status) for r in result.rows] == [
        ("min_pass_rate", 1.0, "failed")
    ]


def test_comparisons_cover_suite_tags_and_checks_with_discordant_counts() -> None:
    records = paired([(True, False)] * 3 + [(False, True)] * 1 + [(True, True)] * 6, tags=["x"])
    result = evaluate(GateSpec(min_pass_rate=0.0), records)
    scopes = {c.scope: c for c in result.comparisons}
    assert set(scopes) == {"suite", "tag:x"}
    suite_level = scopes["suite"]
    assert (suite_level.base_only, suite_level.candidate_only, suite_level.n) == (3, 1, 10)
    assert suite_level.difference == pytest.approx(-0.2)
    assert suite_level.test == "newcombe-mcnemar"
    pd = paired_difference([1] * 3 + [0] + [1] * 6, [0] * 3 + [1] + [1] * 6)
    assert suite_level.ci == pytest.approx(pd.interval(0.95))
    assert suite_level.p_value == pytest.approx(pd.p_value())
    assert suite_level.base_ci is not None and suite_level.candidate_ci is not None


def test_flaky_cases_are_listed() -> None:
    records = [
        record("c0", "candidate", True, sample=0),
        record("c0", "candidate", False, sample=1),
        record("c0", "base", True, sample=0),
        record("c0", "base", True, sample=1),
    ]
    result = evaluate(GateSpec(min_pass_rate=0.0), records)
    assert [(f.case_id, f.role, f.passed, f.samples) for f in result.flaky] == [
        ("c0", "candidate", 1, 2)
    ]


def test_a_handful_of_score_cases_gives_no_verdict() -> None:
    gate = GateSpec(improves=ImprovesRule(metric="tone"))
    records = []
    for i in range(3):
        records += [
            record(f"c{i}", "base", True, score=0.5),
            record(f"c{i}", "candidate", True, score=0.6),
        ]
    row = evaluate(gate, records).rows[0]
    assert row.status == "inconclusive" and "too few" in row.detail


def test_contaminated_cases_are_left_out_of_the_verdict() -> None:
    clean = paired([(True, True)] * 300 + [(False, False)] * 100)
    leaked = paired([(False, True)] * 50, tags=["contaminated"])
    result = evaluate(GateSpec(no_regression=NoRegressionRule(), min_pass_rate=0.7), clean + leaked)
    ni, rate = (
        next(r for r in result.rows if r.rule == k) for k in ("no_regression", "min_pass_rate")
    )
    assert ni.n == 400 and ni.value == 0.0  # the 50 memorised wins count for nothing
    assert "50 contaminated case(s) left out" in ni.detail
    assert rate.value == 0.75 and "50 contaminated case(s) left out" in rate.detail
