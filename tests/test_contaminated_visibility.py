"""Cases left out of the verdict as contaminated are said to be, wherever the verdict is:
the gate row, the console line, summary.md and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import latest_results, make_project, write


def test_contaminated_cases_are_counted_in_every_view_of_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [f"c{i}" for i in range(12)]
    write(
        tmp_path / "out.jsonl",
        "".join(json.dumps({"case_id": i, "output": "ok"}) + "\n" for i in ids),
    )
    cases = "".join(
        f"  - {{id: {i}, prompt: p{i}, checks: [{{metric: contains, args: {{text: ok}}}}]}}\n"
        for i in ids
    )
    make_project(
        tmp_path,
        targets=(
            "base: {provider: replay, path: out.jsonl}\ncand: {provider: replay, path: out.jsonl}"
        ),
        suites={"s.yaml": f"name: s\ngate: {{no_regression: {{margin: 0.2}}}}\ncases:\n{cases}"},
    )
    write(tmp_path / "leaks.json", json.dumps({"cases": [{"suite": "s", "case_id": "c0"}]}))
    config = tmp_path / "tunegate.yaml"
    config.write_text(config.read_text() + "contamination: leaks.json\n")
    monkeypatch.chdir(tmp_path)
    main(["run", "--no-progress"])
    out = capsys.readouterr().out
    results = latest_results(tmp_path)
    row = results.gate[0]
    assert (row.n, row.contaminated) == (11, 1)
    assert "1 contaminated case(s) left out" in row.detail
    assert "1 contaminated case(s) left out" in out
    folder = tmp_path / "reports" / "latest"
    assert "1 case(s) tagged `contaminated`" in (folder / "summary.md").read_text()
    assert "+1 contaminated, left out" in (folder / "report.html").read_text()
    assert 'data-status="contaminated"' in (folder / "report.html").read_text()


def test_pass_rates_leave_contaminated_cases_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunegate.report import summarize_suites

    # The candidate is right only on the leaked case: a memorised answer is no knowledge.
    write(
        tmp_path / "base.jsonl",
        "".join(json.dumps({"case_id": f"c{i}", "output": "no"}) + "\n" for i in range(4)),
    )
    write(
        tmp_path / "cand.jsonl",
        "".join(
            json.dumps({"case_id": f"c{i}", "output": "ok" if i == 0 else "no"}) + "\n"
            for i in range(4)
        ),
    )
    cases = "".join(
        f"  - {{id: c{i}, prompt: p{i}, checks: [{{metric: contains, args: {{text: ok}}}}]}}\n"
        for i in range(4)
    )
    make_project(
        tmp_path,
        targets=(
            "base: {provider: replay, path: base.jsonl}\ncand: {provider: replay, path: cand.jsonl}"
        ),
        suites={"s.yaml": f"name: s\ngate: {{min_pass_rate: 0.5}}\ncases:\n{cases}"},
    )
    write(tmp_path / "leaks.json", json.dumps({"cases": [{"suite": "s", "case_id": "c0"}]}))
    config = tmp_path / "tunegate.yaml"
    config.write_text(config.read_text() + "contamination: leaks.json\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--no-progress"]) == 1
    (summary,) = summarize_suites(latest_results(tmp_path))
    assert summary.candidate_pass_rate == 0.0  # 0 of the 3 clean cases, not 1 of 4
