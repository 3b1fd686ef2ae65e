"""The results store: a SQLite cache of generations plus the history of runs.

Each generation is committed the moment it returns, so a killed run loses only
the calls that were in flight. WAL mode lets a report read while a run writes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..providers.base import Generation, TokenLogprob

__all__ = ["CachedGeneration", "RunInfo", "Store", "generation_key"]

SCHEMA_VERSION = 1

_SCHEMA = """
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


def generation_key(
    fingerprint: Mapping[str, Any],
    messages: list[dict[str, str]],
    params: Mapping[str, Any],
    sample: int,
) -> str:
    """Hash of everything that determines an output. Fingerprints never hold secrets."""
    payload = json.dumps(
        {"target": fingerprint, "messages": messages, "params": params, "sample": sample},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedGeneration:
    generation: Generation
    latency_s: float | None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    started_at: float
    finished_at: float | None
    label: str | None
    status: str
    targets: dict[str, Any]
    suites: list[str]
    out_dir: str | None
    gate_passed: bool | None


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against a killed process (not a power cut) and much faster.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store at {path} was written by a newer tunegate (schema {version}); "
                    "upgrade tunegate or point `store:` at another file"
                )
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the store at {path} cannot be used ({exc}); it only caches model outputs and "
                "run history, so move it aside or delete it and run again"
            ) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: Iterable[Any]) -> None:
        try:
            self._db.execute(sql, tuple(params))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot write to the store at {self.path}: {exc}") from None

    # generations ---------------------------------------------------------------

    def get_generation(self, key: str) -> CachedGeneration | None:
        try:
            row = self._db.execute(
                "SELECT output, finish_reason, prompt_tokens, completion_tokens, logprobs_json,"
                " rendered_prompt, latency_s FROM generations WHERE key = ?",
                (key,),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the store at {self.path}: {exc}") from None
        if row is None:
            return None
        logprobs = None
        if row[4]:
            logprobs = [TokenLogprob(t, lp) for t, lp in json.loads(row[4])]
        return CachedGeneration(
            Generation(
                text=row[0],
                finish_reason=row[1],
                prompt_tokens=row[2],
                completion_tokens=row[3],
                logprobs=logprobs,
                rendered_prompt=row[5],
            ),
            row[6],
        )

    def put_generation(
        self,
        key: str,
        *,
        target: str,
        suite: str,
        case_id: str,
        sample: int,
        generation: Generation,
        latency_s: float,
    ) -> None:
        logprobs = (
            json.dumps([[t.token, t.logprob] for t in generation.logprobs])
            if generation.logprobs
            else None
        )
        self._write(
            "INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                key,
                target,
                suite,
                case_id,
                sample,
                generation.text,
                generation.finish_reason,
                generation.prompt_tokens,
                generation.completion_tokens,
                logprobs,
                generation.rendered_prompt,
                latency_s,
                time.time(),
            ),
        )

    def count_generations(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0])

    # runs ----------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        *,
        label: str | None,
        targets: Mapping[str, Any],
        suites: list[str],
        out_dir: Path,
    ) -> None:
        self._write(
            "INSERT INTO runs (run_id, started_at, label, status, targets_json, suites_json,"
            " out_dir) VALUES (?,?,?,?,?,?,?)",
            (
                run_id,
                time.time(),
                label,
                "running",
                json.dumps(targets),
                json.dumps(suites),
                str(out_dir),
            ),
        )

    def finish_run(self, run_id: str, *, status: str, gate_passed: bool | None) -> None:
        self._write(
            "UPDATE runs SET finished_at = ?, status = ?, gate_passed = ? WHERE run_id = ?",
            (time.time(), status, None if gate_passed is None else int(gate_passed), run_id),
        )

    def add_run_records(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        try:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO run_records VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        run_id,
                        r["suite"],
                        r["case_id"],
                        r["target"],
                        r["role"],
                        r["sample"],
                        r["key"],
                        None if r["passed"] is None else int(r["passed"]),
                        r["score"],
                        json.dumps(r["scores"]),
                        r["error"],
                    )
                    for r in rows
                ],
            )
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._db.execute("ROLLBACK")
            raise StoreError(f"cannot write to the store at {self.path}: {exc}") from None

    def runs(self) -> list[RunInfo]:
        rows = self._db.execute(
            "SELECT run_id, started_at, finished_at, label, status, targets_json, suites_json,"
            " out_dir, gate_passed FROM runs ORDER BY started_at"
        ).fetchall()
        return [
            RunInfo(
                run_id=r[0],
                started_at=r[1],
                finished_at=r[2],
                label=r[3],
                status=r[4],
                targets=json.loads(r[5]),
                suites=json.loads(r[6]),
                out_dir=r[7],
                gate_passed=None if r[8] is None else bool(r[8]),
            )
            for r in rows
        ]
