"""Cases left out of the verdict as contaminated are said to be, wherever the verdict is:
the gate row, the console line, summary.md and the report; and no pass rate counts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.report import summarize_suites

from .conftest import latest_results, make_project, write


def _leaky_project(root: Path, base: list[str], cand: list[str], gate: str) -> None:
    """One suite of len(base) cases passing on "ok", with case c0 in the training data."""
    for name, outputs in (("base", base), ("cand", cand)):
        write(
            root / f"{name}.jsonl",
            "".join(
                json.dumps({"case_id": f"c{i}", "output": o}) + "\n" for i, o in enumerate(outputs)
            ),
        )
    cases = "".join(
        f"  - {{id: c{i}, prompt: p{i}, checks: [{{metric: contains, args: {{text: ok}}}}]}}\n"
        for i in range(len(base))
    )
    make_project(
        root,
        targets="\n".join(f"{n}: {{provider: replay, path: {n}.jsonl}}" for n in ("base", "cand")),
        suites={"s.yaml": f"name: s\ngate: {gate}\ncases:\n{cases}"},
    )
    write(root / "leaks.json", json.dumps({"cases": [{"suite": "s", "case_id": "c0"}]}))
    config = root / "tunegate.yaml"
    config.write_text(config.read_text() + "contamination: leaks.json\n")


def test_contaminated_cases_are_counted_in_every_view_of_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _leaky_project(tmp_path, ["ok"] * 12, ["ok"] * 12, "{no_regression: {margin: 0.2}}")
    monkeypatch.chdir(tmp_path)
    main(["run", "--no-progress"])
    out = capsys.readouterr().out
    row = latest_results(tmp_path).gate[0]
    assert (row.n, row.contaminated) == (11, 1)
    assert "1 contaminated case(s) left out" in row.detail
    assert "1 contaminated case(s) left out" in out
    folder = tmp_path / "reports" / "latest"
    assert "1 case(s) tagged `contaminated`" in (folder / "summary.md").read_text()
    report = (folder / "report.html").read_text()
    assert "+1 contaminated, left out" in report
    assert 'data-status="contaminated"' in report


def test_pass_rates_leave_contaminated_cases_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The candidate is right only on the leaked case: a memorised answer is no knowledge.
    _leaky_project(tmp_path, ["no"] * 4, ["ok", "no", "no", "no"], "{min_pass_rate: 0.5}")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--no-progress"]) == 1
    (summary,) = summarize_suites(latest_results(tmp_path))
    assert summary.candidate_pass_rate == 0.0  # 0 of the 3 clean cases, not 1 of 4
