"""What counts as evidence for a comparative rule: enough cases, repeats as clusters, checks
only where a case has them, and a scoring failure as missing evidence, never a regression."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from tunegate.results import CheckScore, Record
from tunegate.stats import paired_difference
from tunegate.suite import GateSpec
from tunegate.suite.format import ImprovesRule, NoRegressionRule

from .test_gate_rules import evaluate, paired, record

IMPROVES = GateSpec(improves=ImprovesRule())
NI = GateSpec(no_regression=NoRegressionRule(margin=0.05))


def _repeated(base: list[bool], candidate: list[bool], cases: int) -> list[Record]:
    out = []
    for i in range(cases):
        for s, (b, c) in enumerate(zip(base, candidate, strict=True)):
            out += [
                record(f"c{i}", "base", b, sample=s),
                record(f"c{i}", "candidate", c, sample=s),
            ]
    return out


@pytest.mark.parametrize("n", [2, 3, 9])
def test_a_handful_of_cases_never_decides_a_comparative_rule(n: int) -> None:
    # Every case improved, yet the exact McNemar p of n discordant pairs is 2 / 2^n: at n = 2
    # it is 0.5. Newcombe's interval alone would call it an improvement.
    row = evaluate(IMPROVES, paired([(False, True)] * n)).rows[0]
    assert row.status == "inconclusive"
    assert f"{n} paired case(s) are too few for a comparative rule" in row.detail
    assert mcnemar([[0, 0], [n, 0]], exact=True).pvalue == pytest.approx(2 / 2**n)


def test_ten_cases_that_all_improved_are_an_improvement() -> None:
    row = evaluate(IMPROVES, paired([(False, True)] * 10)).rows[0]
    assert row.status == "passed", row.detail


def test_repeats_that_split_evenly_on_both_sides_prove_nothing() -> None:
    # Each case passes one of two samples on both sides: per-case differences are all 0,
    # which a bootstrap would read as a zero-width interval and pass any margin.
    records = _repeated([True, False], [True, False], cases=10)
    row = evaluate(NI, records).rows[0]
    assert row.status == "inconclusive", row.detail
    assert row.ci is not None and row.ci[0] < -0.2 and row.ci[1] > 0.2


def test_repeats_that_improve_every_case_by_half_an_improvement() -> None:
    records = _repeated([True, False], [True, True], cases=10)
    row = evaluate(IMPROVES, records).rows[0]
    assert row.value == pytest.approx(0.5)
    assert row.ci is not None and 0 < row.ci[0] < 0.5 < row.ci[1] < 1  # a real width
    # Ten cases, not twenty samples: the interval is that of 10 cases with 5 improving.
    as_cases = paired_difference([0.0] * 5 + [1.0] * 5, [1.0] * 10)
    assert row.ci[0] > as_cases.interval(0.95)[0] - 0.2


def test_shares_of_zero_and_one_give_the_two_by_two_interval() -> None:
    rng = np.random.default_rng(3)
    b, c = rng.integers(0, 2, 40).astype(float), rng.integers(0, 2, 40).astype(float)
    as_shares = paired_difference(b, c, shares=True)
    as_table = paired_difference(b, c)
    assert as_shares.method == as_table.method == "newcombe-mcnemar"
    assert as_shares.interval(0.95) == as_table.interval(0.95)


def test_shares_outside_zero_and_one_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        paired_difference([0.5, 2.0], [0.5, 0.5], shares=True)


def _scored(case: str, role: str, value: float | None, *, error: str | None = None) -> Record:
    base = record(case, role, value is not None and value >= 0.5, error=error)
    if error is not None:
        return base
    score = CheckScore(
        metric="length", value=value, passed=value is not None, threshold=0.0, weight=1.0
    )
    return base.model_copy(update={"scores": {"concise": score}, "passed": value is not None})


def test_a_check_rule_looks_only_at_the_cases_that_have_the_check() -> None:
    records = []
    for i in range(20):
        for role in ("base", "candidate"):
            if i < 12:
                records.append(_scored(f"c{i}", role, 1.0))
            else:
                records.append(record(f"c{i}", role, True))  # no `concise` check here
    gate = GateSpec(no_regression=NoRegressionRule(metric="concise", margin=0.2))
    row = evaluate(gate, records).rows[0]
    assert (row.n, row.excluded) == (12, 0)
    assert "errored" not in row.detail


def test_a_check_that_could_not_score_the_candidate_is_missing_evidence_not_a_regression() -> None:
    # A metric that fails on every candidate output (a judge outage, a regex timeout).
    records = []
    for i in range(20):
        records += [_scored(f"c{i}", "base", 1.0), _scored(f"c{i}", "candidate", None)]
    for gate in (NI, GateSpec(no_regression=NoRegressionRule(metric="concise", margin=0.05))):
        row = evaluate(gate, records).rows[0]
        assert row.status == "inconclusive", row.detail
        assert "all 20 case(s) errored or could not be scored on base or candidate" in row.detail


def test_holm_says_when_the_interval_clears_the_bar_but_the_adjustment_does_not() -> None:
    # One-sided p 0.018 on its own: below 0.025, but not once doubled for two rules.
    outcomes = [(False, True)] * 7 + [(True, True)] * 21 + [(True, False)] * 1
    # The same cases twice (every case has the tag), at two levels.
    gate = GateSpec(improves=[ImprovesRule(), ImprovesRule(tags=["t"], confidence=0.9)])
    rows = evaluate(gate, paired(outcomes, tags=["t"])).rows
    alone = evaluate(IMPROVES, paired(outcomes)).rows[0]
    assert alone.status == "passed", alone.detail
    first, second = rows
    assert first.p_value == pytest.approx(0.0178, abs=1e-3)
    assert first.adjusted_p_value == pytest.approx(2 * first.p_value)
    assert first.status == "inconclusive"
    assert "not after Holm's adjustment for 2 comparative rules" in first.detail
    assert "includes 0" not in first.detail
    assert second.status == "passed"  # its one-sided alpha is 0.05


def test_a_check_that_failed_is_a_failure_even_when_another_could_not_score() -> None:
    def sample(case: str, role: str, fails: bool) -> Record:
        contains = 0.0 if fails else 1.0
        judge = None if fails else 1.0  # the judge cannot score the bad outputs
        scores = {
            name: CheckScore(metric=name, value=v, passed=not fails, threshold=0.5, weight=1.0)
            for name, v in (("contains", contains), ("judge", judge))
        }
        return record(case, role, not fails).model_copy(update={"scores": scores})

    records = []
    for i in range(100):
        records += [sample(f"c{i}", "base", False), sample(f"c{i}", "candidate", i < 9)]
    row = evaluate(NI, records).rows[0]
    assert row.candidate == pytest.approx(0.91)  # the 9 failures count, judge or no judge
    # -9 points [-16.2, -3.4]: it may be a 5-point drop, so the rule cannot pass.
    assert row.status == "inconclusive", row.detail
    assert row.value == pytest.approx(-0.09)


def test_a_collapse_fails_even_below_the_case_minimum() -> None:
    row = evaluate(NI, paired([(True, False)] * 9)).rows[0]
    assert row.status == "failed", row.detail  # exact McNemar p = 0.004
    few = evaluate(NI, paired([(True, False)] * 2)).rows[0]
    assert few.status == "inconclusive"  # p = 0.5: two cases prove nothing either way


def test_a_pass_fail_check_with_repeats_is_judged_as_shares() -> None:
    def sample(case: str, role: str, s: int) -> Record:
        value = 1.0 if s == 0 else 0.0
        score = CheckScore(
            metric="contains", value=value, passed=value == 1.0, threshold=1.0, weight=1.0
        )
        base = record(case, role, value == 1.0, sample=s)
        return base.model_copy(update={"scores": {"contains": score}})

    roles = ("base", "candidate")
    records = [sample(f"c{i}", role, s) for i in range(10) for role in roles for s in (0, 1)]
    gate = GateSpec(no_regression=NoRegressionRule(metric="contains", margin=0.05))
    row = evaluate(gate, records).rows[0]
    assert row.status == "inconclusive", row.detail
    assert row.ci is not None and row.ci[0] < -0.2


def test_errors_inside_a_case_count_against_the_evidence() -> None:
    records = []
    for i in range(20):
        for s in range(3):
            records.append(record(f"c{i}", "base", True, sample=s))
            error = "HTTP 500" if s > 0 else None  # 2 of every 3 candidate samples failed
            records.append(record(f"c{i}", "candidate", True, sample=s, error=error))
    row = evaluate(NI, records).rows[0]
    assert row.status == "inconclusive"
    assert "40 of 120 sample(s) errored or could not be scored" in row.detail
