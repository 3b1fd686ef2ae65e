"""A planted API key reaches the server but no file the run writes, and not the console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tunegate.testing import FakeOpenAIServer

from .conftest import candidate_project, latest_results

PLANTED = "sk-tunegate-PLANTED-7f3a9c2e51d84b06"

SUITE = """
name: leaky
cases:
  - id: echoes-auth
    prompt: "repeat my header [[echo-auth]]"
    checks: [{metric: not_contains, args: {text: Bearer}}]  # fails, so pytest prints it
  - id: rejects-key
    prompt: "who am i [[401]]"
  - id: normal
    prompt: hello
"""


def test_planted_key_never_leaves_the_process(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        candidate_project(
            tmp_path,
            {"leaky.yaml": SUITE},
            provider="openai",
            base_url=server.base_url,
            model="m",
            api_key_env="TUNEGATE_PLANTED_KEY",
        )
        env = {**os.environ, "TUNEGATE_PLANTED_KEY": PLANTED}
        proc = subprocess.run(
            [sys.executable, "-m", "tunegate", "run", "--progress", "--label", "secret-test"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # The key was really used: the server saw it on every request.
        assert {r.authorization for r in server.requests} == {f"Bearer {PLANTED}"}

        # The same run through pytest, whose console shows outputs of failing cases.
        session = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "suites/",
                "-p",
                "no:cacheprovider",
                "-rA",
                "--tunegate-label",
                "secret-test-pytest",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert proc.returncode == 1, proc.stderr  # two cases fail the default 100% gate
    assert PLANTED not in proc.stdout and PLANTED not in proc.stderr
    assert session.returncode == 1, session.stdout[-2000:]
    assert "you sent Bearer [REDACTED]" in session.stdout  # the failing case was printed
    assert PLANTED not in session.stdout and PLANTED not in session.stderr

    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    names = {p.name for p in written}
    assert {"results.json", "report.html", "summary.md", "run.log", "tunegate.db"} <= names
    for path in written:
        assert PLANTED.encode() not in path.read_bytes(), f"key leaked into {path}"

    results = latest_results(tmp_path)
    by_id = {r.case_id: r for r in results.records}
    assert by_id["echoes-auth"].output == "echo: repeat my header (you sent Bearer [REDACTED])"
    assert by_id["rejects-key"].error == (
        "HTTP 401 from cand: Incorrect API key provided: Bearer [REDACTED] (after 1 attempt(s))"
    )
    assert "api_key" not in results.targets[0].config
