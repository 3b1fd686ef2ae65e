"""Pairwise preference end to end: base against candidate, judged in both orders by
scripted judges on a real HTTP server.

The two orders are the control: a judge biased to the first answer names a different
winner in each, so every pair is a tie and the position-bias rate says so; a consistent
judge's verdicts, win counts and length bias are exactly what its rule implies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunegate.cli import main
from tunegate.execution.pairwise import summarize_pairs
from tunegate.metrics.pairwise import PairwiseMetric
from tunegate.results import PairwiseVerdict
from tunegate.stats import z_for
from tunegate.stats.intervals import wilson_at
from tunegate.testing import FakeOpenAIServer
from tunegate.testing.judges import always_first, fair, fair_by, fenced, malformed

from .test_judges import PAIRWISE, judge_project, run_project

# Case id -> (base output, candidate output): the candidate is longer in 7 cases of 10.
ANSWERS = {
    f"c{i}": (
        ("Short answer." if i < 7 else f"A much longer base answer, number {i}, with detail."),
        (f"A longer candidate answer, number {i}, with more detail." if i < 7 else "Brief."),
    )
    for i in range(10)
}


def _length_bias(answers: dict[str, tuple[str, str]], longer_wins: bool) -> float:
    """The summary's definition: winner's characters minus loser's, averaged over pairs."""
    gaps = [abs(len(c) - len(b)) for b, c in answers.values()]
    return (1 if longer_wins else -1) * sum(gaps) / len(gaps)


def test_a_judge_that_always_prefers_the_first_answer_is_all_position_bias(
    tmp_path: Path,
) -> None:
    with FakeOpenAIServer(responder=always_first) as srv:
        config = judge_project(tmp_path, ANSWERS, judge_url=srv.base_url, checks=[PAIRWISE])
        results = run_project(config)
        assert srv.served() == 2 * len(ANSWERS)

    assert len(results.pairwise) == len(ANSWERS)
    for verdict in results.pairwise:
        assert verdict.winner == "tie" and verdict.consistent is False
        # Base shown first, then candidate shown first: each time the first one "won".
        assert verdict.verdicts == ["base", "candidate"]
        assert verdict.error is None
    (summary,) = results.pairwise_summary
    assert summary.position_bias_rate == 1.0
    assert (summary.pairs, summary.ties, summary.candidate_wins, summary.base_wins) == (
        10,
        10,
        0,
        0,
    )
    assert summary.win_rate == 0.5
    assert summary.length_bias is None  # no pair had a winner
    assert results.stats.judged == 20 and results.stats.judge_errors == 0


def test_a_fair_judge_gives_consistent_verdicts_and_the_right_counts(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=fair) as srv:
        config = judge_project(tmp_path, ANSWERS, judge_url=srv.base_url, checks=[PAIRWISE])
        results = run_project(config)

    by_case = {v.case_id: v for v in results.pairwise}
    for case, (base, cand) in ANSWERS.items():
        expected = "candidate" if len(cand) > len(base) else "base"
        verdict = by_case[case]
        assert verdict.consistent is True and verdict.winner == expected
        assert verdict.verdicts == [expected, expected]
        assert (verdict.base_chars, verdict.candidate_chars) == (len(base), len(cand))
    (summary,) = results.pairwise_summary
    assert (summary.candidate_wins, summary.base_wins, summary.ties) == (7, 3, 0)
    assert summary.position_bias_rate == 0.0 and summary.errors == 0
    assert summary.win_rate == pytest.approx(0.7)
    assert summary.win_rate_ci is not None
    low, high = summary.win_rate_ci
    assert 0.0 <= low < 0.7 < high <= 1.0
    # The longer answer always won: winners are longer, by exactly the mean gap.
    assert summary.length_bias is not None and summary.length_bias > 0
    assert summary.length_bias == pytest.approx(_length_bias(ANSWERS, longer_wins=True))


def test_a_judge_that_prefers_short_answers_has_a_negative_length_bias(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=fair_by(lambda text: -len(text))) as srv:
        config = judge_project(tmp_path, ANSWERS, judge_url=srv.base_url, checks=[PAIRWISE])
        results = run_project(config)
    (summary,) = results.pairwise_summary
    assert (summary.candidate_wins, summary.base_wins, summary.ties) == (3, 7, 0)
    assert summary.position_bias_rate == 0.0
    assert summary.win_rate == pytest.approx(0.3)
    assert summary.win_rate_ci is not None
    assert summary.win_rate_ci[0] < 0.3 < summary.win_rate_ci[1]
    assert summary.length_bias is not None and summary.length_bias < 0
    assert summary.length_bias == pytest.approx(_length_bias(ANSWERS, longer_wins=False))


def test_without_a_base_target_there_is_nothing_to_compare(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=fair) as srv:
        config = judge_project(
            tmp_path, ANSWERS, judge_url=srv.base_url, checks=[PAIRWISE], base=None
        )
        results = run_project(config)
        assert srv.served() == 0
    assert {r.role for r in results.records} == {"candidate"}
    assert results.pairwise == [] and results.pairwise_summary == []
    assert results.stats.judged == 0 and results.stats.judge_skipped == 0


