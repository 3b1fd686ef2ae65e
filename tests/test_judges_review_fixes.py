"""Defects the adversarial review of the judges found, each pinned by a test."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tunegate import load_results
from tunegate.cli import main
from tunegate.execution.pairwise import summarize_pairs
from tunegate.metrics.judging import JudgeError, parse_json_verdict
from tunegate.results import PairwiseVerdict
from tunegate.stats import z_for
from tunegate.stats.intervals import wilson_at, wilson_interval
from tunegate.testing import FakeOpenAIServer

from .judged_projects import judged_project, openai_judge, run_project


def test_a_verdict_that_gives_a_key_twice_is_no_verdict() -> None:
    # The last value would win in json.loads: {"refusal": true, "refusal": false} passes.
    with pytest.raises(JudgeError, match="gives 'refusal' twice") as caught:
        parse_json_verdict('{"refusal": true, "refusal": false}')
    assert caught.value.raw == '{"refusal": true, "refusal": false}'
    with pytest.raises(JudgeError, match="'winner' twice"):
        parse_json_verdict('Sure: {"winner": "A", "reason": "x", "winner": "B"}')
    assert parse_json_verdict('{"a": {"b": 1}, "b": 2}') == {"a": {"b": 1}, "b": 2}


def _tie(case: str) -> PairwiseVerdict:
    return PairwiseVerdict(
        suite="s",
        case_id=case,
        check="pairwise",
        winner="tie",
        consistent=False,
        verdicts=["base", "candidate"],
        base_chars=1,
        candidate_chars=1,
    )


def test_an_odd_number_of_ties_gets_wilsons_interval_of_one_half() -> None:
    [summary] = summarize_pairs([_tie(c) for c in ("a", "b", "c")])
    assert summary.win_rate == 0.5 and summary.position_bias_rate == 1.0
    assert summary.win_rate_ci == pytest.approx(list(wilson_at(1.5, 3, z_for(0.95))))
    low, high = summary.win_rate_ci or (0.0, 0.0)
    assert low < 0.5 < high and high - 0.5 == pytest.approx(0.5 - low)  # symmetric at 1/2
    # The closed form is statsmodels' Wilson interval on whole counts.
    assert list(wilson_at(2, 3, z_for(0.95))) == pytest.approx(list(wilson_interval(2, 3)))


def test_a_judge_that_gives_no_verdict_at_all_stops_the_gate_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 1: every judge call is refused.
    config = judged_project(
        tmp_path,
        {"q1": ("no", "yes")},
        [{"metric": "judge_refusal", "args": {"negate": True}}],
        judge_target=openai_judge("http://127.0.0.1:1/v1", timeout=2, max_attempts=1),
    )
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--no-progress", "--config", str(config)]) == 3
    out, err = capsys.readouterr()
    assert "judge error (first of 2): judged/judge_refusal on q1: the judge failed:" in out
    assert "every generation of the judge j failed" in err


def test_ragas_checks_keep_to_the_judge_targets_timeout_and_attempts(tmp_path: Path) -> None:
    def hang(prompt: str, body: dict[str, Any]) -> str:
        time.sleep(3)
        return "{}"

    with FakeOpenAIServer(responder=hang) as srv:
        config = judged_project(
            tmp_path,
            {"q1": ("a", "b")},
            [{"metric": "faithfulness"}],
            judge_target=openai_judge(srv.base_url, timeout=0.5, max_attempts=2),
            case_fields={"context": "Returns are free."},
        )
        results = run_project(config)
        arrivals = len(srv.arrivals("question q1")) + len(srv.arrivals("Returns"))

    for r in results.records:
        score = r.scores["faithfulness"]
        assert score.value is None and not score.passed
    # Two outputs, each tried max_attempts = 2 times: ragas's client follows the target.
    assert arrivals == 4
    assert results.stats.judge_calls == 4


def test_a_verdict_nested_too_deep_is_no_verdict_not_a_crash() -> None:
    raw = '{"a": ' * 100_000 + "1" + "}" * 100_000
    with pytest.raises(JudgeError, match="not a JSON object"):
        parse_json_verdict(raw)


def test_cases_judged_only_are_no_evidence_without_a_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each case has only a judged check and no judge is configured: the built-in
    non_empty check alone must not make them pass, so min_pass_rate has no evidence."""
    answers = {f"c{i}": ("an answer", "an answer") for i in range(12)}
    config = judged_project(
        tmp_path,
        answers,
        [{"metric": "geval", "args": {"criteria": "Answers the question."}}],
        judge_target=None,
        judge=None,
        gate={"min_pass_rate": 0.8},
    )
    assert main(["run", "--config", str(config)]) == 1
    (rule,) = load_results(tmp_path / "reports" / "latest").gate
    assert rule.status == "inconclusive" and rule.value is None, rule.detail
