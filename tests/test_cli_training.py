"""The training commands at the door: contamination (and its effect on the verdict)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import latest_results, make_project, write

SUITE = """
name: s
gate: {min_pass_rate: 1.0}
cases:
  - id: leaked
    prompt: "How many days do I have to return an item?"
    checks: [{metric: contains, args: {text: "45"}}]
  - id: fresh
    prompt: "When do you open on Sunday?"
    checks: [{metric: contains, args: {text: "10"}}]
"""


def test_contamination_finds_the_leak_and_the_gate_leaves_it_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "base.jsonl",
        '{"case_id": "leaked", "output": "no"}\n{"case_id": "fresh", "output": "10am"}\n',
    )
    write(
        tmp_path / "cand.jsonl",
        '{"case_id": "leaked", "output": "nope"}\n{"case_id": "fresh", "output": "10am"}\n',
    )
    make_project(
        tmp_path,
        targets=(
            "base: {provider: replay, path: base.jsonl}\ncand: {provider: replay, path: cand.jsonl}"
        ),
        suites={"s.yaml": SUITE},
    )
    train = write(
        tmp_path / "train.jsonl",
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "How many days do I have to return an item?"}
                ]
            }
        )
        + "\n",
    )
    assert main(["run"]) == 1  # the leaked case fails min_pass_rate 1.0
    assert main(["contamination", "--train", str(train), "--write", "leaks.json"]) == 1
    out = capsys.readouterr().out
    assert "s::leaked: exact, train.jsonl:1: 'How many days do I have to return an item?'" in out
    assert "1 of 2 case(s) appear in" in out
    assert json.loads((tmp_path / "leaks.json").read_text())["cases"] == [
        {"suite": "s", "case_id": "leaked"}
    ]
    config = tmp_path / "tunegate.yaml"
    config.write_text(config.read_text() + "contamination: leaks.json\n")
    assert main(["run"]) == 0  # judged on the clean case alone
    results = latest_results(tmp_path)
    leaked = next(r for r in results.records if r.case_id == "leaked")
    assert "contaminated" in leaked.tags and not leaked.passed  # still run and shown
    assert "1 contaminated case(s) left out" in results.gate[0].detail


def test_a_missing_contamination_file_stops_the_run_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "cand.jsonl", '{"case_id": "fresh", "output": "10am"}\n')
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: cand.jsonl}",
        suites={"s.yaml": "name: s\ncases: [{id: fresh, prompt: p}]\n"},
        base=None,
    )
    config = tmp_path / "tunegate.yaml"
    config.write_text(config.read_text() + "contamination: leaks.json\n")
    assert main(["run"]) == 2
    assert "contamination: leaks.json does not exist; make it with: tunegate contamination" in (
        capsys.readouterr().err
    )
