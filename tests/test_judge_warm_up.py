"""The judge warm-up imports deepeval and ragas before the first judged call.

Their first import blocks the event loop for 1-2.5 s. Done in the middle of scoring, it let a
short judge `timeout` fire on requests the judge had already answered. Only a fresh process
shows it (a test process has imported them long before), so the run is a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tunegate.testing import FakeOpenAIServer
from tunegate.testing.judges import fair

from .conftest import latest_results
from .judged_projects import judged_project, openai_judge

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("deepeval") is None or importlib.util.find_spec("ragas") is None,
    reason="needs the judges extra (deepeval and ragas)",
)

CHECKS = [
    {"metric": "judge_refusal", "args": {"negate": True}},
    {"metric": "geval", "args": {"criteria": "Is the answer polite?"}},
    {"metric": "faithfulness"},
]


def _first_case_fast(prompt: str, body: dict[str, Any]) -> str:
    if "question q0" not in prompt:
        time.sleep(0.5)
    return fair(prompt, body)


def test_a_one_second_judge_timeout_survives_the_first_import_of_the_libraries(
    tmp_path: Path,
) -> None:
    answers = {f"q{i}": (f"Base answer {i}.", f"Candidate answer {i}.") for i in range(8)}
    # q0 is answered at once, so its record moves on to the libraries' checks while the
    # other answers are still on their way: an import then would outlast their timeout.
    with FakeOpenAIServer(responder=_first_case_fast) as srv:
        judged_project(
            tmp_path,
            answers,
            CHECKS,
            judge_target=openai_judge(srv.base_url, timeout=1, max_attempts=1, concurrency=4),
            case_fields={"context": "Answers are numbered."},
        )
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(
            [sys.executable, "-m", "tunegate", "run", "--no-progress"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    results = latest_results(tmp_path)
    reasons = [s.reason or "" for r in results.records for s in r.scores.values()]
    assert not [r for r in reasons if "timed out" in r], reasons
    # The judge's own verdicts all landed (the libraries' checks may fail on fair's answers).
    refusals = [r.scores["judge_refusal"] for r in results.records]
    assert len(refusals) == 16 and all(s.value == 1.0 for s in refusals)
