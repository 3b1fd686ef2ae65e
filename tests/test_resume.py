"""A run killed with SIGKILL and started again makes only the calls it had not finished."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tunegate.cli import main
from tunegate.testing import FakeOpenAIServer

from .conftest import candidate_project, latest_results

N_CASES = 16


def suite_text() -> str:
    check = "[{metric: contains, args: {text: echo}}]"
    cases = "\n".join(
        f"  - id: q{i}\n    prompt: question {i}\n    checks: {check}" for i in range(N_CASES)
    )
    return f"name: resume\ncases:\n{cases}\n"


def committed_case_ids(store: Path) -> set[str]:
    with sqlite3.connect(store) as db:
        return {row[0] for row in db.execute("SELECT case_id FROM generations")}


def resume_project(tmp_path: Path, server: FakeOpenAIServer, **options: object) -> None:
    """The N_CASES suite against `server`, as the only (candidate) target."""
    candidate_project(
        tmp_path,
        {"resume.yaml": suite_text()},
        provider="openai",
        base_url=server.base_url,
        model="m",
        **options,
    )


def start_run_midway(
    tmp_path: Path, server: FakeOpenAIServer, *args: str, after_calls: int
) -> subprocess.Popen[str]:
    """A real `tunegate run` process, returned once the server has answered `after_calls`."""
    resume_project(tmp_path, server, concurrency=2)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunegate", "run", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_stored(tmp_path, after_calls)
    return proc


def wait_for_stored(root: Path, n: int) -> None:
    """Until `n` generations are in the store (an answer served is not yet one stored)."""
    store = root / "reports" / "tunegate.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:  # never connect first: that would create the store's file
            if store.exists() and len(committed_case_ids(store)) >= n:
                return
        except sqlite3.Error:  # not created yet, or its tables not yet
            pass
        time.sleep(0.02)


def test_sigkill_then_rerun_makes_only_unfinished_calls(tmp_path: Path) -> None:
    with FakeOpenAIServer(latency=0.25) as server:
        proc = start_run_midway(tmp_path, server, after_calls=5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        time.sleep(0.5)  # let requests in flight at the kill finish on the server side

        store = tmp_path / "reports" / "tunegate.db"
        done_before = committed_case_ids(store)
        arrived_before = len(server._arrivals)
        assert 0 < len(done_before) < N_CASES, "the kill must land mid-run"

        started = time.monotonic()
        assert main(["run"]) == 0
        took = time.monotonic() - started
        second_run = server._arrivals[arrived_before:]

    asked_again = {"q" + prompt.split()[-1] for prompt, _ in second_run}
    # Exactly the unfinished cases were called, each once.
    assert len(second_run) == N_CASES - len(done_before)
    assert asked_again == {f"q{i}" for i in range(N_CASES)} - done_before
    results = latest_results(tmp_path)
    assert results.stats.cached == len(done_before)
    assert results.stats.calls == N_CASES - len(done_before)
    assert len(results.records) == N_CASES and all(r.passed for r in results.records)
    # The killed run is marked, and the keys it held were freed at once, not after a lease.
    with sqlite3.connect(store) as db:
        assert [s for (s,) in db.execute("SELECT status FROM runs ORDER BY started_at")] == [
            "abandoned",
            "finished",
        ]
    assert took < 30


def test_rerun_with_nothing_changed_makes_zero_calls(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        resume_project(tmp_path, server)
        assert main(["run", "--label", "iteration-1"]) == 0
        first = server.served()
        assert main(["run", "--label", "iteration-2"]) == 0
        assert server.served() == first == N_CASES
        # Changing one prompt costs exactly one call.
        suite = tmp_path / "suites" / "resume.yaml"
        suite.write_text(suite.read_text().replace("question 3\n", "question three\n"))
        assert main(["run"]) == 0
        assert server.served() == N_CASES + 1
    results = latest_results(tmp_path)
    assert results.stats.calls == 1 and results.stats.cached == N_CASES - 1


def test_ctrl_c_keeps_completed_work_and_marks_the_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(latency=0.25) as server:
        proc = start_run_midway(tmp_path, server, "--label", "interrupted-one", after_calls=4)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)

    assert proc.returncode == 3
    assert err.strip().endswith(
        "tunegate: interrupted; completed generations are kept in the store"
    )
    assert "Traceback" not in err
    assert_interrupted(tmp_path, "interrupted-one")


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path: Path) -> None:
    # A cancelled CI job gets SIGTERM: the run used to stay `running`, holding its claims,
    # until the next run opened the store.
    with FakeOpenAIServer(latency=0.25) as server:
        proc = start_run_midway(tmp_path, server, "--label", "terminated-one", after_calls=4)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)

    assert proc.returncode == 3
    assert err.strip().endswith(
        "tunegate: terminated (SIGTERM); completed generations are kept in the store"
    )
    assert "Traceback" not in err
    assert_interrupted(tmp_path, "terminated-one")


def test_sigterm_or_ctrl_c_under_pytest_marks_the_run_and_frees_its_claims(
    tmp_path: Path,
) -> None:
    # `pytest suites/` in CI: a cancelled job's SIGTERM used to end the process (143) with
    # the run left `running` until the next run marked it abandoned. A second signal while
    # pytest winds down (a CI runner insisting) must not turn that into 143 or a traceback.
    cases = (
        (signal.SIGTERM, "terminated (SIGTERM)", None),
        (signal.SIGINT, "interrupted", None),
        (signal.SIGTERM, "terminated (SIGTERM)", signal.SIGTERM),
        (signal.SIGINT, "interrupted", signal.SIGINT),
    )
    for signum, label, again in cases:
        root = tmp_path / f"{signum.name}-{again.name if again else 'once'}"
        with FakeOpenAIServer(latency=0.25) as server:
            resume_project(root, server, concurrency=2)
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "suites/",
                    "-p",
                    "no:deepeval",
                    "-p",
                    "no:cacheprovider",
                    "--tunegate-label",
                    signum.name,
                ],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            wait_for_stored(root, 4)
            proc.send_signal(signum)
            if again is not None:
                time.sleep(0.3)
                proc.send_signal(again)
            out, err = proc.communicate(timeout=60)

        assert proc.returncode == 2, (out, err)  # pytest's "interrupted"
        assert "Traceback" not in err, err
        assert f"tunegate: {label}; completed generations are kept in the store" in out
        assert_interrupted(root, signum.name)


def assert_interrupted(root: Path, label: str) -> None:
    """The run kept what it completed, is marked interrupted, and holds no claim."""
    store = root / "reports" / "tunegate.db"
    assert len(committed_case_ids(store)) >= 4
    with sqlite3.connect(store) as db:
        status = db.execute("SELECT label, status FROM runs").fetchall()
        claims = db.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
    db.close()
    assert status == [(label, "interrupted")]
    assert claims == 0
