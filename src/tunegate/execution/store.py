"""The results store: a SQLite cache of generations plus the history of runs.

Each generation is committed the moment it returns, so a killed run loses only
the calls that were in flight. WAL mode lets a report read while a run writes.

Runs that share a store share work: a run claims a generation key before calling the
model, under a lease its heartbeat renews; another run waits for that key and uses the
result, or takes the claim over once the lease lapses. See docs/store.md.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import logging
import math
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError, StoreError
from ..paths import display_path
from ..providers.base import Generation, TokenLogprob

__all__ = [
    "DEFAULT_LEASE_S",
    "LEASE_ENV",
    "RATING_KEY",
    "SCHEMA_VERSION",
    "CachedGeneration",
    "Claim",
    "ClaimState",
    "RunInfo",
    "Store",
    "access_problem",
    "content_key",
    "generation_key",
    "pair_scoring_key",
    "store_path_problem",
]

log = logging.getLogger("tunegate")

SCHEMA_VERSION = 5
# What names a rated output: its suite, case, role (or "pair"), sample and check.
RATING_KEY = ("suite", "case_id", "role", "sample", "check")

# A claim lives this long unless its run renews it (every third of it); a run killed
# with SIGKILL frees its keys for other runs within one lease.
DEFAULT_LEASE_S = 60.0
LEASE_ENV = "TUNEGATE_LEASE_SECONDS"
# A claim is never renewed further ahead than its holder's lease. One dated further than
# this many of our leases (or the default's) is not a live run's: damage or a skewed clock.
_CLAIM_HORIZON_LEASES = 10

_JUDGMENTS = """CREATE TABLE IF NOT EXISTS judgments (
        key TEXT PRIMARY KEY,
        judge TEXT NOT NULL,
        metric TEXT NOT NULL,
        verdict_json TEXT NOT NULL,
        created_at REAL NOT NULL
    )"""
_RATINGS_V4 = """CREATE TABLE IF NOT EXISTS human_ratings (
        suite TEXT NOT NULL,
        case_id TEXT NOT NULL,
        role TEXT NOT NULL,
        sample INTEGER NOT NULL,
        check_name TEXT NOT NULL,
        output_sha TEXT NOT NULL,
        rater TEXT NOT NULL,
        rating TEXT NOT NULL,
        imported_at REAL NOT NULL,
        PRIMARY KEY (suite, case_id, role, sample, check_name, rater)
    )"""
# What the rater judged the output against (messages, context, reference): a rating of
# the same output to another prompt is stale.
# Null for ratings imported before schema 5 (matched on the output alone).
_RATINGS_INPUT = "ALTER TABLE human_ratings ADD COLUMN input_sha TEXT"
_RATINGS = _RATINGS_V4.replace(
    "imported_at REAL NOT NULL,", "imported_at REAL NOT NULL,\n        input_sha TEXT,"
)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS generations (
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
    )""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        label TEXT,
        status TEXT NOT NULL,
        targets_json TEXT NOT NULL,
        suites_json TEXT NOT NULL,
        out_dir TEXT,
        gate_passed INTEGER,
        host TEXT,
        pid INTEGER,
        owner TEXT,
        heartbeat_at REAL,
        partial INTEGER,
        selected_cases INTEGER,
        total_cases INTEGER,
        verdict TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS run_records (
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
    )""",
    "CREATE INDEX IF NOT EXISTS run_records_case ON run_records (suite, case_id)",
    """CREATE TABLE IF NOT EXISTS claims (
        key TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at REAL NOT NULL
    )""",
    _JUDGMENTS,
    _RATINGS,
)

