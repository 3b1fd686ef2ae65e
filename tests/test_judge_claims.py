"""Runs sharing a store share judge verdicts as they share generations: a verdict is asked
once, by the run that claims its key; the other waits for it and uses it.

Two real `tunegate run` processes against one scripted judge server that counts requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tunegate import Results, load_results
from tunegate.execution.judge import judgment_key
from tunegate.execution.store import generation_key
from tunegate.testing import FakeOpenAIServer
from tunegate.testing.judges import fair

from .judged_projects import judged_project, openai_judge

N_CASES = 10


def start_run(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tunegate", "run", "--no-progress"],
        cwd=root,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished_runs(root: Path) -> list[tuple[Results, str]]:
    return [
        (load_results(folder), (folder / "run.log").read_text())
        for folder in sorted((root / "reports").iterdir())
        if (folder / "results.json").is_file() and not folder.is_symlink()
    ]


def test_two_concurrent_runs_ask_the_judge_for_each_verdict_once(tmp_path: Path) -> None:
    answers = {
        f"c{i}": (f"Base answer {i}.", f"Candidate answer number {i}.") for i in range(N_CASES)
    }
    checks = [{"metric": "judge_refusal", "args": {"negate": True}}, {"metric": "pairwise"}]
    # Slow enough answers that both runs are judging at the same time.
    with FakeOpenAIServer(responder=fair, latency=0.3) as srv:
        judged_project(
            tmp_path,
            answers,
            checks,
            judge_target=openai_judge(srv.base_url, concurrency=2, max_attempts=1),
        )
        runs = [start_run(tmp_path), start_run(tmp_path)]
        outputs = [run.communicate(timeout=300)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        asked = Counter(r.prompt for r in srv.requests)

    # judge_refusal on both outputs of each case, and pairwise in both orders.
    verdicts = 4 * N_CASES
    assert len(asked) == verdicts
    assert set(asked.values()) == {1}, "a verdict was asked for twice"
    (first, first_log), (second, second_log) = finished_runs(tmp_path)
    for results in (first, second):
        assert results.stats.judge_errors == 0
        assert all(r.scores["judge_refusal"].value == 1.0 for r in results.records)
        assert [p.winner for p in results.pairwise] == ["candidate"] * N_CASES
    # Every verdict was asked by one run, and the two split them.
    assert first.stats.judge_calls + second.stats.judge_calls == verdicts
    assert first.stats.judge_calls > 0 and second.stats.judge_calls > 0
    for results in (first, second):
        assert results.stats.judge_calls + results.stats.judge_cached == results.stats.judged
    assert "verdicts of another run sharing the store are used" in first_log + second_log
    with sqlite3.connect(tmp_path / "reports" / "tunegate.db") as db:
        assert db.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    db.close()


# -- one key helper for generations and verdicts ----------------------------------------

JUDGE = {"provider": "openai", "model": "judge-1"}


def test_keys_of_text_with_a_lone_surrogate_neither_crash_nor_collide() -> None:
    # Model output may end in half an emoji. A strict encoding raised UnicodeEncodeError on
    # it; errors="replace" made two different texts one key (both halves become "?").
    def key(text: str) -> str:
        return judgment_key(JUDGE, "judge_refusal", "1", {"output": text})

    assert key("half \ud83d") != key("half \udc00") != key("half ?")
    messages = [{"role": "user", "content": "half \ud83d"}]
    assert generation_key(JUDGE, messages, {}, 0) != generation_key(
        JUDGE, [{"role": "user", "content": "half \udc00"}], {}, 0
    )


def test_keys_of_valid_text_are_unchanged_so_stores_keep_their_cache() -> None:
    content = {"judge": JUDGE, "metric": "m", "prompt_version": "1", "output": "café 😀"}
    payload = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert judgment_key(JUDGE, "m", "1", {"output": "café 😀"}) == (
        hashlib.sha256(payload.encode("utf-8")).hexdigest()
    )
