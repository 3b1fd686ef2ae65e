"""`reports/latest` is a link tunegate keeps; a file or folder of that name is the user's,
never replaced or deleted, and the run says why the link did not move. `--out` moves the
run folders and their links, not the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunegate import load_results
from tunegate.cli import main

from .conftest import make_project, write

TARGETS = """
base: {provider: replay, path: base.jsonl}
cand: {provider: replay, path: cand.jsonl}
"""
SUITE = "name: mini\ncases:\n  - id: a\n    prompt: p\n"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="symbolic links")


def project(root: Path) -> None:
    write(root / "base.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(root / "cand.jsonl", '{"case_id": "a", "output": "ok"}\n')
    make_project(root, targets=TARGETS, suites={"mini.yaml": SUITE})


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TUNEGATE_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "tunegate", "run", "--no-progress", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def run_logs(root: Path) -> str:
    return "".join(p.read_text() for p in (root / "reports").glob("*/run.log"))


def test_a_file_named_latest_is_kept_and_the_run_says_so(tmp_path: Path) -> None:
    project(tmp_path)
    notes = write(tmp_path / "reports" / "latest", "my notes, not a link\n")
    proc = run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert notes.read_text() == "my notes, not a link\n" and not notes.is_symlink()
    warning = (
        "reports/latest is a file, not the link tunegate keeps there, so it was left as it "
        "is and does not point at this run; rename it to let tunegate keep latest up to date"
    )
    assert proc.stderr.strip() == f"tunegate: warning: {warning}"
    assert warning in run_logs(tmp_path)


def test_a_folder_named_latest_is_kept_and_the_run_says_so(tmp_path: Path) -> None:
    project(tmp_path)
    keep = write(tmp_path / "reports" / "latest" / "keep.txt", "mine\n")
    proc = run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert keep.read_text() == "mine\n"
    assert "tunegate: warning: reports/latest is a folder, not the link" in proc.stderr
    assert "reports/latest is a folder" in run_logs(tmp_path)


def test_the_link_moves_to_each_new_full_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path)
    latest = tmp_path / "reports" / "latest"
    assert main(["run"]) == 0
    first = os.readlink(latest)
    assert main(["run"]) == 0
    second = os.readlink(latest)
    assert first != second and (latest / "results.json").is_file()
    assert "warning" not in capsys.readouterr().err
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith(".latest")]


def test_out_moves_the_run_folders_and_links_but_not_the_store(tmp_path: Path) -> None:
    project(tmp_path)
    assert main(["run"]) == 0
    assert main(["run", "--out", "elsewhere"]) == 0
    assert (tmp_path / "elsewhere" / "latest" / "results.json").is_file()
    # The store is the cache every run shares: the second run was served from it.
    assert not (tmp_path / "elsewhere" / "tunegate.db").exists()
    results = load_results(tmp_path / "elsewhere" / "latest")
    assert results.stats.calls == 0 and results.stats.cached > 0
