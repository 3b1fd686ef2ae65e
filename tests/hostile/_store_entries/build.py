"""Rebuilds the store-* entries of the hostile corpus: `.venv/bin/python
tests/hostile/_store_entries/build.py` from the repository root.

The entries hold real store files. Two of them (store-row-*) corrupt a cached row that
a run must find, so they depend on the cache key: rebuild them when the key changes
(a provider's fingerprint, the generation parameters).
"""

import json
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path("tests/hostile")
CONFIG = """suites: [suites]
out: reports
base: base
candidate: cand
targets:
  base: {provider: replay, path: base.jsonl}
  cand: {provider: replay, path: cand.jsonl}
"""


def project(name: str, n_cases: int = 1) -> Path:
    d = ROOT / name
    shutil.rmtree(d, ignore_errors=True)
    (d / "suites").mkdir(parents=True)
    (d / "tunegate.yaml").write_text(CONFIG)
    check = "[{metric: contains, args: {text: hello}}]"
    cases = "".join(
        f"  - id: c{i}\n    prompt: Say hello number {i}\n    checks: {check}\n"
        for i in range(n_cases)
    )
    (d / "suites" / "greetings.yaml").write_text(f"name: greetings\ncases:\n{cases}")
    for t in ("base", "cand"):
        (d / f"{t}.jsonl").write_text(
            "".join(
                json.dumps({"case_id": f"c{i}", "output": f"hello {i} from {t}"}) + "\n"
                for i in range(n_cases)
            )
        )
    return d


def real_store(d: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "tunegate", "run", "--no-progress"],
        cwd=d,
        check=True,
        capture_output=True,
    )
    reports = d / "reports"
    for p in reports.iterdir():
        if p.name != "tunegate.db":
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    store = reports / "tunegate.db"
    assert not store.with_name("tunegate.db-wal").exists()
    return store


def expect(d: Path, why: str, exit_code: int, message: str) -> None:
    (d / "expect.yaml").write_text(
        f"why: {why}\ncommand: [run]\nexit: {exit_code}\nmessage: {json.dumps(message)}\n"
    )


# 1. garbled middle pages
d = project("store-garbled-middle-page", 120)
s = real_store(d)
data = bytearray(s.read_bytes())
mid = len(data) // 4096 // 2 * 4096
data[mid : mid + 4096] = random.Random(7).randbytes(4096)
s.write_bytes(bytes(data))
expect(
    d,
    "a store whose middle page is garbled (random bytes over one 4 KiB page)",
    3,
    "the store at reports/tunegate.db failed its integrity check",
)

# 2. truncated
d = project("store-truncated", 120)
s = real_store(d)
data = s.read_bytes()
s.write_bytes(data[: len(data) // 2])
expect(
    d,
    "a store cut to half its length (a full disk, an interrupted copy)",
    3,
    "the store at reports/tunegate.db",
)

# 3. newer schema
d = project("store-newer-schema")
s = real_store(d)
with sqlite3.connect(s) as db:
    db.execute("PRAGMA user_version=99")
db.close()
expect(
    d,
    "a store written by a newer tunegate (schema 99)",
    3,
    "reports/tunegate.db was written by a newer tunegate (schema 99)",
)

# 4. not a database
d = project("store-not-sqlite")
(d / "reports").mkdir()
(d / "reports" / "tunegate.db").write_text("these are my notes, not a database\n" * 200)
expect(
    d,
    "a text file where the store should be",
    3,
    "the store at reports/tunegate.db failed its integrity check (file is not a database)",
)

# 5. another application's database
d = project("store-foreign-database")
(d / "reports").mkdir()
with sqlite3.connect(d / "reports" / "tunegate.db") as db:
    db.execute("CREATE TABLE generations (id INTEGER PRIMARY KEY, prompt TEXT, answer TEXT)")
    db.execute("INSERT INTO generations (prompt, answer) VALUES ('hi', 'hello')")
db.close()
expect(
    d,
    "another application's SQLite file, with a table named generations",
    3,
    "reports/tunegate.db is not a tunegate store: its table 'generations' has no column",
)

# 6. a cached row whose logprobs are not JSON
d = project("store-row-logprobs-not-json")
s = real_store(d)
with sqlite3.connect(s) as db:
    db.execute("UPDATE generations SET logprobs_json = '[[\"hello\", -0.1' WHERE target = 'cand'")
db.close()
expect(
    d,
    "a cached generation whose logprobs_json is not JSON (regenerated, never a crash)",
    0,
    "1 model calls, 1 from the store",
)

# 7. a cached row whose output is not UTF-8
d = project("store-row-output-not-utf8")
s = real_store(d)
with sqlite3.connect(s) as db:
    db.execute("UPDATE generations SET output = CAST(x'68656c6cff' AS TEXT) WHERE target = 'base'")
db.close()
expect(
    d,
    "a cached generation whose output bytes are not UTF-8 (regenerated, never a crash)",
    0,
    "1 model calls, 1 from the store",
)

# 8. the store path is a folder
d = project("store-is-a-folder")
(d / "reports" / "tunegate.db").mkdir(parents=True)
(d / "reports" / "tunegate.db" / "README").write_text("a folder where the store file should be\n")
expect(
    d,
    "a folder where the store file should be",
    3,
    "the store at reports/tunegate.db cannot be used (unable to open database file)",
)

# 9. a store of schema 1 with a run that never finished
d = project("store-schema-1-stuck-run")
(d / "reports").mkdir()
v1 = Path("tests/test_store_schema.py").read_text().split('SCHEMA_V1 = """')[1].split('"""')[0]
with sqlite3.connect(d / "reports" / "tunegate.db") as db:
    db.executescript(v1)
    db.execute("PRAGMA user_version=1")
    db.execute(
        "INSERT INTO runs VALUES ('20260101-000000-dead', 1767225600, NULL, 'iteration-1',"
        " 'running', '{}', '[\"greetings\"]', 'reports/20260101-000000-dead', NULL)"
    )
db.close()
expect(
    d,
    "a store of tunegate 0.1 (schema 1) holding a run killed long ago",
    0,
    "2 model calls, 0 from the store",
)

# 10. a claim that never lapses, held by a run of another machine that stopped beating
d = project("store-claim-held-forever")
s = real_store(d)
with sqlite3.connect(s) as db:
    keys = [k for (k,) in db.execute("SELECT key FROM generations")]
    db.execute("DELETE FROM generations")
    db.execute(
        "INSERT INTO runs (run_id, started_at, status, targets_json, suites_json, host, pid,"
        " owner, heartbeat_at) VALUES ('20260101-000000-gone', 1767225600, 'running', '{}',"
        " '[]', 'build-machine-that-died', 4242, 'build-machine-that-died:4242:0', 1767225600)"
    )
    for k in keys:  # expires in the year 2999
        db.execute(
            "INSERT INTO claims VALUES (?, 'build-machine-that-died:4242:0', 32503680000)", (k,)
        )
db.close()
expect(
    d,
    "claims that expire in 2999, held by a run whose machine stopped its heartbeat",
    0,
    "2 model calls, 0 from the store",
)
