"""Judged checks across real processes: `tunegate run` in a child process, its judge a
scripted server in this one. What one process keeps to itself (a cache, a file in the
home directory) only shows when the next process starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("deepeval")
pytest.importorskip("ragas")

from tunegate.testing import FakeOpenAIServer
from tunegate.testing.judges import Recorder, fair

from .judged_projects import judged_project, openai_judge

# instructor, under ragas, warns about its own deprecated modes on every call.
pytestmark = pytest.mark.filterwarnings("ignore:FUNCTIONS is deprecated:DeprecationWarning")

POLICY = "Returns are free within 30 days. Tents carry a two year warranty."
STEPS_PROMPT = "generate 3-4 concise evaluation steps"


def run_in_child(
    config: Path, home: Path, *, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`tunegate run` on `config` in a new Python process whose home and XDG folders are
    under `home` (empty folders, so anything written there shows); a run that takes over
    `timeout` seconds fails the test instead of hanging it."""
    for folder in ("home", "data", "config", "cache", "state"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home / "home"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_STATE_HOME": str(home / "state"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tunegate", "run", "--config", str(config), "--no-progress"],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def written(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_ragas_writes_no_analytics_id_into_the_home_directory(tmp_path: Path) -> None:
    # ragas makes an analytics user id (~/.local/share/ragas/uuid.json, or under
    # $XDG_DATA_HOME) whenever it builds a usage event, even with tracking off.
    answers = {"q1": ("Returns are free within 30 days.", "Tents carry a two year warranty.")}
    checks = [{"metric": "faithfulness"}, {"metric": "answer_correctness"}]
    fields = {"context": POLICY, "reference": POLICY}
    judge = Recorder(fair)
    with FakeOpenAIServer(responder=judge) as srv:
        config = judged_project(
            tmp_path / "project",
            answers,
            checks,
            judge_target=openai_judge(srv.base_url),
            case_fields=fields,
        )
        run_in_child(config, tmp_path / "user")

    assert judge.requests, "the judge was asked nothing: ragas did not run"
    results = json.loads((config.parent / "reports" / "latest" / "results.json").read_text())
    assert results["stats"]["judge_errors"] == 0
    assert written(tmp_path / "user") == []


class DriftingSteps(Recorder):
    """Writes new evaluation steps each time it is asked ("Step version N"), as a judge
    may (another build, another seed); scores 8 on version 1's steps, else 3."""

    def answer(self, prompt: str, body: dict[str, Any]) -> str:
        if STEPS_PROMPT in prompt:
            version = len(self.prompts(STEPS_PROMPT))
            return json.dumps({"steps": [f"Step version {version}."]})
        if "Evaluation Steps:" in prompt:
            score = 8 if "Step version 1." in prompt else 3
            return json.dumps({"score": score, "reason": f"on {'first' if score == 8 else 'new'}"})
        return fair(prompt, body)


def test_a_later_process_scores_geval_on_the_steps_the_first_one_wrote(tmp_path: Path) -> None:
    judge = DriftingSteps()
    check = {"metric": "geval", "args": {"criteria": "Answers the question"}}
    root = tmp_path / "project"
    with FakeOpenAIServer(responder=judge) as srv:
        target = openai_judge(srv.base_url)
        first = {"q1": ("I do not know.", "Here is the answer: 4.")}
        run_in_child(judged_project(root, first, [check], judge_target=target), tmp_path / "u")
        # The next fine-tune: a new candidate answer; the base's verdict is in the store.
        second = {"q1": ("I do not know.", "The answer is 4, as asked.")}
        run_in_child(judged_project(root, second, [check], judge_target=target), tmp_path / "u")

    results = json.loads((root / "reports" / "latest" / "results.json").read_text())
    values = {r["role"]: r["scores"]["geval"]["value"] for r in results["records"]}
    assert len(judge.prompts(STEPS_PROMPT)) == 1
    assert all("Step version 1." in p for p in judge.prompts("Evaluation Steps:"))
    assert values == {"base": 0.8, "candidate": 0.8}


def test_geval_checks_at_judge_concurrency_one_do_not_wait_on_each_other(tmp_path: Path) -> None:
    # Each check asks for the steps while it holds the judge's only slot: getting them must
    # not need a second slot (a deadlock), and they are written once.
    judge = Recorder(fair)
    answers = {f"q{i}": ("I do not know.", f"Here is the answer: {i}.") for i in range(3)}
    check = {"metric": "geval", "args": {"criteria": "Answers the question"}}
    with FakeOpenAIServer(responder=judge) as srv:
        target = openai_judge(srv.base_url, concurrency=1)
        config = judged_project(tmp_path / "project", answers, [check], judge_target=target)
        run_in_child(config, tmp_path / "u", timeout=120)

    results = json.loads((config.parent / "reports" / "latest" / "results.json").read_text())
    assert results["stats"]["judge_errors"] == 0
    assert len([r for r in results["records"] if r["scores"]["geval"]["value"] is not None]) == 6
    assert len(judge.prompts(STEPS_PROMPT)) == 1
