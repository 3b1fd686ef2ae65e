"""A cached row that does not decode is a miss: regenerated, overwritten, with a warning."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.execution import Store
from tunegate.providers import Generation, TokenLogprob

from .conftest import latest_results, make_project, write

GOOD = Generation("out", "stop", 3, 1, [TokenLogprob("out", -0.25)], "prompt")

CORRUPTIONS = {
    "logprobs are not JSON": "UPDATE generations SET logprobs_json = '[[\"out\", -0.2'",
    "logprobs are not pairs": "UPDATE generations SET logprobs_json = '{\"a\": 1}'",
    "a logprob is text": 'UPDATE generations SET logprobs_json = \'[["out", "low"]]\'',
    "output is not UTF-8": "UPDATE generations SET output = CAST(x'ff6f7574' AS TEXT)",
    "token count is text": "UPDATE generations SET prompt_tokens = 'three'",
    "latency is a blob": "UPDATE generations SET latency_s = x'00'",
}


def corrupt(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(sql)
    db.close()


@pytest.mark.parametrize("sql", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_an_undecodable_row_is_a_miss_with_a_warning(
    tmp_path: Path, sql: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.db"
    with Store(path) as store:
        store.put_generation(
            "k", target="cand", suite="s", case_id="a", sample=0, generation=GOOD, latency_s=0.5
        )
    corrupt(path, sql)
    with Store(path) as store, caplog.at_level(logging.WARNING, logger="tunegate"):
        assert store.get_generation("k") is None
        # ... and a run claims it rather than waiting for a result that will never decode.
        assert store.claim("k").state.value == "mine"
        store.put_generation(
            "k", target="cand", suite="s", case_id="a", sample=0, generation=GOOD, latency_s=0.5
        )
        cached = store.get_generation("k")
    assert cached is not None and cached.generation == GOOD
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("the store at t.db holds an unreadable generation (cand a sample 0")
    assert warning.endswith("generating it again")


def test_a_run_regenerates_a_corrupt_row_and_overwrites_it(tmp_path: Path) -> None:
    write(
        tmp_path / "c.jsonl",
        '{"case_id": "a", "output": "fine"}\n{"case_id": "b", "output": "ok"}\n',
    )
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: c.jsonl}",
        suites={"s.yaml": "name: s\ncases:\n  - {id: a, prompt: p}\n  - {id: b, prompt: q}\n"},
        base=None,
    )
    assert main(["run"]) == 0
    store = tmp_path / "reports" / "tunegate.db"
    corrupt(store, "UPDATE generations SET logprobs_json = 'not json' WHERE case_id = 'a'")

    assert main(["run"]) == 0
    results = latest_results(tmp_path)
    assert results.stats.calls == 1 and results.stats.cached == 1
    assert {r.case_id: r.output for r in results.records} == {"a": "fine", "b": "ok"}
    run_log = (tmp_path / "reports" / "latest" / "run.log").read_text()
    assert "holds an unreadable generation (cand a sample 0" in run_log
    # Overwritten: the next run is served entirely from the store.
    assert main(["run"]) == 0
    assert latest_results(tmp_path).stats.calls == 0
