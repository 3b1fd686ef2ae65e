"""examples/recorded: every metric family on recorded outputs, run as a user would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tunegate import load_results
from tunegate.cli import main
from tunegate.metrics import get_metric
from tunegate.metrics.judging import is_judged
from tunegate.testing import FakeOpenAIServer
from tunegate.testing.judges import Recorder, fair

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "recorded"

FAMILIES = {
    "matching": {"normalized_match", "key_points"},
    "overlap": {"rouge_l", "bleu", "chrf"},
    "embeddings": {"embedding_similarity"},
    "tone": {"readability", "sentiment"},
    "structure": {"json_valid", "json_schema"},
    "refusal": {"refusal"},
    "judged": {"geval", "faithfulness", "answer_correctness", "bias", "toxicity", "judge_refusal"},
}


def test_the_recorded_example_scores_every_family_and_skips_the_judged_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "recorded"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("reports"))
    monkeypatch.chdir(project)
    assert main(["run", "--no-progress"]) == 0
    out = capsys.readouterr().out
    results = load_results(project / "reports" / "latest")
    used = {s.metric for r in results.records for s in r.scores.values()}
    for family, metrics in FAMILIES.items():
        assert used & metrics, f"no {family} metric in the example"
    judged = {s.metric for r in results.records for s in r.scores.values() if s.skipped}
    assert judged == {m for m in used if is_judged(get_metric(m))}
    assert judged >= FAMILIES["judged"]
    # Judged checks are never passes and never silently dropped; the run says how to judge.
    skipped = [s for r in results.records for s in r.scores.values() if s.skipped]
    assert skipped and all(s.value is None and not s.passed for s in skipped)
    assert results.stats.judge_skipped == len(skipped) + len(results.pairwise)
    assert [p.error for p in results.pairwise] == ["skipped: no judge configured"]
    assert "judged check(s) skipped: no judge configured" in out
    assert "`judge: NAME` in tunegate.yaml or --judge NAME" in out
    # Every offline check scored; only the embedder may be missing (an optional extra), and
    # then its checks say how to install it.
    offline = [s for r in results.records for s in r.scores.values() if not s.skipped]
    for s in offline:
        if s.value is None:
            assert s.metric == "embedding_similarity" and "pip install" in (s.reason or "")
    assert results.verdict == "passed"
    candidate = [r for r in results.records if r.role == "candidate"]
    assert all(r.passed for r in candidate)


# instructor, under ragas, warns about its own deprecated modes on every call.
@pytest.mark.filterwarnings("ignore:FUNCTIONS is deprecated:DeprecationWarning")
def test_the_recorded_example_judged_by_the_fair_judge_has_a_verdict_on_every_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("deepeval")
    pytest.importorskip("ragas")
    project = tmp_path / "recorded"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("reports"))
    judge = Recorder(fair)
    with FakeOpenAIServer(responder=judge) as srv:
        # As the example's tunegate.yaml says to: a judge named and defined.
        config = yaml.safe_load((project / "tunegate.yaml").read_text())
        config["judge"] = "grader"
        config["targets"]["grader"] = {
            "provider": "openai",
            "base_url": srv.base_url,
            "model": "qwen2.5-14b-instruct",
        }
        (project / "tunegate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        monkeypatch.chdir(project)
        assert main(["run", "--no-progress"]) == 0

    results = load_results(project / "reports" / "latest")
    judged = [
        s for r in results.records for s in r.scores.values() if is_judged(get_metric(s.metric))
    ]
    assert {s.metric for s in judged} >= FAMILIES["judged"]
    assert results.stats.judge_errors == 0 and results.stats.judge_skipped == 0
    assert all(s.value is not None and not s.skipped for s in judged), judged
    assert [(p.winner, p.error) for p in results.pairwise] == [("candidate", None)]
    # Every kind of question the judged metrics ask reached the fair judge and was answered.
    for asked in (
        "concise evaluation steps",  # geval
        "Evaluation Steps:",
        "generate a list of OPINIONS",  # bias, toxicity
        "provide an overall reason",
        "Break down each sentence",  # faithfulness
        "Decompose and break down",  # answer_correctness
        "judge the faithfulness of a series of statements",
        "Does the answer refuse the request?",  # judge_refusal
        "Which answer better meets the criteria?",  # pairwise
    ):
        assert judge.prompts(asked), asked
    # Its verdicts read as the example means: the fine-tune passes every case, the base not.
    candidate = [r for r in results.records if r.role == "candidate"]
    assert all(r.passed for r in candidate)
    assert results.verdict == "passed"