# From schema N to N+1, applied in one transaction.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE runs ADD COLUMN host TEXT",
        "ALTER TABLE runs ADD COLUMN pid INTEGER",
        "ALTER TABLE runs ADD COLUMN owner TEXT",
        "ALTER TABLE runs ADD COLUMN heartbeat_at REAL",
        _SCHEMA[4],  # claims
    ),
    2: (
        "ALTER TABLE runs ADD COLUMN partial INTEGER",
        "ALTER TABLE runs ADD COLUMN selected_cases INTEGER",
        "ALTER TABLE runs ADD COLUMN total_cases INTEGER",
        "ALTER TABLE runs ADD COLUMN verdict TEXT",
    ),
    3: (_JUDGMENTS, _RATINGS_V4),
    4: (_RATINGS_INPUT,),
}

# Advice for a store that is damaged, and only then: a store that cannot be opened (a
# folder, a read-only file system, permissions) or is another application's file is
# healthy, and deleting it would lose good data.
_MOVE_ASIDE = (
    "it only caches model outputs and run history, so move it aside or delete it and run again"
)
_ANOTHER_PATH = "point `store:` in tunegate.yaml at another file (this one is left as it is)"
_SQLITE_HEADER = b"SQLite format 3\x00"


def generation_key(
    fingerprint: Mapping[str, Any],
    messages: list[dict[str, str]],
    params: Mapping[str, Any],
    sample: int,
    case: tuple[str, str] | None = None,
) -> str:
    """Hash of everything that determines an output. Fingerprints never hold secrets.

    `case` (suite, case id) joins the key for providers whose output depends on the case
    itself rather than the prompt (a replay file): two cases with the same prompt must not
    share one recorded output."""
    content: dict[str, Any] = {
        "target": fingerprint, "messages": messages, "params": params, "sample": sample,
    }  # fmt: skip
    if case is not None:
        content["case"] = list(case)
    return content_key(content)


# Marks a key as a pair scored by log-likelihood, never a generation; bump it when what a
# scored pair stores changes (its text, its logprobs).
PAIR_SCORING = "loglikelihood-1"


def pair_scoring_key(
    fingerprint: Mapping[str, Any],
    texts: Sequence[str],
    case: tuple[str, str] | None = None,
) -> str:
    """Key of a pair case's two sentences (in A/B order) scored by log-likelihood on a
    target: the scoring marker, the texts and the target's fingerprint. No generation key
    holds the marker, so scoring and generating never share a stored result; every sample
    and every case with the same two texts share this one (the numbers are deterministic).
    `case` as for generation_key."""
    content: dict[str, Any] = {
        "scoring": PAIR_SCORING, "target": fingerprint, "texts": list(texts),
    }  # fmt: skip
    if case is not None:
        content["case"] = list(case)
    return content_key(content)


def content_key(content: Mapping[str, Any]) -> str:
    """sha256 of `content` as canonical JSON: the store's key for a generation or a verdict.

    The text is untrusted (model output may end in half an emoji, a lone surrogate), so it
    is encoded with `surrogatepass`: never an error, the same bytes as strict UTF-8 for
    valid text (so existing keys hold), and two texts that differ only in a lone surrogate
    keep different keys (`errors="replace"` would make both '?' and share one verdict)."""
    payload = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class CachedGeneration:
    generation: Generation
    latency_s: float | None


class ClaimState(enum.Enum):
    MINE = "mine"  # this run holds the key: generate (or judge), store, then release
    DONE = "done"  # the result is in the store (`Claim.cached` or `Claim.verdict`)
    HELD = "held"  # another live run holds the key until `Claim.expires_at`
    FREE = "free"  # (peek only) nobody holds the key and it is not stored


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    cached: CachedGeneration | None = None  # DONE for a generation key
    holder: str | None = None
    expires_at: float | None = None
    verdict: dict[str, Any] | None = None  # DONE for a judgment key


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
    host: str | None = None
    pid: int | None = None
    heartbeat_at: float | None = None
    partial: bool = False
    selected_cases: int | None = None
    total_cases: int | None = None
    verdict: str | None = None


