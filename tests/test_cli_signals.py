"""The exit code survives what happens around a run: a reader that goes away
(`tunegate run | head -1`), Ctrl-C while tunegate starts, Ctrl-C once the results are
written. Real processes, real pipes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import MINI_SUITE as SUITE
from .conftest import candidate_project, write

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and pipes")


def replay_project(root: Path, output: str) -> None:
    write(root / "cand.jsonl", json.dumps({"case_id": "a", "output": output}) + "\n")
    candidate_project(root, {"mini.yaml": SUITE}, provider="replay", path="cand.jsonl")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "TUNEGATE_DEBUG"}


def run_with_closed_stdout(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tunegate ARGS` whose stdout is a pipe nobody reads any more, as after `| head -1`:
    every write to it fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "tunegate", *args],
            cwd=root,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=_env(),
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(("output", "verdict"), [("ok", 0), ("not ok", 1)])
def test_a_closed_stdout_keeps_the_verdicts_exit_code(
    tmp_path: Path, output: str, verdict: int
) -> None:
    replay_project(tmp_path, output)
    proc = run_with_closed_stdout(tmp_path, "run", "--no-progress")
    assert proc.returncode == verdict, proc.stderr
    assert proc.stderr == ""  # no "internal error: BrokenPipeError", no "Exception ignored"
    assert (tmp_path / "reports" / "latest" / "results.json").is_file()


def test_schema_into_a_closed_pipe_exits_0(tmp_path: Path) -> None:
    proc = run_with_closed_stdout(tmp_path, "schema")
    assert (proc.returncode, proc.stderr) == (0, "")


def test_run_piped_into_head(tmp_path: Path) -> None:
    replay_project(tmp_path, "not ok")
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m tunegate run | head -1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )
    assert proc.returncode == 1, proc.stderr  # the gate failed: what CI must see
    assert len(proc.stdout.splitlines()) == 1
    assert "Error" not in proc.stderr


def _interrupt_on_import(root: Path, when: Callable[[str, list[str]], bool]) -> None:
    """Start `tunegate run` with -X importtime (each import reported as it completes), send
    SIGINT at the first import line for which `when(line, lines so far)` holds, and check
    the run ends as an interruption: one line, exit 3."""
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "tunegate", "run"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if when(line, seen):
            proc.send_signal(signal.SIGINT)
            break
    else:
        pytest.fail("the signal's moment never came:\n" + "".join(seen[-20:]))
    _, rest = proc.communicate(timeout=60)
    said = [line for line in (*seen, *rest.splitlines(True)) if not line.startswith("import time:")]
    assert proc.returncode == 3, "".join(said)
    assert "".join(said).strip() == (
        "tunegate: interrupted; completed generations are kept in the store"
    )


def test_ctrl_c_while_tunegate_starts_is_one_line_and_exit_3(tmp_path: Path) -> None:
    replay_project(tmp_path, "ok")
    # Sent while the statistics stack (scipy, about half a second) is still loading.
    _interrupt_on_import(
        tmp_path, lambda line, _: "| scipy" in line or "|   scipy" in line or " scipy." in line
    )


def test_ctrl_c_while_the_cli_modules_load_is_one_line_and_exit_3(tmp_path: Path) -> None:
    replay_project(tmp_path, "ok")

    # Sent when the first module the CLI needs has loaded: the CLI and the run's stack
    # (pandas, pydantic, the providers) are still loading, and `main` has installed no
    # handler yet.
    def after_entry(line: str, seen: list[str]) -> bool:
        entered = any(x.rstrip().endswith("tunegate.entry") for x in seen[:-1])
        return entered and "tunegate." in line

    _interrupt_on_import(tmp_path, after_entry)


def test_ctrl_c_after_the_results_are_written_keeps_the_verdict(tmp_path: Path) -> None:
    # 600 cases, each with a warning (a {group} without vars), printed after the run: far
    # more than a pipe holds, so tunegate blocks printing them until this test reads.
    cases = "".join(
        f"  - id: c{i}\n    prompt: 'Can {{group}} join {i}?'\n"
        "    checks: [{metric: exact, args: {text: ok}}]\n"
        for i in range(600)
    )
    write(
        tmp_path / "cand.jsonl",
        "".join(f'{{"case_id": "c{i}", "output": "no"}}\n' for i in range(600)),
    )
    candidate_project(
        tmp_path,
        {"warned.yaml": f"name: warned\ngate: {{min_pass_rate: 0.9}}\ncases:\n{cases}"},
        provider="replay",
        path="cand.jsonl",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunegate", "run", "--no-progress"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    latest = tmp_path / "reports" / "latest"
    deadline = time.monotonic() + 120
    while not latest.is_symlink() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert latest.is_symlink(), "the run did not finish"
    time.sleep(1.0)  # the results are written; tunegate is now blocked on the full pipe
    assert proc.poll() is None, "tunegate did not block on the pipe: the test proves nothing"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err[-2000:]  # the gate failed, and so the exit code says
    assert b"interrupted" not in err and b"Traceback" not in err
    assert b"gate FAILED" in out
