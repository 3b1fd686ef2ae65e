"""The replay and python providers, through the whole run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import candidate_project, latest_results, write

SUITE = """
name: recorded
defaults:
  repeats: 2
gate: {min_pass_rate: 0.5}
cases:
  - id: capital
    prompt: Capital of France?
    reference: Paris
    checks:
      - metric: contains
  - id: missing-in-replay
    prompt: Anything?
"""


def replay_lines(*records: dict[str, object]) -> str:
    return "\n".join(json.dumps(r) for r in records) + "\n"


def test_replay_serves_recorded_outputs_and_flags_missing_cases(tmp_path: Path) -> None:
    write(
        tmp_path / "recorded" / "cand.jsonl",
        replay_lines(
            {"case_id": "capital", "output": "Paris."},
            {"case_id": "capital", "output": "Lyon.", "sample": 1},
        ),
    )
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="replay", path="recorded/cand.jsonl")
    assert main(["run"]) == 1  # 1 of 4 samples passes: below the 50% gate
    results = latest_results(tmp_path)
    got = {(r.case_id, r.sample): r for r in results.records}
    assert got[("capital", 0)].output == "Paris." and got[("capital", 0)].passed
    assert got[("capital", 1)].output == "Lyon." and not got[("capital", 1)].passed
    missing = got[("missing-in-replay", 0)]
    assert missing.output is None
    assert missing.error == (
        "cand.jsonl has no recorded output for case 'missing-in-replay' sample 0 "
        "(after 1 attempt(s))"
    )
    assert results.gate[0].value == pytest.approx(0.25)
    assert results.gate_passed is False


def test_replay_file_errors_name_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "cand.jsonl", '{"case_id": "a", "output": "x"}\n{"case_id": "b"}\n')
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="replay", path="cand.jsonl")
    assert main(["run"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith('cand.jsonl:2: each line needs "case_id" and "output"')
    )


def test_python_callable_target(tmp_path: Path) -> None:
    write(
        tmp_path / "my_model.py",
        """
        def answer(messages, params):
            question = messages[-1]["content"]
            if "France" in question:
                return "Paris, at seed " + str(params["seed"])
            raise RuntimeError("no idea")
        """,
    )
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="python", function="my_model:answer")
    main(["run"])
    results = latest_results(tmp_path)
    got = {(r.case_id, r.sample): r for r in results.records}
    assert got[("capital", 1)].output == "Paris, at seed 0"
    assert got[("missing-in-replay", 0)].error == (
        "my_model:answer raised RuntimeError: no idea (after 1 attempt(s))"
    )


def test_python_target_that_cannot_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate_project(
        tmp_path, {"s.yaml": SUITE}, provider="python", function="not_a_module:answer"
    )
    assert main(["run"]) == 2
    assert "target 'cand': cannot import module 'not_a_module'" in capsys.readouterr().err
