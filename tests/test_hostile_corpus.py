"""The hostile-input corpus: every folder under tests/hostile/ is a small project that
attacks tunegate with one bad input (suite, config, replay file, store, server response).

Each entry's expect.yaml says what must happen:

    why: one line, what the input attacks
    command: [validate]        # tunegate arguments
    exit: 2                    # the exit code
    message: "suites/x.yaml:3:9:"   # a substring of stdout + stderr
    pytest_exit: 2             # optional: `pytest suites/` must exit so, with the message
    server: true               # optional: ${BASE_URL} in tunegate.yaml is a live FakeOpenAIServer;
                               # a mapping passes options, e.g. {listed: [model.gguf]}
    forbid: ["\x1b"]          # optional: text that must not appear in the output or in
                               # run.log / summary.md (e.g. a raw escape character)

Whatever the input, tunegate answers with its own message: never a traceback, never an
"internal error".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tunegate.testing import FakeOpenAIServer

CORPUS = Path(__file__).parent / "hostile"
ENTRIES = sorted(p for p in CORPUS.iterdir() if (p / "expect.yaml").is_file())


def _expectation(entry: Path) -> dict[str, Any]:
    expect = yaml.safe_load((entry / "expect.yaml").read_text(encoding="utf-8"))
    assert {"why", "command", "exit", "message"} <= set(expect), f"{entry.name}: incomplete"
    return dict(expect)


def test_the_corpus_is_large_enough() -> None:
    assert len(ENTRIES) >= 40, f"only {len(ENTRIES)} hostile inputs"


def _run(command: list[str], cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("TUNEGATE_DEBUG", None)
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=300)
    return proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "backslashreplace")


@pytest.mark.parametrize("entry", ENTRIES, ids=[p.name for p in ENTRIES])
def test_hostile_input(entry: Path, tmp_path: Path) -> None:
    expect = _expectation(entry)
    project = tmp_path / entry.name
    shutil.copytree(entry, project)
    (project / "expect.yaml").unlink()
    options = expect.get("server")
    server = None
    if options:
        server = FakeOpenAIServer(**(options if isinstance(options, dict) else {})).start()
    try:
        if server is not None:
            config = project / "tunegate.yaml"
            config.write_text(
                config.read_text(encoding="utf-8").replace("${BASE_URL}", server.base_url),
                encoding="utf-8",
            )
        runs = [([sys.executable, "-m", "tunegate", *expect["command"]], expect["exit"])]
        if "pytest_exit" in expect:
            pytest_command = [sys.executable, "-m", "pytest", "suites/", "-p", "no:cacheprovider"]
            runs.append((pytest_command, expect["pytest_exit"]))
        for command, code in runs:
            status, output = _run(command, project)
            shown = f"{' '.join(command[2:])} ({expect['why']}):\n{output[-3000:]}"
            assert status == code, shown
            assert expect["message"] in output, shown
            assert "Traceback" not in output, shown
            assert "internal error" not in output, shown
            written = [
                p.read_text(encoding="utf-8", errors="backslashreplace")
                for name in ("run.log", "summary.md")
                for p in project.rglob(name)
            ]
            for text in expect.get("forbid", []):
                assert text not in output, shown
                assert not any(text in w for w in written), f"{text!r} written raw"
    finally:
        if server is not None:
            server.stop()
