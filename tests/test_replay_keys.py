"""Replay outputs belong to cases: two cases with the same prompt keep their own outputs."""

from __future__ import annotations

from pathlib import Path

from tunegate.cli import main

from .conftest import candidate_project, latest_results, write


def test_two_cases_with_one_prompt_keep_their_recorded_outputs(tmp_path: Path) -> None:
    write(
        tmp_path / "cand.jsonl",
        '{"case_id": "first", "output": "one"}\n{"case_id": "second", "output": "two"}\n',
    )
    suite = "name: s\ngate: {min_pass_rate: 0}\ncases:\n"
    suite += "  - {id: first, prompt: same question}\n  - {id: second, prompt: same question}\n"
    candidate_project(tmp_path, {"s.yaml": suite}, provider="replay", path="cand.jsonl")
    assert main(["run"]) == 0
    outputs = {r.case_id: r.output for r in latest_results(tmp_path).records}
    assert outputs == {"first": "one", "second": "two"}
