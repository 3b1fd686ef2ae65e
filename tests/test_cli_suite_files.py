"""Suite arguments that are not suite files: devices, FIFOs, `/`, the project folder, files
too large. Each is refused with one line naming the path, exit 2, without hanging or
reading forever. Real processes, real FIFOs and devices."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunegate.errors import SuiteError
from tunegate.suite.files import (
    MAX_SUITE_BYTES,
    MAX_SUITE_FILES,
    WalkBudget,
    check_suite_file,
    check_suite_folder,
    read_suite_file,
)

from .conftest import make_project, write

TARGETS = """
base: {provider: replay, path: base.jsonl}
cand: {provider: replay, path: cand.jsonl}
"""

SUITE = """
name: mini
cases:
  - id: a
    prompt: p
    checks: [{metric: exact, args: {text: ok}}]
"""


def project(root: Path) -> None:
    write(root / "base.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(root / "cand.jsonl", '{"case_id": "a", "output": "ok"}\n')
    make_project(root, targets=TARGETS, suites={"mini.yaml": SUITE})


def tunegate(root: Path, *args: str, timeout: float = 60) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "TUNEGATE_DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "tunegate", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,  # a FIFO used to block here forever
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    return proc.returncode, proc.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_fifo_named_like_a_suite_is_refused_not_read(tmp_path: Path, command: str) -> None:
    project(tmp_path)
    fifo = tmp_path / "suites" / "x.yaml"
    os.mkfifo(fifo)
    code, err = tunegate(tmp_path, command, "suites/x.yaml", timeout=30)
    assert code == 2
    assert err.strip() == (
        "tunegate: error: suites/x.yaml: is a FIFO (named pipe), not a regular file; "
        "pass the path of a YAML file instead"
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_refused_before_any_read(tmp_path: Path) -> None:
    project(tmp_path)
    code, err = tunegate(tmp_path, "run", "/dev/zero", timeout=30)
    assert code == 2
    assert "tunegate: error: /dev/zero: is a character device, not a regular file" in err
    code, err = tunegate(tmp_path, "--config", "/dev/zero", "validate", timeout=30)
    assert code == 2
    assert "/dev/zero: is a character device, not a regular file" in err


def test_the_whole_file_system_is_never_walked(tmp_path: Path) -> None:
    project(tmp_path)
    for command in ("run", "validate"):
        code, err = tunegate(tmp_path, command, "/", timeout=30)
        assert code == 2
        assert "tunegate: error: /: tunegate does not search the whole file system" in err


def test_the_project_folder_as_a_suite_folder_skips_tunegate_yaml(tmp_path: Path) -> None:
    project(tmp_path)
    code, err = tunegate(tmp_path, "run", ".")
    assert code == 0, err
    assert "unknown key" not in err


def test_a_suite_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    project(tmp_path)
    huge = tmp_path / "suites" / "huge.yaml"
    with huge.open("wb") as file:  # sparse: costs no disk
        file.truncate(MAX_SUITE_BYTES + 1)
    code, err = tunegate(tmp_path, "validate", "suites/huge.yaml")
    assert code == 2
    assert err.strip() == (
        "tunegate: error: suites/huge.yaml: larger than 50 MB, the most tunegate reads from "
        "one file; split it into several suite files"
    )
    with pytest.raises(SuiteError, match="larger than 50 MB"):
        read_suite_file(huge)


def test_the_reader_stops_at_the_limit_whatever_the_file_claims(tmp_path: Path) -> None:
    # /proc files report a size of 0 and may be long; the read is bounded, not the stat.
    small = write(tmp_path / "s.yaml", "name: s\n")
    assert read_suite_file(small, limit=8) == b"name: s\n"
    with pytest.raises(SuiteError, match="larger than 7 bytes"):
        read_suite_file(small, limit=7)
    if Path("/proc/self/status").exists():
        with pytest.raises(SuiteError, match="larger than 16 bytes"):
            read_suite_file(Path("/proc/self/status"), limit=16)


def test_check_suite_file_and_folder(tmp_path: Path) -> None:
    good = write(tmp_path / "s.yaml", "name: s\n")
    check_suite_file(good)
    with pytest.raises(SuiteError, match="no such file"):
        check_suite_file(tmp_path / "missing.yaml")
    check_suite_folder(tmp_path)
    with pytest.raises(SuiteError, match="does not search the whole file system"):
        check_suite_folder(Path("/"))
    with pytest.raises(SuiteError, match="does not search the whole file system"):
        check_suite_folder(tmp_path / ".." / ".." / ".." / ".." / ".." / ".." / "..")


def test_a_walk_stops_past_its_budget(tmp_path: Path) -> None:
    budget = WalkBudget(tmp_path / "home")
    budget.entries(10)
    for _ in range(MAX_SUITE_FILES):
        budget.suite_file()
    with pytest.raises(SuiteError, match="more than 1,000 YAML files") as info:
        budget.suite_file()
    assert str(info.value).startswith("home: holds more than 1,000 YAML files, too many")
    with pytest.raises(SuiteError, match="more than 100,000 entries"):
        WalkBudget(tmp_path).entries(100_001)