def test_a_judge_error_in_one_order_leaves_the_pair_without_a_winner(tmp_path: Path) -> None:
    answers = {"ok": ANSWERS["c0"], "broken": ("Base answer.", "Candidate answer, longer.")}

    def breaks_on_base_first(prompt: str, body: dict[str, Any]) -> str:
        if fenced(prompt).get("ANSWER-A") == "Base answer.":
            return malformed(prompt, body)
        return fair(prompt, body)

    with FakeOpenAIServer(responder=breaks_on_base_first) as srv:
        config = judge_project(tmp_path, answers, judge_url=srv.base_url, checks=[PAIRWISE])
        results = run_project(config)
        asked = srv.served()
        rerun = run_project(config)
        # The failed order is asked again; the order that answered comes from the store.
        assert srv.served() == asked + 1

    for outcome in (results, rerun):
        by_case = {v.case_id: v for v in outcome.pairwise}
        broken = by_case["broken"]
        assert broken.winner is None and broken.consistent is None
        assert broken.verdicts == [None, "candidate"]
        assert broken.error is not None and "not a JSON object" in broken.error
        assert malformed("", {}) in broken.error  # the raw answer, kept beside the error
        assert by_case["ok"].winner == "candidate" and by_case["ok"].error is None
        (summary,) = outcome.pairwise_summary
        assert (summary.pairs, summary.errors, summary.candidate_wins) == (1, 1, 1)
    assert results.stats.judge_errors == 1 and rerun.stats.judge_errors == 1


def test_a_lone_surrogate_in_a_pairwise_reason_does_not_end_the_run(tmp_path: Path) -> None:
    def half_emoji(prompt: str, body: dict[str, Any]) -> str:
        return json.dumps({"winner": "A", "reason": "half an emoji \ud83d"})

    with FakeOpenAIServer(responder=half_emoji) as srv:
        config = judge_project(
            tmp_path, {"c0": ANSWERS["c0"]}, judge_url=srv.base_url, checks=[PAIRWISE]
        )
        results = run_project(config)
    (verdict,) = results.pairwise
    assert verdict.reasons == ["half an emoji \ufffd"] * 2


def test_a_new_pairwise_prompt_version_asks_the_judge_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAIServer(responder=fair) as srv:
        config = judge_project(
            tmp_path, {"c0": ANSWERS["c0"]}, judge_url=srv.base_url, checks=[PAIRWISE]
        )
        run_project(config)
        asked = srv.served()
        monkeypatch.setattr(PairwiseMetric, "prompt_version", "pairwise-2")
        run_project(config)
        assert srv.served() == asked + 2


# -- what a pairwise check may say, and its interval on one pair -------------------------


@pytest.mark.parametrize("criteria", ["", "   \n\t"])
def test_blank_pairwise_criteria_are_a_load_error_with_a_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], criteria: str
) -> None:
    # Blank criteria asked the judge to compare on nothing, and it still gave verdicts.
    checks = [{"metric": "pairwise", "args": {"criteria": criteria}}]
    judge_project(tmp_path, ANSWERS, judge=None, checks=checks)
    assert main(["run", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "suites/judged.yaml:" in err and "criteria is blank" in err
    assert "leave criteria out for the default" in err and "Traceback" not in err


def test_a_threshold_on_a_pairwise_check_is_a_load_error_with_a_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A pairwise check gives no value per output: its threshold did nothing, silently.
    judge_project(tmp_path, ANSWERS, judge=None, checks=[{"metric": "pairwise", "threshold": 0.7}])
    assert main(["run", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "suites/judged.yaml:" in err and "threshold has nothing to compare with" in err
    assert "remove the threshold" in err


def _verdict(case: str, winner: str | None, sample: int = 0) -> PairwiseVerdict:
    return PairwiseVerdict(
        suite="s",
        case_id=case,
        sample=sample,
        check="pairwise",
        winner=winner,  # type: ignore[arg-type]
        consistent=True,
        verdicts=[winner, winner],
        base_chars=1,
        candidate_chars=2,
    )


def test_a_single_pair_gets_wilsons_interval_not_none() -> None:
    # One case cannot be bootstrapped; a bare win rate of 100% would claim more than one
    # pair shows. Wilson's interval on one case says how little that is.
    [summary] = summarize_pairs([_verdict("only", "candidate")])
    assert summary.win_rate == 1.0
    assert summary.win_rate_ci == pytest.approx(list(wilson_at(1, 1, z_for(0.95))))
    low, high = summary.win_rate_ci or (1.0, 1.0)
    assert low < 0.25 and high == pytest.approx(1.0)
    # Samples of one case are not independent pairs: still one case, still that wide.
    [split] = summarize_pairs([_verdict("only", "candidate", 0), _verdict("only", "base", 1)])
    assert split.win_rate == 0.5
    assert split.win_rate_ci == pytest.approx(list(wilson_at(0.5, 1, z_for(0.95))))
    # No judged pair at all: no interval.
    [none] = summarize_pairs([_verdict("only", None)])
    assert none.pairs == 0 and none.win_rate is None and none.win_rate_ci is None


def test_one_judged_pair_end_to_end_carries_an_interval(tmp_path: Path) -> None:
    with FakeOpenAIServer(responder=fair) as srv:
        config = judge_project(
            tmp_path, {"c0": ANSWERS["c0"]}, judge_url=srv.base_url, checks=[PAIRWISE]
        )
        results = run_project(config)
    (summary,) = results.pairwise_summary
    assert summary.pairs == 1 and summary.win_rate == 1.0
    assert summary.win_rate_ci is not None and summary.win_rate_ci[0] < 0.25
