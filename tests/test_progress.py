"""Progress: plain lines where there is no terminal (CI), nothing when asked for none."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path

import pytest

import tunegate
from tunegate.cli import main
from tunegate.execution.progress import LineProgress, NullProgress, RichProgress, make_progress

from .conftest import make_project, write

pytest_plugins = ["pytester"]

COUNTS = re.compile(r"^tunegate: (\d+)/(\d+) generations, (\d+) from the store, \d+ s$")


class Lines(io.StringIO):
    """A stream a test can wait on, line by line, without sleeping for a set time."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def write(self, text: str) -> int:
        with self.changed:
            n = super().write(text)
            self.changed.notify_all()
            return n

    def lines(self) -> list[str]:
        return self.getvalue().splitlines()

    def wait_for(self, count: int, prefix: str = "") -> list[str]:
        """Wait until `count` lines, `prefix`-ed ones among them if a prefix is given."""

        def enough() -> bool:
            return len([x for x in self.lines() if x.startswith(prefix)]) >= count

        with self.changed:
            # The timeout only stops a broken ticker from hanging the suite.
            assert self.changed.wait_for(enough, timeout=30)
        return self.lines()


def counts(line: str) -> tuple[int, int, int]:
    match = COUNTS.match(line)
    assert match, line
    done, total, cached = match.groups()
    return int(done), int(total), int(cached)


def test_lines_repeat_while_generating_and_stop_with_the_run() -> None:
    stream = Lines()
    progress = LineProgress(stream, interval=0.001)
    progress.start(total=4, cached=1)
    progress.status("loading gemma-3-270m")
    progress.advance("cand")
    lines = stream.wait_for(2, prefix="tunegate: 2/")  # ticks after the advance
    assert counts(lines[0]) == (1, 4, 1)
    assert "tunegate: loading gemma-3-270m" in lines
    assert (2, 4, 1) in [counts(x) for x in lines if x.startswith("tunegate: 2/")]
    progress.advance("cand")
    progress.advance("base")
    progress.stop()
    final = stream.lines()
    assert counts(final[-1]) == (4, 4, 1)
    before = len(final)
    progress.stop()  # idempotent, and no ticks after the end
    assert len(stream.lines()) == before


def test_a_run_served_from_the_store_prints_one_line() -> None:
    stream = Lines()
    progress = LineProgress(stream, interval=0.001)
    progress.start(total=3, cached=3)
    progress.stop()
    assert [counts(x) for x in stream.lines()] == [(3, 3, 3)]


def test_names_cannot_steer_the_log() -> None:
    stream = Lines()
    LineProgress(stream).status("loading \x1b[2Jevil\nfake: gate PASSED")
    assert stream.getvalue() == "tunegate: loading \\x1b[2Jevil\\x0afake: gate PASSED\n"


def test_make_progress_picks_lines_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = Lines()
    monkeypatch.setattr("sys.stderr", stream)
    assert isinstance(make_progress(False), NullProgress)
    assert isinstance(make_progress(True), RichProgress)
    lines = make_progress(None, interval=0.001)
    assert isinstance(lines, LineProgress)
    lines.start(2, 0)
    assert counts(stream.wait_for(2)[1]) == (0, 2, 0)  # a tick, at the injected interval
    lines.stop()


def replay_project(root: Path) -> None:
    for name in ("base", "cand"):
        write(root / f"{name}.jsonl", json.dumps({"case_id": "a", "output": name}) + "\n")
    make_project(
        root,
        targets="base: {provider: replay, path: base.jsonl}\n"
        "cand: {provider: replay, path: cand.jsonl}\n",
        suites={"s.yaml": "name: s\ncases:\n  - id: a\n    prompt: p\n"},
    )


def test_cli_without_a_terminal_prints_lines_unless_told_not_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay_project(tmp_path)
    assert main(["run"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [counts(x) for x in err] == [(0, 2, 0), (2, 2, 0)]
    assert main(["run", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_the_python_api_stays_silent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replay_project(tmp_path)
    tunegate.run()
    assert capsys.readouterr().err == ""


def test_pytest_without_a_terminal_prints_lines(pytester: pytest.Pytester) -> None:
    replay_project(pytester.path)
    result = pytester.runpytest("suites/")
    assert [counts(x) for x in result.errlines if x.startswith("tunegate:")] == [
        (0, 2, 0),
        (2, 2, 0),
    ]
    result = pytester.runpytest("suites/", "--tunegate-no-progress")
    assert not [x for x in result.errlines if x.startswith("tunegate:")]
