"""report.html shows outside text inertly: escaped markup and visible control characters."""

from __future__ import annotations

from pathlib import Path

from tunegate.cli import main

from .conftest import make_project, write

ATTACK = "\\u001b]0;pwned\\u0007\\u001b[2Jhello <b>x</b>\\u202e"


def test_control_characters_in_outputs_are_shown_not_kept(tmp_path: Path) -> None:
    write(tmp_path / "base.jsonl", '{"case_id": "a", "output": "fine"}\n')
    write(tmp_path / "cand.jsonl", f'{{"case_id": "a", "output": "{ATTACK}"}}\n')
    make_project(
        tmp_path,
        targets="base: {provider: replay, path: base.jsonl}\n"
        "cand: {provider: replay, path: cand.jsonl}",
        suites={"s.yaml": "name: s\ngate: {min_pass_rate: 0}\ncases:\n  - {id: a, prompt: p}\n"},
    )
    assert main(["run"]) == 0
    html = (tmp_path / "reports" / "latest" / "report.html").read_text(encoding="utf-8")
    for raw in ("\x1b", "\x07", "\u202e", "<b>x"):
        assert raw not in html
    assert "\\x1b]0;pwned\\x07\\x1b[2Jhello &lt;b&gt;x&lt;/b&gt;\\u202e" in html
