"""Claims, leases and run ownership: two Store connections on one file, as two runs."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tunegate.execution import Store
from tunegate.execution.store import ClaimState
from tunegate.providers import Generation


def put(store: Store, key: str, text: str = "out") -> None:
    store.put_generation(
        key,
        target="t",
        suite="s",
        case_id="c",
        sample=0,
        generation=Generation(text),
        latency_s=0.1,
    )


def start_run(store: Store, run_id: str) -> None:
    store.start_run(run_id, label=None, targets={}, suites=["s"], out_dir=Path("reports"))


def test_one_run_claims_a_key_the_other_waits_then_uses_its_result(tmp_path: Path) -> None:
    with Store(tmp_path / "t.db") as a, Store(tmp_path / "t.db") as b:
        start_run(a, "a")
        start_run(b, "b")
        assert a.claim("k").state is ClaimState.MINE
        assert a.claim("k").state is ClaimState.MINE  # claiming again is harmless
        held = b.claim("k")
        assert held.state is ClaimState.HELD and held.holder == a.owner
        assert b.peek("k").state is ClaimState.HELD
        put(a, "k", "from a")
        a.release("k")
        done = b.claim("k")
        assert done.state is ClaimState.DONE
        assert done.cached is not None and done.cached.generation.text == "from a"


def test_a_released_claim_without_a_result_goes_to_the_other_run(tmp_path: Path) -> None:
    # A failed generation is not cached: releasing lets the other run try it.
    with Store(tmp_path / "t.db") as a, Store(tmp_path / "t.db") as b:
        start_run(a, "a")
        start_run(b, "b")
        assert a.claim("k").state is ClaimState.MINE
        a.release("k")
        assert b.peek("k").state is ClaimState.FREE
        assert b.claim("k").state is ClaimState.MINE
        assert a.claim("k").state is ClaimState.HELD
        b.release("other-key")  # releasing what one does not hold changes nothing
        a.release("k")  # nor releasing another run's claim
        assert a.claim("k").state is ClaimState.HELD


def test_a_lease_lapses_unless_renewed(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with (
        Store(path, lease_s=1.0) as working,
        Store(path, lease_s=1.0) as stalled,
        Store(path, lease_s=1.0) as other,
    ):
        for name, store in (("working", working), ("stalled", stalled), ("other", other)):
            start_run(store, name)
        assert working.claim("renewed").state is ClaimState.MINE
        assert stalled.claim("lapsed").state is ClaimState.MINE
        for _ in range(4):  # a heartbeat, as the runner beats: three times per lease
            time.sleep(0.3)
            working.renew()
        assert other.claim("renewed").state is ClaimState.HELD
        assert other.claim("lapsed").state is ClaimState.MINE  # taken over
        assert stalled.claim("lapsed").state is ClaimState.HELD


def statuses(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        rows = dict(db.execute("SELECT run_id, status FROM runs").fetchall())
    db.close()
    return rows


def test_runs_of_dead_processes_are_marked_abandoned_when_the_store_opens(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    with Store(path) as live:
        start_run(live, "alive")  # this process
    # A run that was started by a process that has exited since.
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from tunegate.execution import Store\n"
            "s = Store(Path(sys.argv[1]))\n"
            "s.start_run('dead', label=None, targets={}, suites=[], out_dir=Path('r'))\n"
            "s.claim('k')\n",
            str(path),
        ],
        check=True,
    )
    assert child.returncode == 0
    now = time.time()
    with sqlite3.connect(path) as db:
        # Runs of another machine: only the heartbeat tells whether they are alive.
        for run_id, heartbeat in (("far-stale", now - 3600), ("far-fresh", now - 5)):
            db.execute(
                "INSERT INTO runs (run_id, started_at, status, targets_json, suites_json, host,"
                " pid, owner, heartbeat_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, now - 7200, "running", "{}", "[]", "elsewhere", 1, run_id, heartbeat),
            )
    db.close()
    assert statuses(path) == dict.fromkeys(["alive", "dead", "far-stale", "far-fresh"], "running")

    with Store(path) as store:
        assert store.peek("k").state is ClaimState.FREE  # the dead run's claim is gone
        runs = {r.run_id: r for r in store.runs()}
    assert statuses(path) == {
        "alive": "running",
        "dead": "abandoned",
        "far-stale": "abandoned",
        "far-fresh": "running",
    }
    assert runs["alive"].host == socket.gethostname() and runs["alive"].pid == os.getpid()


def test_the_heartbeat_keeps_a_run_of_another_machine_alive(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Store(path, lease_s=1.0) as store:
        start_run(store, "r")
        with sqlite3.connect(path) as db:  # as seen from here, its pid means nothing
            db.execute("UPDATE runs SET host = 'elsewhere'")
        db.close()
        for _ in range(3):
            time.sleep(0.4)
            store.renew()
            Store(path, lease_s=1.0).close()
            assert statuses(path) == {"r": "running"}
        time.sleep(1.2)
        Store(path, lease_s=1.0).close()
        assert statuses(path) == {"r": "abandoned"}


def test_owner_and_claim_values_that_make_no_sense_are_not_trusted(tmp_path: Path) -> None:
    # An edited or damaged store: nothing here may crash a run or make it wait forever.
    path = tmp_path / "t.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        for run_id, host, pid, heartbeat in (
            ("text-pid", socket.gethostname(), "12x", time.time()),
            ("huge-pid", socket.gethostname(), 2**62, time.time()),
            ("negative-pid", socket.gethostname(), -1, None),
            ("text-heartbeat", "elsewhere", 7, "yesterday"),
        ):
            db.execute(
                "INSERT INTO runs (run_id, started_at, status, targets_json, suites_json, host,"
                " pid, owner, heartbeat_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, "long ago", "running", "{}", "[]", host, pid, "x", heartbeat),
            )
        # The claims' owner: a live run of another machine (its heartbeat is fresh).
        db.execute(
            "INSERT INTO runs (run_id, started_at, status, targets_json, suites_json, host,"
            " pid, owner, heartbeat_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                "live",
                time.time(),
                "running",
                "{}",
                "[]",
                "elsewhere",
                7,
                "live-elsewhere",
                time.time(),
            ),
        )
        db.execute("INSERT INTO claims VALUES ('never', 'live-elsewhere', 'the end of time')")
        db.execute("INSERT INTO claims VALUES ('blob', 'live-elsewhere', x'00')")
        db.execute("INSERT INTO claims VALUES ('year-2999', 'live-elsewhere', 32503680000)")
        db.execute(
            "INSERT INTO claims VALUES ('a-lease-ahead', 'live-elsewhere', ?)", (time.time() + 60,)
        )
    db.close()
    with Store(path) as store:
        assert store.claim("never").state is ClaimState.MINE
        assert store.claim("blob").state is ClaimState.MINE
        assert store.claim("year-2999").state is ClaimState.MINE  # no live run renews so far
        assert store.claim("a-lease-ahead").state is ClaimState.HELD
    assert statuses(path) == {
        "live": "running",
        "text-pid": "running",  # fresh heartbeat: alive until it stops beating
        "huge-pid": "running",
        "negative-pid": "abandoned",
        "text-heartbeat": "abandoned",
    }


def test_a_claim_holds_only_while_its_owner_is_a_running_run(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Store(path) as a, Store(path) as b:
        start_run(a, "a")
        start_run(b, "b")
        with sqlite3.connect(path) as db:  # expiring well within the ten-lease horizon
            soon = time.time() + 300
            db.execute("INSERT INTO claims VALUES ('of-no-run', 'no-such-owner', ?)", (soon,))
        db.close()
        assert b.claim("of-no-run").state is ClaimState.MINE  # taken over at once
        assert a.claim("k").state is ClaimState.MINE
        assert b.claim("k").state is ClaimState.HELD
        # A run that has ended holds nothing, even a claim it did not release itself.
        a.finish_run("a", status="interrupted", gate_passed=None)
        assert b.claim("k").state is ClaimState.MINE


def test_finishing_a_run_releases_every_claim_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Store(path) as a:
        start_run(a, "a")
        for key in ("k1", "k2"):
            assert a.claim(key).state is ClaimState.MINE
        a.finish_run("a", status="finished", gate_passed=True)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM claims").fetchone() == (0,)
    db.close()


def test_a_verdict_is_claimed_like_a_generation(tmp_path: Path) -> None:
    # Judge calls take claims too: one run asks, the other waits and uses its verdict.
    with Store(tmp_path / "t.db") as a, Store(tmp_path / "t.db") as b:
        start_run(a, "a")
        start_run(b, "b")
        assert a.claim("v", judgment=True).state is ClaimState.MINE
        held = b.claim("v", judgment=True)
        assert held.state is ClaimState.HELD and held.holder == a.owner
        assert b.peek("v", judgment=True).state is ClaimState.HELD
        put(a, "v")  # a generation under that key is not the verdict
        assert b.peek("v", judgment=True).state is ClaimState.HELD
        a.put_judgment("v", judge="j", metric="m", verdict={"value": 1.0, "reason": "ok"})
        a.release("v")
        done = b.claim("v", judgment=True)
        assert done.state is ClaimState.DONE and done.cached is None
        assert done.verdict == {"value": 1.0, "reason": "ok"}
        # A failed verdict is not stored: releasing lets the other run ask.
        assert a.claim("w", judgment=True).state is ClaimState.MINE
        a.release("w")
        assert b.claim("w", judgment=True).state is ClaimState.MINE
