"""Runs sharing a store share the work: each prompt is paid for once.

Two real `tunegate run` processes against one real HTTP server; then the runner itself,
two runs in one event loop, each with its own connection to the store.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tunegate import Results, load_results
from tunegate.config import load_project_config
from tunegate.execution import Store
from tunegate.execution.runner import Job, JobOutcome, RunnerTarget, RunStats, make_jobs, run_jobs
from tunegate.execution.targets import build_target
from tunegate.redact import Redactor
from tunegate.suite import load_suites
from tunegate.testing import FakeOpenAIServer

from .conftest import candidate_project

N_CASES = 20


def suite_text(prompts: list[str]) -> str:
    check = "[{metric: contains, args: {text: echo}}]"
    cases = "\n".join(
        f"  - id: q{i}\n    prompt: {prompt!r}\n    checks: {check}"
        for i, prompt in enumerate(prompts)
    )
    return f"name: shared\ncases:\n{cases}\n"


def prompt(i: int) -> str:
    return f"question {i}?"  # the "?" keeps "question 1?" from matching "question 12?"


def project(root: Path, server: FakeOpenAIServer, prompts: list[str], **options: object) -> None:
    candidate_project(
        root,
        {"shared.yaml": suite_text(prompts)},
        provider="openai",
        base_url=server.base_url,
        model="m",
        **options,
    )


def start_run(root: Path, lease_s: float | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if lease_s is not None:
        env["TUNEGATE_LEASE_SECONDS"] = str(lease_s)
    return subprocess.Popen(
        [sys.executable, "-m", "tunegate", "run", "--no-progress"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished_runs(root: Path) -> list[tuple[Results, str]]:
    """(results, run.log) of every run folder under reports/."""
    return [
        (load_results(folder), (folder / "run.log").read_text())
        for folder in sorted((root / "reports").iterdir())
        if (folder / "results.json").is_file() and not folder.is_symlink()
    ]


def claims_left(store: Path) -> int:
    with sqlite3.connect(store) as db:
        count = int(db.execute("SELECT COUNT(*) FROM claims").fetchone()[0])
    db.close()
    return count


def test_two_concurrent_runs_pay_for_each_prompt_once(tmp_path: Path) -> None:
    prompts = [prompt(i) for i in range(N_CASES)]
    with FakeOpenAIServer(latency=0.3) as server:
        project(tmp_path, server, prompts, concurrency=2)
        runs = [start_run(tmp_path), start_run(tmp_path)]
        outputs = [run.communicate(timeout=120)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        arrivals = {p: len(server.arrivals(p)) for p in prompts}

    assert arrivals == dict.fromkeys(prompts, 1), "a prompt was paid for twice"
    (first, first_log), (second, second_log) = finished_runs(tmp_path)
    for results in (first, second):
        assert len(results.records) == N_CASES and all(r.passed for r in results.records)
        assert results.stats.calls + results.stats.cached == N_CASES
    # They split the work rather than one doing it all while the other read the store.
    assert first.stats.calls > 0 and second.stats.calls > 0
    assert first.stats.calls + second.stats.calls == N_CASES
    assert "came from another run sharing the store" in first_log + second_log
    assert claims_left(tmp_path / "reports" / "tunegate.db") == 0


def test_the_keys_of_a_killed_run_are_taken_over_when_its_leases_lapse(tmp_path: Path) -> None:
    prompts = [prompt(i) for i in range(N_CASES)]
    store = tmp_path / "reports" / "tunegate.db"
    with FakeOpenAIServer(latency=0.3) as server:
        project(tmp_path, server, prompts, concurrency=2)
        holder, survivor = start_run(tmp_path, lease_s=2), start_run(tmp_path, lease_s=2)
        deadline = time.monotonic() + 60
        while server.served() < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with sqlite3.connect(store) as db:  # what the killed run held, uncommitted
            orphans = {k for (k,) in db.execute("SELECT key FROM claims")}
            orphans -= {k for (k,) in db.execute("SELECT key FROM generations")}
        db.close()
        output, _ = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, output
        arrivals = {p: len(server.arrivals(p)) for p in prompts}

    assert orphans, "the kill must land while the holder has keys in flight"
    [(results, _log)] = finished_runs(tmp_path)  # the killed run wrote no results
    assert len(results.records) == N_CASES and all(r.passed for r in results.records)
    # The keys in flight at the kill were asked again by the survivor, once; nothing else was.
    assert set(arrivals.values()) <= {1, 2} and sum(arrivals.values()) <= N_CASES + 2
    assert claims_left(store) == 0  # the lapsed claims were taken over, then released
    with Store(store) as reopened:
        assert sorted(r.status for r in reopened.runs()) == ["abandoned", "finished"]


def record_runs(*stores: Store) -> None:
    """Each store as a running run, as `tunegate run` records itself before its jobs: a
    claim holds only while its owner is a running run."""
    for i, store in enumerate(stores):
        store.start_run(f"run-{i}", label=None, targets={}, suites=[], out_dir=Path("reports"))


def runner_setup(root: Path) -> tuple[list[Job], dict[str, RunnerTarget], Redactor]:
    loaded = load_project_config()
    redactor = Redactor()
    target = build_target("cand", loaded, redactor)
    cases = [c for s in load_suites([root / "suites"]) for c in s.cases]
    return make_jobs(cases, {"candidate": target}), {"cand": target}, redactor


def test_a_failed_claim_is_released_and_the_waiting_run_tries_it(tmp_path: Path) -> None:
    # Failures are not cached: the run that failed releases the key, the other generates it.
    with FakeOpenAIServer(latency=0.3) as server:
        project(tmp_path, server, ["flaky [[500:1]]"], concurrency=1, max_attempts=1)
        jobs, targets, redactor = runner_setup(tmp_path)
        path = tmp_path / "reports" / "tunegate.db"

        async def two_runs() -> list[tuple[list[JobOutcome], RunStats]]:
            with Store(path) as a, Store(path) as b:
                record_runs(a, b)
                return list(
                    await asyncio.gather(
                        run_jobs(jobs, targets, a, redact=redactor),
                        run_jobs(jobs, targets, b, redact=redactor),
                    )
                )

        runs = asyncio.run(two_runs())
        arrivals = server.arrivals("flaky")

    failed, succeeded = sorted((outcomes[0] for outcomes, _ in runs), key=lambda o: not o.error)
    assert failed.error is not None and "500" in failed.error
    assert succeeded.error is None and not succeeded.shared
    # One after the other: the second call waited for the first one's claim to end.
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] >= 0.3


def test_a_run_works_on_other_keys_while_another_run_holds_one(tmp_path: Path) -> None:
    with FakeOpenAIServer(latency=0.6) as server:
        project(tmp_path, server, [prompt(i) for i in range(3)], concurrency=1)
        jobs, targets, redactor = runner_setup(tmp_path)
        path = tmp_path / "reports" / "tunegate.db"

        async def scenario() -> tuple[tuple[list[JobOutcome], RunStats], ...]:
            with Store(path) as a, Store(path) as b:
                record_runs(a, b)
                first = asyncio.create_task(run_jobs(jobs[:1], targets, a, redact=redactor))
                while not server.arrivals(prompt(0)):
                    await asyncio.sleep(0.01)
                second = await run_jobs(jobs, targets, b, redact=redactor)
                return await first, second

        (_, first_stats), (outcomes, stats) = asyncio.run(scenario())
        arrivals = {i: server.arrivals(prompt(i)) for i in range(3)}

    assert [len(a) for a in arrivals.values()] == [1, 1, 1]
    # The second run's only slot went to question 1 while question 0 was still in flight.
    assert arrivals[1][0] < arrivals[0][0] + 0.6
    assert [o.shared for o in outcomes] == [True, False, False]
    assert (stats.calls, stats.shared, stats.cached) == (2, 1, 1)
    assert first_stats.calls == 1


def test_claims_of_an_owner_that_is_no_run_are_taken_over_at_once(tmp_path: Path) -> None:
    # Claims left by something that is no run (an edited or half-restored store, a tool
    # that claimed without recording a run), expiring within the ten-lease horizon: a run
    # used to wait for each of them to lapse, up to ten minutes.
    prompts = [prompt(i) for i in range(4)]
    store = tmp_path / "reports" / "tunegate.db"
    with FakeOpenAIServer() as server:
        project(tmp_path, server, prompts, concurrency=2)
        jobs, _, _ = runner_setup(tmp_path)
        Store(store).close()
        with sqlite3.connect(store) as db:
            db.executemany(
                "INSERT INTO claims VALUES (?, 'ghost-host:1:dead', ?)",
                [(job.key, time.time() + 9 * 60) for job in jobs],
            )
        db.close()
        started = time.monotonic()
        run = start_run(tmp_path)
        output, _ = run.communicate(timeout=120)
        took = time.monotonic() - started
        arrivals = {p: len(server.arrivals(p)) for p in prompts}

    assert run.returncode == 0, output
    assert took < 30, f"the run waited {took:.0f} s for claims of no run"
    assert arrivals == dict.fromkeys(prompts, 1)
    assert claims_left(store) == 0
