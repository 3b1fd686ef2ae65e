"""Opening a store: schema migration, integrity check, stores that are not ours."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from tunegate import ConfigError, StoreError
from tunegate.cli import main
from tunegate.execution import Store
from tunegate.execution.store import SCHEMA_VERSION
from tunegate.providers import Generation

from .conftest import make_project, write

# The schema of tunegate 0.1.0 (store schema 1), verbatim.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    suite TEXT NOT NULL,
    case_id TEXT NOT NULL,
    sample INTEGER NOT NULL,
    output TEXT NOT NULL,
    finish_reason TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    logprobs_json TEXT,
    rendered_prompt TEXT,
    latency_s REAL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    label TEXT,
    status TEXT NOT NULL,
    targets_json TEXT NOT NULL,
    suites_json TEXT NOT NULL,
    out_dir TEXT,
    gate_passed INTEGER
);
CREATE TABLE IF NOT EXISTS run_records (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    suite TEXT NOT NULL,
    case_id TEXT NOT NULL,
    target TEXT NOT NULL,
    role TEXT NOT NULL,
    sample INTEGER NOT NULL,
    key TEXT NOT NULL,
    passed INTEGER,
    score REAL,
    scores_json TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (run_id, suite, case_id, role, sample)
);
CREATE INDEX IF NOT EXISTS run_records_case ON run_records (suite, case_id);
"""


def make_v1_store(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA_V1)
        db.execute("PRAGMA user_version=1")
        db.execute(
            "INSERT INTO generations VALUES"
            " ('k1','cand','s','a',0,'old output','stop',3,2,'[[\"old\",-0.5]]',NULL,0.25,1.0)"
        )
        day_ago = time.time() - 86400
        for run_id, status in (("r-finished", "finished"), ("r-killed", "running")):
            db.execute(
                "INSERT INTO runs VALUES (?,?,NULL,'it-1',?,'{}','[\"s\"]','reports/x',NULL)",
                (run_id, day_ago, status),
            )
    db.close()


def test_a_version_1_store_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    make_v1_store(path)
    with Store(path) as store:
        cached = store.get_generation("k1")
        assert cached is not None and cached.generation.text == "old output"
        assert cached.generation.logprobs is not None and cached.latency_s == 0.25
        runs = {r.run_id: r for r in store.runs()}
        # A v1 run left `running` a day ago has no owner to ask: it is long abandoned.
        assert runs["r-finished"].status == "finished"
        assert runs["r-killed"].status == "abandoned"
        assert store.claim("k2").state.value == "mine"  # the claims table exists
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        assert db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0] == 0
        columns = [row[1] for row in db.execute("PRAGMA table_info(human_ratings)")]
    db.close()
    # Schema 5 keeps what a rating was judged against; a fresh store has the same columns.
    with Store(tmp_path / "fresh.db"), sqlite3.connect(tmp_path / "fresh.db") as fresh:
        assert [row[1] for row in fresh.execute("PRAGMA table_info(human_ratings)")] == columns
    fresh.close()
    assert columns[-1] == "input_sha"
    rating = {"suite": "s", "case_id": "a", "role": "candidate", "sample": 0, "check": "c"}
    with Store(path) as again:  # a migrated store opens as it is
        assert again.count_generations() == 1
        again.put_ratings(
            [
                {**rating, "output_sha": "o", "rater": "ann", "rating": "{}"},
                {**rating, "output_sha": "o", "rater": "bo", "rating": "{}", "input_sha": "i"},
            ]
        )
        assert [(r["rater"], r["input_sha"]) for r in again.ratings()] == [
            ("ann", None),
            ("bo", "i"),
        ]


def test_a_run_on_a_version_1_store_keeps_its_cache(tmp_path: Path) -> None:
    write(tmp_path / "c.jsonl", '{"case_id": "a", "output": "fine"}\n')
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: c.jsonl}",
        suites={"s.yaml": "name: s\ncases:\n  - {id: a, prompt: p}\n"},
        base=None,
    )
    make_v1_store(tmp_path / "reports" / "tunegate.db")
    assert main(["run"]) == 0
    assert main(["run"]) == 0
    with Store(tmp_path / "reports" / "tunegate.db") as store:
        assert store.count_generations() == 2  # the old row, and this project's
        assert [r.status for r in store.runs()][-2:] == ["finished", "finished"]


def test_a_store_of_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE generations (id INTEGER PRIMARY KEY, prompt TEXT)")
    db.close()
    with pytest.raises(StoreError, match=r"is not a tunegate store: its table 'generations'"):
        Store(path)


def filled_store(path: Path, n: int = 300) -> None:
    with Store(path) as store:
        for i in range(n):
            store.put_generation(
                f"k{i:04d}",
                target="t",
                suite="s",
                case_id=f"c{i}",
                sample=0,
                generation=Generation(f"output {i} " * 10, "stop", 1, 2, None, "prompt " * 20),
                latency_s=0.1,
            )
    # Closing the last connection checkpoints the WAL: every page is in the main file now.
    assert not path.with_name(path.name + "-wal").exists()


def garble_middle_page(path: Path, seed: int = 0) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    middle = len(data) // page // 2 * page
    data[middle : middle + page] = random.Random(seed).randbytes(page)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_store_with_garbled_middle_pages_fails_its_integrity_check(
    tmp_path: Path, seed: int
) -> None:
    path = tmp_path / "t.db"
    filled_store(path)
    garble_middle_page(path, seed)
    with pytest.raises(StoreError) as info:
        Store(path)
    message = str(info.value)
    assert "t.db failed its integrity check" in message
    assert "move it aside or delete it and run again" in message


def test_a_garbled_store_stops_a_run_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "c.jsonl", '{"case_id": "a", "output": "fine"}\n')
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: c.jsonl}",
        suites={"s.yaml": "name: s\ncases:\n  - {id: a, prompt: p}\n"},
        base=None,
    )
    store = tmp_path / "reports" / "tunegate.db"
    filled_store(store)
    garble_middle_page(store)
    assert main(["run"]) == 3
    err = capsys.readouterr().err
    assert "the store at reports/tunegate.db failed its integrity check" in err
    assert "Traceback" not in err and "internal error" not in err


def test_a_lease_from_the_environment_must_be_a_positive_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNEGATE_LEASE_SECONDS", "2.5")
    with Store(tmp_path / "t.db") as store:
        assert store.lease_s == 2.5
    for bad in ("soon", "0", "-1", "nan", "inf"):
        monkeypatch.setenv("TUNEGATE_LEASE_SECONDS", bad)
        with pytest.raises(ConfigError, match=r"TUNEGATE_LEASE_SECONDS=.* is not a number of"):
            Store(tmp_path / "t.db")