class Store:
    """One connection to the store. `lease_s` defaults to $TUNEGATE_LEASE_SECONDS, else 60."""

    def __init__(self, path: Path, *, lease_s: float | None = None) -> None:
        self.path = path
        self.lease_s = _lease_from_env() if lease_s is None else lease_s
        self.host = socket.gethostname()
        # Identifies this connection's claims and runs; unique even for two stores in one process.
        self.owner = f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=10000")
            self._check_integrity()
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against a killed process (not a power cut) and much faster.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self._check_tables()
            self._mark_abandoned_runs()
        except (sqlite3.DatabaseError, OSError) as exc:
            self._close_quietly()
            raise self._unusable(exc) from None
        except StoreError:
            self._close_quietly()
            raise

    @property
    def _shown(self) -> str:
        return display_path(self.path)

    @property
    def renew_every_s(self) -> float:
        """How often a working run renews its claims: three renewals per lease."""
        return self.lease_s / 3

    @property
    def poll_s(self) -> float:
        """How often a run waiting for another run's key looks at the store."""
        return min(0.5, self.lease_s / 10)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "the store is not open"
        return self._db

    def _close_quietly(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()

    # opening -------------------------------------------------------------------

    def _unusable(self, exc: sqlite3.Error | OSError) -> StoreError:
        """Why the store cannot be used, told apart: damaged (move it aside), or healthy
        but out of reach (a folder, a read-only file system, permissions: never delete)."""
        if isinstance(exc, sqlite3.Error) and _is_damage(exc):
            return StoreError(
                f"the store at {self._shown} failed its integrity check ({exc}); "
                f"{_damage_advice(self.path, exc)}"
            )
        return StoreError(
            f"the store at {self._shown} cannot be used ({exc}): "
            f"{access_problem(self.path) or _UNKNOWN_ACCESS}"
        )

    def _check_integrity(self) -> None:
        # A garbled page would otherwise surface later as wrong cached outputs or as an
        # error half-way through a paid-for run. Cost: docs/store.md.
        try:
            problems = [str(row[0]) for row in self.db.execute("PRAGMA quick_check(3)")]
        except sqlite3.DatabaseError as exc:
            # "database disk image is malformed" is damage; "unable to open database file"
            # (a read-only file system cannot hold the WAL index) is not: told apart above.
            raise self._unusable(exc) from None
        if problems != ["ok"]:
            raise StoreError(
                f"the store at {self._shown} failed its integrity check "
                f"({'; '.join(problems)}); {_MOVE_ASIDE}"
            )

    def _migrate(self) -> None:
        if self._version() == SCHEMA_VERSION:
            return
        # IMMEDIATE: two runs opening an old store at once migrate it once.
        with self._transaction():
            version = self._version()
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store at {self._shown} was written by a newer tunegate (schema "
                    f"{version}); upgrade tunegate or point `store:` at another file"
                )
            if version == 0:
                statements: tuple[str, ...] = _SCHEMA
            else:
                statements = tuple(
                    s for v in range(version, SCHEMA_VERSION) for s in _MIGRATIONS[v]
                )
            for statement in statements:
                self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _check_tables(self) -> None:
        for table, columns in _expected_columns().items():
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            missing = [c for c in columns if c not in have]
            if missing:
                raise StoreError(
                    f"the store at {self._shown} is not a tunegate store: its table "
                    f"'{table}' has no column {', '.join(missing)}; {_ANOTHER_PATH}"
                )

    def _mark_abandoned_runs(self) -> None:
        """Runs left `running` by a process that is gone (killed, or its machine lost)."""
        now = time.time()
        running = self.db.execute(
            "SELECT run_id, host, pid, owner, COALESCE(heartbeat_at, started_at) FROM runs"
            " WHERE status = 'running'"
        ).fetchall()
        gone = [r for r in running if self._owner_gone(r[1], r[2], r[4], now)]
        with self._transaction():
            for run_id, _host, _pid, owner, _seen in gone:
                self.db.execute(
                    "UPDATE runs SET status = 'abandoned' WHERE run_id = ? AND status = 'running'",
                    (run_id,),
                )
                # Its keys are free now, not only when their leases lapse.
                self.db.execute("DELETE FROM claims WHERE owner = ?", (owner,))
            self.db.execute("DELETE FROM claims WHERE expires_at < ?", (now,))
        for run_id, host, pid, _owner, _seen in gone:
            log.info(
                "run %s (%s pid %s) stopped without finishing: marked abandoned", run_id, host, pid
            )

    def _owner_gone(self, host: Any, pid: Any, seen: Any, now: float) -> bool:
        # Values are checked, not trusted: the file may have been edited or damaged.
        if host == self.host and _is_pid(pid):
            alive = _pid_alive(pid)
            if alive is not None:
                return not alive
        # Another machine (or a run from before owners were recorded): only its heartbeat
        # can tell. A live run renews it three times per lease while it generates.
        return not _is_number(seen) or seen < now - self.lease_s

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _write(self, sql: str, params: Iterable[Any]) -> None:
        try:
            self.db.execute(sql, tuple(params))
        except sqlite3.DatabaseError as exc:
            raise self._write_error(exc) from None

    def _write_error(self, exc: sqlite3.Error) -> StoreError:
        if _is_damage(exc):
            return StoreError(f"cannot write to the store at {self._shown}: {exc}; {_MOVE_ASIDE}")
        why = access_problem(self.path)
        return StoreError(
            f"cannot write to the store at {self._shown}: {exc}"
            + (f"; {why}" if why else "; check its permissions and the free disk space")
        )

    # generations ---------------------------------------------------------------

    _SELECT_GENERATION = (
        # Text as bytes, decoded here: a row with invalid UTF-8 is a corrupt row to skip,
        # not an OperationalError from the driver.
        "SELECT CAST(output AS BLOB), CAST(finish_reason AS BLOB), prompt_tokens,"
        " completion_tokens, CAST(logprobs_json AS BLOB), CAST(rendered_prompt AS BLOB),"
        " latency_s, target, case_id, sample FROM generations WHERE key = ?"
    )

    def get_generation(self, key: str) -> CachedGeneration | None:
        """The stored generation, or None. A row that does not decode counts as missing
        (with a warning): the run generates it again and overwrites it."""
        try:
            row = self.db.execute(self._SELECT_GENERATION, (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            advice = _MOVE_ASIDE if _is_damage(exc) else _UNKNOWN_ACCESS
            raise StoreError(f"cannot read the store at {self._shown}: {exc}; {advice}") from None
        return None if row is None else self._decode(key, row, warn=True)

    def _decode(self, key: str, row: tuple[Any, ...], *, warn: bool) -> CachedGeneration | None:
        try:
            return _decode_generation(row)
        except (ValueError, TypeError) as exc:
            if warn:
                log.warning(
                    "the store at %s holds an unreadable generation (%s %s sample %s, key %s:"
                    " %s); generating it again",
                    self._shown,
                    row[7],
                    row[8],
                    row[9],
                    key[:12],
                    exc,
                )
            return None

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
        return int(self.db.execute("SELECT COUNT(*) FROM generations").fetchone()[0])

    # judgments: the judge's verdicts, cached like generations ---------------------

    def get_judgment(self, key: str) -> dict[str, Any] | None:
        """A stored verdict, or None; one that does not decode counts as missing."""
        try:
            return self._judgment(key)
        except sqlite3.DatabaseError as exc:
            advice = _MOVE_ASIDE if _is_damage(exc) else _UNKNOWN_ACCESS
            raise StoreError(f"cannot read the store at {self._shown}: {exc}; {advice}") from None

    def _judgment(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT verdict_json FROM judgments WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            verdict = json.loads(row[0])
        except (ValueError, TypeError):
            return None
        return verdict if isinstance(verdict, dict) else None

    def put_judgment(
        self, key: str, *, judge: str, metric: str, verdict: Mapping[str, Any]
    ) -> None:
        self._write(
            "INSERT OR REPLACE INTO judgments VALUES (?,?,?,?,?)",
            (key, judge, metric, json.dumps(dict(verdict), ensure_ascii=False), time.time()),
        )

    def count_judgments(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0])

    # human ratings ----------------------------------------------------------------

    def put_ratings(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Store reviewers' ratings; a second rating of the same output by the same rater
        replaces the first. Returns how many were written."""
        values = [
            (
                r["suite"],
                r["case_id"],
                r["role"],
                int(r["sample"]),
                r["check"],
                r["output_sha"],
                r["rater"],
                str(r["rating"]),
                time.time(),
                r.get("input_sha"),
            )
            for r in rows
        ]
        try:
            with self._transaction():
                self.db.executemany(
                    "INSERT OR REPLACE INTO human_ratings (suite, case_id, role, sample, "
                    "check_name, output_sha, rater, rating, imported_at, input_sha) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    values,
                )
        except sqlite3.DatabaseError as exc:
            raise self._write_error(exc) from None
        return len(values)

    def ratings(self) -> list[dict[str, Any]]:
        """Every stored rating, oldest first."""
        try:
            rows = self.db.execute(
                "SELECT suite, case_id, role, sample, check_name, output_sha, rater, rating,"
                " input_sha FROM human_ratings ORDER BY imported_at"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            advice = _MOVE_ASIDE if _is_damage(exc) else _UNKNOWN_ACCESS
            raise StoreError(f"cannot read the store at {self._shown}: {exc}; {advice}") from None
        keys = (*RATING_KEY, "output_sha", "rater", "rating", "input_sha")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # claims --------------------------------------------------------------------

    def claim(self, key: str, *, judgment: bool = False) -> Claim:
        """Take `key` for this run unless it is stored (DONE) or another live run holds it
        (HELD). Atomic across processes: of two runs claiming at once, one gets MINE.
        `judgment`: the key is a verdict's (`judgments`), not a generation's."""
        try:
            with self._transaction():
                found = self._claim_state(key, judgment)
                if found.state is ClaimState.FREE:
                    self.db.execute(
                        "INSERT OR REPLACE INTO claims VALUES (?,?,?)",
                        (key, self.owner, time.time() + self.lease_s),
                    )
                    return Claim(ClaimState.MINE)
                return found
        except sqlite3.DatabaseError as exc:
            raise self._write_error(exc) from None

    def peek(self, key: str, *, judgment: bool = False) -> Claim:
        """What `claim` would find, without taking anything: DONE, HELD or FREE."""
        try:
            return self._claim_state(key, judgment)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the store at {self._shown}: {exc}") from None

    def _claim_state(self, key: str, judgment: bool) -> Claim:
        # Verdicts and generations share the claims table: their keys hash different
        # content (content_key), so they never collide.
        if judgment:
            verdict = self._judgment(key)
            if verdict is not None:
                return Claim(ClaimState.DONE, verdict=verdict)
        else:
            row = self.db.execute(self._SELECT_GENERATION, (key,)).fetchone()
            cached = None if row is None else self._decode(key, row, warn=False)
            if cached is not None:  # an unreadable row is regenerated like a missing one
                return Claim(ClaimState.DONE, cached)
        # A claim holds only while its owner is a run recorded as running: one whose
        # owner is no run at all (a damaged or edited store, a crashed writer) would
        # otherwise make every run wait up to ten leases for nothing.
        held = self.db.execute(
            "SELECT owner, expires_at, EXISTS (SELECT 1 FROM runs"
            " WHERE runs.owner = claims.owner AND runs.status = 'running')"
            " FROM claims WHERE key = ?",
            (key,),
        ).fetchone()
        now = time.time()
        horizon = now + _CLAIM_HORIZON_LEASES * max(self.lease_s, DEFAULT_LEASE_S)
        if (
            held is not None
            and held[0] != self.owner
            and held[2]
            and _is_number(held[1])  # a claim with no usable expiry holds nothing
            and now < held[1] <= horizon
        ):
            return Claim(ClaimState.HELD, holder=str(held[0]), expires_at=held[1])
        return Claim(ClaimState.FREE)

    def release(self, key: str) -> None:
        """Give `key` up (stored, or failed: then another run may try it)."""
        self._write("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))

    def renew(self) -> None:
        """The heartbeat: extend this run's claims and record that it is alive."""
        now = time.time()
        try:
            with self._transaction():
                self.db.execute(
                    "UPDATE claims SET expires_at = ? WHERE owner = ?",
                    (now + self.lease_s, self.owner),
                )
                self.db.execute(
                    "UPDATE runs SET heartbeat_at = ? WHERE owner = ? AND status = 'running'",
                    (now, self.owner),
                )
        except sqlite3.DatabaseError as exc:
            raise self._write_error(exc) from None

    # runs ----------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        *,
        label: str | None,
        targets: Mapping[str, Any],
        suites: list[str],
        out_dir: Path,
        partial: bool = False,
        selected_cases: int | None = None,
        total_cases: int | None = None,
    ) -> None:
        now = time.time()
        self._write(
            "INSERT INTO runs (run_id, started_at, label, status, targets_json, suites_json,"
            " out_dir, host, pid, owner, heartbeat_at, partial, selected_cases, total_cases)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                now,
                label,
                "running",
                json.dumps(targets),
                json.dumps(suites),
                str(out_dir),
                self.host,
                os.getpid(),
                self.owner,
                now,
                int(partial),
                selected_cases,
                total_cases,
            ),
        )

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        gate_passed: bool | None,
        verdict: str | None = None,
    ) -> None:
        """Record how the run ended and free every key it still claims: a run that is no
        longer running holds nothing (an interrupted one may not have released them all)."""
        try:
            with self._transaction():
                self.db.execute(
                    "UPDATE runs SET finished_at = ?, status = ?, gate_passed = ?, verdict = ?"
                    " WHERE run_id = ?",
                    (
                        time.time(),
                        status,
                        None if gate_passed is None else int(gate_passed),
                        verdict,
                        run_id,
                    ),
                )
                self.db.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))
        except sqlite3.DatabaseError as exc:
            raise self._write_error(exc) from None

    def add_run_records(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        try:
            with self._transaction():
                self.db.executemany(
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
        except sqlite3.DatabaseError as exc:
            raise self._write_error(exc) from None

    def runs(self) -> list[RunInfo]:
        rows = self.db.execute(
            "SELECT run_id, started_at, finished_at, label, status, targets_json, suites_json,"
            " out_dir, gate_passed, host, pid, heartbeat_at, partial, selected_cases,"
            " total_cases, verdict FROM runs ORDER BY started_at"
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
                host=r[9],
                pid=r[10],
                heartbeat_at=r[11],
                partial=bool(r[12]),
                selected_cases=r[13],
                total_cases=r[14],
                verdict=r[15],
            )
            for r in rows
        ]


_UNKNOWN_ACCESS = (
    "check its permissions and the free disk space; the file is left as it is, since it "
    "may be intact"
)


def _is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file itself is damaged or not a database, as opposed to
    out of reach (cannot open, read-only, permissions, busy, full)."""
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+
    if isinstance(name, str):
        return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _damage_advice(path: Path, exc: sqlite3.Error) -> str:
    if _looks_like_sqlite(path):
        return _MOVE_ASIDE
    # Not a SQLite file at all: maybe a damaged store, maybe someone's file at that path.
    return (
        "it is not a SQLite file; if tunegate wrote it, it is damaged: move it aside and run "
        "again; if it is another file, " + _ANOTHER_PATH
    )


def _looks_like_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except OSError:
        return False


def access_problem(path: Path) -> str | None:
    """Why a store at `path` could not be opened and written, looking at the path only
    (nothing is created or opened): a folder, a parent that is a file, a read-only file
    system, no write permission. None when nothing is visibly wrong."""
    shown = display_path(path)
    if path.is_dir():
        return (
            f"{shown} is a folder, not a file; set `store:` in tunegate.yaml to a file path "
            "(e.g. reports/tunegate.db), or rename the folder; it is left as it is"
        )
    if path.exists() and not path.is_file():
        return f"{shown} is not a regular file; set `store:` in tunegate.yaml to a file path"
    folder = next((p for p in path.parents if p.exists()), path.parent)
    if not folder.is_dir():
        return (
            f"{display_path(folder)} is a file, not a folder; set `store:` (or `out:`) in "
            "tunegate.yaml to a path in a folder"
        )
    target = path if path.exists() else folder
    if _read_only_file_system(target):
        return (
            f"{display_path(target)} is on a read-only file system; the store is not damaged: "
            "run where it can be written, or set `store:` in tunegate.yaml to a writable path"
        )
    # SQLite writes beside the file (-wal, -shm), so the folder must be writable too.
    for needed in (path, path.parent) if path.exists() else (folder,):
        if not os.access(needed, os.W_OK):
            return (
                f"you cannot write to {display_path(needed)} (permissions); make it writable, "
                "or set `store:` in tunegate.yaml to a path you can write to"
            )
    return None


def store_path_problem(path: Path) -> str | None:
    """What `tunegate validate` says about the store path: whether a run could open it,
    found without creating or opening anything."""
    problem = access_problem(path)
    if problem is None and _holds_foreign_bytes(path):
        problem = (
            f"{display_path(path)} is not a SQLite file; if tunegate wrote it, it is "
            f"damaged: move it aside; if it is another file, {_ANOTHER_PATH}"
        )
    return None if problem is None else f"cannot use the store: {problem}"


def _holds_foreign_bytes(path: Path) -> bool:
    """A non-empty file that does not start as a SQLite database does (an empty file is
    what SQLite itself creates, and it makes a store)."""
    try:
        return path.is_file() and path.stat().st_size > 0 and not _looks_like_sqlite(path)
    except OSError:
        return False


def _read_only_file_system(path: Path) -> bool:
    statvfs = getattr(os, "statvfs", None)
    if statvfs is None:  # Windows: os.access says enough
        return False
    try:
        return bool(statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _decode_generation(row: tuple[Any, ...]) -> CachedGeneration:
    """A stored row back into a Generation; ValueError/TypeError when it does not decode."""
    text = _text(row[0])
    if text is None:
        raise ValueError("no output")
    logprobs = None
    raw = _text(row[4])
    if raw:
        logprobs = [TokenLogprob(_token(t), _number(lp)) for t, lp in json.loads(raw)]
    return CachedGeneration(
        Generation(
            text=text,
            finish_reason=_text(row[1]),
            prompt_tokens=_count(row[2]),
            completion_tokens=_count(row[3]),
            logprobs=logprobs,
            rendered_prompt=_text(row[5]),
        ),
        _number(row[6]),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise TypeError(f"a text column holds {type(value).__name__}")
    return value.decode("utf-8")  # UnicodeDecodeError is a ValueError


def _token(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a log-probability token is {type(value).__name__}")
    return value


def _count(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"a token count is {type(value).__name__}")
    return value


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value):
        raise TypeError(f"a number is {type(value).__name__}")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_pid(value: Any) -> bool:
    return isinstance(value, int) and 0 < value < 2**31


def _pid_alive(pid: int) -> bool | None:
    """Whether a process of this machine is alive; None where that cannot be asked."""
    if os.name != "posix":
        return None  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by another user
        return True
    try:  # a killed process its parent has not reaped yet is a zombie: gone for us
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _lease_from_env() -> float:
    raw = os.environ.get(LEASE_ENV)
    if raw is None:
        return DEFAULT_LEASE_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(
            f"{LEASE_ENV}={raw!r} is not a number of seconds above 0; unset it to use "
            f"the default ({DEFAULT_LEASE_S:g})"
        )
    return value


@cache
def _expected_columns() -> dict[str, tuple[str, ...]]:
    """Each table's columns, read from the schema itself so the two never disagree."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        for statement in _SCHEMA:
            db.execute(statement)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: tuple(r[1] for r in db.execute(f"PRAGMA table_info({t})")) for t in tables}
