"""Failed generations are grouped by cause, so a report of 500 errors stays readable."""

from __future__ import annotations

from pathlib import Path

from tunegate.cli import main
from tunegate.report import error_lines

from .conftest import latest_results, make_project, write


def test_one_cause_over_many_cases_is_one_line(tmp_path: Path) -> None:
    write(tmp_path / "c.jsonl", '{"case_id": "present", "output": "fine"}\n')
    cases = "\n".join(f"  - {{id: missing-{i}, prompt: p{i}}}" for i in range(12))
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: c.jsonl}",
        suites={"s.yaml": f"name: s\ncases:\n  - {{id: present, prompt: p}}\n{cases}\n"},
        base=None,
    )
    main(["run"])
    lines = error_lines(latest_results(tmp_path))
    assert lines == [
        "cand: 12 of 13 generations failed: c.jsonl has no recorded output for case "
        "'<case>' sample <n> (cases: missing-0, missing-1, missing-2, …)"
    ]
