"""Each verdict (passed, failed, inconclusive) end to end through the CLI and pytest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tunegate import load_results

from .conftest import make_project, write

REPLAY = """
base: {provider: replay, path: base.jsonl}
cand: {provider: replay, path: cand.jsonl}
"""


def suite(n: int, gate: str) -> str:
    check = "[{metric: contains, args: {text: ok}}]"
    cases = "\n".join(
        f"  - {{id: q{i}, prompt: 'question {i}', checks: {check}}}" for i in range(n)
    )
    return f"name: domain\ngate: {gate}\ncases:\n{cases}\n"


def project(root: Path, base: list[str], cand: list[str], gate: str) -> None:
    for name, outputs in (("base", base), ("cand", cand)):
        lines = [json.dumps({"case_id": f"q{i}", "output": o}) for i, o in enumerate(outputs)]
        write(root / f"{name}.jsonl", "\n".join(lines) + "\n")
    make_project(root, targets=REPLAY, suites={"domain.yaml": suite(len(base), gate)})


NI = "{no_regression: {margin: 0.05}}"
CASES = {
    # 200 cases, identical: the interval is tight around 0 -> passed.
    "passed": (["ok"] * 150 + ["no"] * 50, ["ok"] * 150 + ["no"] * 50, NI, 0),
    # 60 of 200 regressed -> failed.
    "failed": (["ok"] * 200, ["ok"] * 140 + ["no"] * 60, NI, 1),
    # 12 cases cannot rule out a 5-point drop -> inconclusive, fails the gate.
    "inconclusive": (["ok"] * 12, ["ok"] * 12, NI, 1),
    # The same, with on_inconclusive: warn -> exit 0 with a warning.
    "inconclusive-warn": (
        ["ok"] * 12,
        ["ok"] * 12,
        "{no_regression: {margin: 0.05}, on_inconclusive: warn}",
        0,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_verdict_through_the_cli(name: str, tmp_path: Path) -> None:
    base, cand, gate, code = CASES[name]
    project(tmp_path, base, cand, gate)
    proc = subprocess.run(
        [sys.executable, "-m", "tunegate", "run"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    verdict = name.split("-")[0]
    results = load_results(tmp_path / "reports" / "latest")
    assert results.verdict == verdict
    assert results.gate_passed is (code == 0)
    row = results.gate[0]
    assert row.rule == "no_regression" and row.status == verdict and row.ci is not None
    assert f"gate domain no_regression: {verdict.upper()}" in proc.stdout
    summary = (tmp_path / "reports" / "latest" / "summary.md").read_text()
    assert summary.startswith("## tunegate: gate " + verdict.upper())
    assert "| domain | no\\_regression |" in summary
    html = (tmp_path / "reports" / "latest" / "report.html").read_text()
    assert '<svg class="interval"' in html
    if name == "inconclusive":
        assert "12 case(s) cannot rule out a 5-point drop; about" in proc.stdout
    if name == "inconclusive-warn":
        assert "tunegate: warning: the verdict is inconclusive" in proc.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_verdict_through_pytest(name: str, tmp_path: Path) -> None:
    base, cand, gate, code = CASES[name]
    project(tmp_path, base, cand, gate)
    junit = tmp_path / "junit.xml"
    command = ["-m", "pytest", "suites/", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    proc = subprocess.run(
        [sys.executable, *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == code, proc.stdout[-3000:]
    xml = junit.read_text()
    assert 'name="gate[no_regression]"' in xml
    verdict = name.split("-")[0]
    if verdict != "passed" and name != "inconclusive-warn":
        # The rule's numbers are the failure text, so CI systems show them.
        assert f"domain no_regression: {verdict.upper()}" in xml
        assert "pts" in xml or "points" in xml
    if name == "inconclusive-warn":
        assert "InconclusiveWarning" in proc.stdout
