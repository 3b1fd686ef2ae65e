"""min_judge_agreement: a rule on a judged check gates only while the judge agrees with
people enough; below the bar, or without ratings, it reports and does not gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegate.errors import SuiteError
from tunegate.execution.agreement import encode_rating, judge_agreement, output_sha
from tunegate.gate import evaluate_gate
from tunegate.gate.judged import MIN_JUDGE_RATINGS
from tunegate.report import gate_line, render_report, render_summary
from tunegate.report.judging import agreement_line
from tunegate.results import Agreement, CheckScore, GateResult, Message, Record
from tunegate.stats import BootstrapSettings
from tunegate.suite import GateSpec, Suite, load_suite
from tunegate.suite.format import NoRegressionRule

from .conftest import write
from .review_runs import results_of

SETTINGS = BootstrapSettings(resamples=2000, seed=1)
JUDGED = "judged"  # a judge_refusal check, named
RULE = "phrase"  # a non-judged refusal check


def record(case: str, role: str, judged: bool, phrase: bool = True) -> Record:
    scores = {
        JUDGED: CheckScore(
            metric="judge_refusal",
            value=1.0 if judged else 0.0,
            passed=judged,
            threshold=1.0,
            weight=1.0,
        ),
        RULE: CheckScore(
            metric="refusal", value=1.0 if phrase else 0.0, passed=phrase, threshold=1.0, weight=1
        ),
    }
    return Record(
        suite="s",
        case_id=case,
        template_id=case,
        vars={},
        tags=[],
        target="cand" if role == "candidate" else "base",
        role=role,
        sample=0,
        prompt=[],
        reference=None,
        context=None,
        output=f"{role} says {case}",
        error=None,
        scores=scores,
        score=None,
        passed=judged and phrase,
        cached=False,
        latency_s=None,
        key=f"{case}-{role}",
    )


def regressed_on_the_judged_check(n: int = 40, regressed: int = 20) -> list[Record]:
    """Base passes the judged check everywhere; the candidate fails it on `regressed` cases.
    The rule check passes everywhere."""
    out = []
    for i in range(n):
        out += [record(f"c{i}", "base", True), record(f"c{i}", "candidate", i >= regressed)]
    return out


def suite(gate: GateSpec) -> Suite:
    return Suite(name="s", path=Path("s.yaml"), gate=gate, cases=())


def agreement(kappa: float | None, n: int = 30, raw: float = 0.9, check: str = JUDGED) -> Agreement:
    return Agreement(suite="s", check=check, n=n, raw_agreement=raw, kappa=kappa)


ON_JUDGED = NoRegressionRule(metric=JUDGED, margin=0.05)


def evaluate(gate: GateSpec, found: list[Agreement], defaults: GateSpec | None = None):  # type: ignore[no-untyped-def]
    return evaluate_gate(
        [suite(gate)],
        regressed_on_the_judged_check(),
        defaults=defaults,
        settings=SETTINGS,
        agreement=found,
    )


def test_without_min_judge_agreement_a_judged_rule_gates_as_before() -> None:
    result = evaluate(GateSpec(no_regression=ON_JUDGED), [])
    assert result.rows[0].status == "failed" and result.verdict == "failed"
    assert not result.gate_passed


def test_without_ratings_a_judged_rule_reports_but_does_not_gate() -> None:
    result = evaluate(GateSpec(no_regression=ON_JUDGED, min_judge_agreement=0.6), [])
    row = result.rows[0]
    assert row.status == "inconclusive" and row.on_inconclusive == "warn" and not row.passed
    assert not row.gating
    assert row.detail.startswith(
        "reports only (no human ratings of the judged check 'judged' match this run's "
        "outputs), does not gate: min_judge_agreement 0.6 needs at least 30 rated outputs; "
        "rate its outputs: tunegate review export, then review import; on its own the rule "
        "would fail: regressed beyond"
    )
    # The rule's own finding and its statistic are kept.
    assert "on its own the rule would fail: regressed beyond" in row.detail
    assert row.value == pytest.approx(-0.5) and row.ci is not None
    # Its only rule decides nothing: no pass for CI to read.
    assert result.verdict == "inconclusive" and not result.gate_passed


def test_an_agreement_without_ratings_counts_as_none() -> None:
    gate = GateSpec(no_regression=ON_JUDGED, min_judge_agreement=0.6)
    result = evaluate(
        gate, [Agreement(suite="s", check=JUDGED, n=0, raw_agreement=None, kappa=None)]
    )
    assert result.rows[0].detail.startswith("reports only")
    assert not result.gate_passed


def test_agreement_at_or_above_the_bar_lets_the_rule_gate() -> None:
    gate = GateSpec(no_regression=ON_JUDGED, min_judge_agreement=0.6)
    for kappa in (0.6, 0.85):
        result = evaluate(gate, [agreement(kappa)])
        assert result.rows[0].status == "failed" and not result.gate_passed
        assert not result.rows[0].detail.startswith("reports only")
        assert result.rows[0].gating


def test_agreement_below_the_bar_reports_only_and_says_the_kappa() -> None:
    gate = GateSpec(no_regression=ON_JUDGED, min_judge_agreement=0.6)
    result = evaluate(gate, [agreement(0.41, n=30)])
    row = result.rows[0]
    assert row.status == "inconclusive" and not result.gate_passed and not row.gating
    assert row.detail.startswith("reports only (judge agreement 0.41 below 0.6), does not gate")
    assert "at kappa 0.41 over 30 rated output(s), below min_judge_agreement 0.6" in row.detail


def test_raw_agreement_decides_when_kappa_is_undefined() -> None:
    gate = GateSpec(no_regression=ON_JUDGED, min_judge_agreement=0.8)
    high = evaluate(gate, [agreement(None, raw=1.0)])
    assert high.rows[0].status == "failed"  # gates
    low = evaluate(gate, [agreement(None, raw=0.7)])
    assert "raw agreement 0.70" in low.rows[0].detail and not low.gate_passed


def test_an_agreement_of_another_check_or_suite_does_not_count() -> None:
    gate = GateSpec(no_regression=ON_JUDGED, min_judge_agreement=0.6)
    other = Agreement(suite="other", check=JUDGED, n=30, raw_agreement=0.9, kappa=0.9)
    result = evaluate(gate, [agreement(0.9, check="another"), other])
    assert result.rows[0].detail.startswith("reports only")


def test_rules_on_rule_checks_and_pass_rate_still_gate() -> None:
    gate = GateSpec(
        min_pass_rate=1.0,
        no_regression=[ON_JUDGED, NoRegressionRule(metric=RULE, margin=0.05)],
        min_judge_agreement=0.6,
    )
    result = evaluate(gate, [])
    by_id = {r.id: r for r in result.rows}
    assert by_id["no_regression:judged"].detail.startswith("reports only")
    assert by_id["min_pass_rate"].status == "failed"  # half the candidate's cases fail
    assert not by_id["no_regression:phrase"].detail.startswith("reports only")
    assert result.verdict == "failed" and not result.gate_passed


def test_a_reporting_rule_leaves_the_verdict_and_the_holm_adjustment_alone() -> None:
    on_phrase = NoRegressionRule(metric=RULE, margin=0.05)
    alone = evaluate(GateSpec(no_regression=on_phrase), []).rows[0]
    both = [ON_JUDGED, on_phrase]
    gating = evaluate(GateSpec(no_regression=both), []).rows[1]
    result = evaluate(GateSpec(no_regression=both, min_judge_agreement=0.6), [agreement(0.1)])
    judged, phrase = result.rows
    assert judged.detail.startswith("reports only") and judged.status == "inconclusive"
    # Two gating rules are Holm-adjusted together; a rule that only reports is not counted.
    assert alone.p_value is not None and gating.adjusted_p_value is not None
    assert gating.adjusted_p_value == pytest.approx(2 * alone.p_value)
    assert phrase.adjusted_p_value == pytest.approx(alone.p_value)
    assert phrase.status == alone.status and phrase.detail == alone.detail
    assert result.verdict == alone.status
    # The verdict follows the gating rules only: an easy margin passes.
    easy = [ON_JUDGED, NoRegressionRule(metric=RULE, margin=0.3)]
    passed = evaluate(GateSpec(no_regression=easy, min_judge_agreement=0.6), [agreement(0.1)])
    assert [r.status for r in passed.rows] == ["inconclusive", "passed"]
    assert passed.verdict == "passed" and passed.gate_passed


def test_the_project_default_applies_where_the_suite_sets_none() -> None:
    result = evaluate(
        GateSpec(no_regression=ON_JUDGED), [], defaults=GateSpec(min_judge_agreement=0.5)
    )
    assert result.rows[0].detail.startswith("reports only") and not result.gate_passed
    # A suite's own key wins, including null.
    own = evaluate(
        GateSpec(no_regression=ON_JUDGED, min_judge_agreement=None),
        [],
        defaults=GateSpec(min_judge_agreement=0.5),
    )
    assert own.rows[0].status == "failed"


def test_judge_agreement_gating_matches_the_gate() -> None:
    records = regressed_on_the_judged_check(n=20, regressed=10)
    gate = GateSpec(no_regression=ON_JUDGED, min_judge_agreement=0.6)
    # People agree with the judge on every output but one.
    ratings = []
    for r in records:
        label = "pass" if r.scores[JUDGED].passed else "fail"
        if r.case_id == "c0" and r.role == "candidate":
            label = "pass"
        ratings.append(
            {
                "suite": "s",
                "case_id": r.case_id,
                "role": r.role,
                "sample": 0,
                "check": JUDGED,
                "output_sha": output_sha(r.output or ""),
                "rater": "ann",
                "rating": f'{{"label": "{label}", "score": null}}',
            }
        )
    found = judge_agreement(records, ratings, [suite(gate)])
    judged = next(a for a in found if a.check == JUDGED)
    assert judged.n == 40 and judged.raw_agreement == pytest.approx(0.975)
    assert judged.kappa is not None and judged.kappa > 0.6 and judged.gating
    bar = judge_agreement(
        records, ratings, [suite(gate.model_copy(update={"min_judge_agreement": 0.95}))]
    )
    assert not next(a for a in bar if a.check == JUDGED).gating
    # Only judged checks get an agreement.
    assert [a.check for a in found] == [JUDGED]


def test_the_suite_file_takes_min_judge_agreement(tmp_path: Path) -> None:
    body = """
    name: s
    gate: {{min_judge_agreement: {value}, min_pass_rate: 0.5}}
    cases:
      - id: a
        prompt: p
    """
    suite_file = write(tmp_path / "s.yaml", body.format(value=0.7))
    assert load_suite(suite_file).gate.min_judge_agreement == 0.7
    write(tmp_path / "s.yaml", body.format(value=70))
    with pytest.raises(
        SuiteError, match=r"min_judge_agreement is a fraction of 1: did you mean 0\.7\?"
    ):
        load_suite(suite_file)
    write(tmp_path / "s.yaml", body.format(value=1.5))
    with pytest.raises(SuiteError, match="min_judge_agreement"):
        load_suite(suite_file)


# At least MIN_JUDGE_RATINGS rated outputs, a `gating` field, and every door saying so ----


def _ratings(records: list[Record], *, sha_of: str = "") -> list[dict[str, object]]:
    """People who agree with the judge on every output (of `sha_of` + the output's text)."""
    return [
        {
            "suite": "s",
            "case_id": r.case_id,
            "role": r.role,
            "sample": 0,
            "check": JUDGED,
            "output_sha": output_sha(sha_of + (r.output or "")),
            "rater": "ann",
            "rating": encode_rating("pass" if r.scores[JUDGED].passed else "fail", None),
        }
        for r in records
    ]


@pytest.mark.parametrize("n", [1, 2, MIN_JUDGE_RATINGS - 1])
def test_too_few_ratings_report_only_whatever_their_agreement(n: int) -> None:
    gate = GateSpec(no_regression=ON_JUDGED, min_judge_agreement=0.6)
    result = evaluate(gate, [agreement(1.0, n=n, raw=1.0)])
    row = result.rows[0]
    assert not row.gating and row.status == "inconclusive" and not result.gate_passed
    assert row.detail.startswith(
        f"reports only (judge agreement on 'judged' rests on {n} rated output(s), fewer than "
        f"the {MIN_JUDGE_RATINGS} min_judge_agreement needs), does not gate"
    )
    assert evaluate(gate, [agreement(1.0, n=MIN_JUDGE_RATINGS)]).rows[0].gating


def test_two_perfect_ratings_do_not_unlock_gating() -> None:
    records = regressed_on_the_judged_check()
    gate = GateSpec(no_regression=ON_JUDGED, min_judge_agreement=0.6)
    two = [r for r in records if r.case_id in ("c0", "c30") and r.role == "candidate"]
    (found,) = judge_agreement(records, _ratings(two), [suite(gate)])
    assert found.n == 2 and found.kappa == 1.0 and not found.gating
    result = evaluate(gate, [found])
    assert not result.rows[0].gating and result.verdict == "inconclusive"
    assert MIN_JUDGE_RATINGS == 30
    docs = (Path(__file__).parents[1] / "docs" / "review.md").read_text(encoding="utf-8")
    assert f"at least {MIN_JUDGE_RATINGS} rated outputs" in docs


def test_a_gate_row_of_an_older_file_gates() -> None:
    row = GateResult(suite="s", rule="min_pass_rate", target="c", value=1.0, threshold=1.0,
                     passed=True, detail="d")  # fmt: skip
    assert row.gating
    assert GateResult.model_validate({**row.model_dump(), "gating": False}).gating is False
    assert (
        "gating"
        not in GateResult.model_validate(
            {k: v for k, v in row.model_dump().items() if k != "gating"}
        ).model_fields_set
    )


def test_every_door_says_a_rule_reports_only() -> None:
    gate = GateSpec(no_regression=[ON_JUDGED, NoRegressionRule(metric=RULE, margin=0.3)],
                    min_judge_agreement=0.6)  # fmt: skip
    found = [agreement(0.41, n=40)]
    result = evaluate(gate, found)
    reporting, gating = result.rows
    assert not reporting.gating and gating.gating
    asked = [Message(role="user", content="q")]  # the report shows each case's prompt
    records = [r.model_copy(update={"prompt": asked}) for r in regressed_on_the_judged_check()]
    results = results_of(records, pairs=()).model_copy(
        update={"gate": result.rows, "agreement": found, "verdict": result.verdict}
    )
    words = "reports only (judge agreement 0.41 below 0.6)"
    assert words in gate_line(reporting)
    summary = render_summary(results)
    assert "| s | no\\_regression:judged | reports only |" in summary
    assert "| s | no\\_regression:phrase | pass |" in summary
    assert words in summary
    html = render_report(results)
    assert ">reports only</span>" in html and words in html


def test_a_judged_check_without_ratings_says_it_does_not_gate() -> None:
    none = Agreement(suite="s", check=JUDGED, n=0, raw_agreement=None, kappa=None)
    assert "does not gate" not in agreement_line(none)  # no minimum: it gates
    line = agreement_line(none.model_copy(update={"gating": False}))
    assert line == (
        "agreement s/judged: no human ratings yet (tunegate review export); reports only, "
        "does not gate: min_judge_agreement needs at least 30 rated outputs"
    )
    few = agreement(1.0, n=3).model_copy(update={"gating": False})
    assert agreement_line(few).endswith(
        "reports only, does not gate: min_judge_agreement needs at least 30 rated outputs"
    )
    low = agreement(0.2, n=40).model_copy(update={"gating": False})
    assert agreement_line(low).endswith("below min_judge_agreement: reports only, does not gate")


def test_stale_ratings_are_counted_and_said() -> None:
    records = regressed_on_the_judged_check()
    gate = GateSpec(no_regression=ON_JUDGED, min_judge_agreement=0.6)
    candidates = [r for r in records if r.role == "candidate"]
    bases = [r for r in records if r.role == "base"]
    # The candidate's outputs were rated as another text: the model changed since.
    ratings = _ratings(bases) + _ratings(candidates, sha_of="old: ")
    (found,) = judge_agreement(records, ratings, [suite(gate)])
    assert found.n == 40 and found.stale == 40 and found.gating
    line = agreement_line(found)
    assert line.endswith(
        "; 40 rated output(s) left out: they or their prompt changed since they were rated "
        "(rate the new outputs: tunegate review export)"
    )
    # Every rating stale: no output counts, and the gate says why.
    (gone,) = judge_agreement(records, _ratings(records, sha_of="old: "), [suite(gate)])
    assert gone.n == 0 and gone.stale == 80 and not gone.gating
    assert agreement_line(gone).startswith(
        "agreement s/judged: no human ratings match this run's outputs; reports only"
    )
    row = evaluate(gate, [gone]).rows[0]
    assert row.detail.startswith(
        "reports only (no human ratings of the judged check 'judged' match this run's outputs; "
        "80 rated output(s) left out: they or their prompt changed since they were rated), "
        "does not gate"
    )
    # A rating of the current text alongside an old one counts; the old one is not stale.
    (both,) = judge_agreement(records, _ratings(records) + ratings, [suite(gate)])
    assert both.n == 80 and both.stale == 0
