"""A store tunegate cannot open is not a damaged store. Only damage earns "move it aside or
delete it"; a healthy store on a read-only file system, a folder at the store path or
another application's database is named for what it is, and nothing is to be deleted."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import make_project, write

TARGETS = """
base: {provider: replay, path: base.jsonl}
cand: {provider: replay, path: cand.jsonl}
"""
SUITE = "name: mini\ncases:\n  - id: a\n    prompt: p\n"


def project(root: Path, store: str | None = None) -> None:
    write(root / "base.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(root / "cand.jsonl", '{"case_id": "a", "output": "ok"}\n')
    make_project(root, targets=TARGETS, suites={"mini.yaml": SUITE})
    if store is not None:
        config = root / "tunegate.yaml"
        config.write_text(config.read_text() + f"store: {store}\n")


def _can_mount_read_only(folder: Path) -> bool:
    """Whether this machine lets an unprivileged user namespace bind-mount read-only."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", _read_only_mount(folder, f"touch {folder}/probe")],
        cwd=folder.parent,
        capture_output=True,
        text=True,
    )
    return probe.returncode != 0 and "Read-only file system" in probe.stderr


def _read_only_mount(folder: Path, command: str) -> str:
    return (
        f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
        f"cd {folder.parent} && {command}"
    )


def tunegate_on_read_only(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tunegate ARGS` in a mount namespace where `folder` is a read-only file system."""
    env = {k: v for k, v in os.environ.items() if k != "TUNEGATE_DEBUG"}
    command = " ".join([sys.executable, "-m", "tunegate", *args])
    return subprocess.run(
        ["unshare", "-Urm", "sh", "-c", _read_only_mount(folder, f"exec {command}")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_healthy_store_on_a_read_only_file_system_is_not_called_damaged(
    tmp_path: Path,
) -> None:
    project(tmp_path, store="cache/tunegate.db")
    assert main(["run"]) == 0  # a healthy store, with one run in it
    cache = tmp_path / "cache"
    if not _can_mount_read_only(cache):
        pytest.skip("cannot mount read-only in a user namespace here")
    before = (cache / "tunegate.db").read_bytes()

    proc = tunegate_on_read_only(cache, "run")
    assert proc.returncode == 3, proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("tunegate: error: the store at cache/tunegate.db cannot be used (")
    assert message.endswith(
        "cache/tunegate.db is on a read-only file system; the store is not damaged: run where "
        "it can be written, or set `store:` in tunegate.yaml to a writable path"
    )
    assert "integrity" not in message and "delete" not in message

    proc = tunegate_on_read_only(cache, "validate")
    assert proc.returncode == 2
    assert "cannot use the store: cache/tunegate.db is on a read-only file system" in proc.stderr
    assert (cache / "tunegate.db").read_bytes() == before


@pytest.mark.parametrize("store", ["suites", "reports"])
def test_a_folder_at_the_store_path_is_never_to_be_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store: str
) -> None:
    project(tmp_path, store=store)
    (tmp_path / store).mkdir(exist_ok=True)
    assert main(["run"]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tunegate: error: the store at {store} cannot be used (")
    assert err.endswith(
        f"{store} is a folder, not a file; set `store:` in tunegate.yaml to a file path (e.g. "
        "reports/tunegate.db), or rename the folder; it is left as it is"
    )
    assert "delete" not in err and "integrity" not in err
    assert (tmp_path / "suites" / "mini.yaml").is_file()


def test_another_applications_database_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, store="notes.db")
    with sqlite3.connect(tmp_path / "notes.db") as db:
        db.execute("CREATE TABLE generations (id INTEGER, note TEXT)")
    db.close()
    assert main(["run"]) == 3
    err = capsys.readouterr().err.strip()
    assert err == (
        "tunegate: error: the store at notes.db is not a tunegate store: its table "
        "'generations' has no column key, target, suite, case_id, sample, output, "
        "finish_reason, prompt_tokens, completion_tokens, logprobs_json, rendered_prompt, "
        "latency_s, created_at; point `store:` in tunegate.yaml at another file (this one is "
        "left as it is)"
    )
