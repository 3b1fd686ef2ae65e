"""The training commands at the door: contamination (and its effect on the verdict)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import latest_results, make_project, write

SUITE = """
name: s
gate: {min_pass_rate: 1.0}
cases:
  - id: leaked
    prompt: "How many days do I have to return an item?"
    checks: [{metric: contains, args: {text: "45"}}]
  - id: fresh
    prompt: "When do you open on Sunday?"
    checks: [{metric: contains, args: {text: "10"}}]
"""


def test_contamination_finds_the_leak_and_the_gate_leaves_it_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "base.jsonl",
        '{"case_id": "leaked", "output": "no"}\n{"case_id": "fresh", "output": "10am"}\n',
    )
    write(
        tmp_path / "cand.jsonl",
        '{"case_id": "leaked", "output": "nope"}\n{"case_id": "fresh", "output": "10am"}\n',
    )
    make_project(
        tmp_path,
        targets=(
            "base: {provider: replay, path: base.jsonl}\ncand: {provider: replay, path: cand.jsonl}"
        ),
        suites={"s.yaml": SUITE},
    )
    train = write(
        tmp_path / "train.jsonl",
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "How many days do I have to return an item?"}
                ]
            }
        )
        + "\n",
    )
    assert main(["run"]) == 1  # the leaked case fails min_pass_rate 1.0
    assert main(["contamination", "--train", str(train), "--write", "leaks.json"]) == 1
    out = capsys.readouterr().out
    assert "s::leaked: exact, train.jsonl:1: 'How many days do I have to return an item?'" in out
    assert "1 of 2 case(s) appear in" in out
    assert json.loads((tmp_path / "leaks.json").read_text())["cases"] == [
        {"suite": "s", "case_id": "leaked"}
    ]
    config = tmp_path / "tunegate.yaml"
    config.write_text(config.read_text() + "contamination: leaks.json\n")
    assert main(["run"]) == 0  # judged on the clean case alone
    results = latest_results(tmp_path)
    leaked = next(r for r in results.records if r.case_id == "leaked")
    assert "contaminated" in leaked.tags and not leaked.passed  # still run and shown
    assert "1 contaminated case(s) left out" in results.gate[0].detail


def test_a_missing_contamination_file_stops_the_run_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "cand.jsonl", '{"case_id": "fresh", "output": "10am"}\n')
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: cand.jsonl}",
        suites={"s.yaml": "name: s\ncases: [{id: fresh, prompt: p}]\n"},
        base=None,
    )
    config = tmp_path / "tunegate.yaml"
    config.write_text(config.read_text() + "contamination: leaks.json\n")
    assert main(["run"]) == 2
    assert "contamination: leaks.json does not exist; make it with: tunegate contamination" in (
        capsys.readouterr().err
    )


LEAK = "How many days do I have to return an item?"


def leak_project(tmp_path: Path, text: str = LEAK) -> Path:
    """A project with suite `s` and a training file holding `text`; returns the file."""
    write(tmp_path / "cand.jsonl", '{"case_id": "fresh", "output": "10am"}\n')
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: cand.jsonl}",
        suites={"s.yaml": SUITE},
        base=None,
    )
    return write(tmp_path / "train.jsonl", json.dumps({"prompt": text}) + "\n")


@pytest.mark.parametrize("out", ["train.jsonl", "suites/s.yaml", "tunegate.yaml", "suites"])
def test_write_refuses_an_input_or_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str
) -> None:
    train = leak_project(tmp_path)
    inputs = {p: p.read_bytes() for p in (train, tmp_path / "suites" / "s.yaml")}
    assert main(["contamination", "--train", "train.jsonl", "--write", out]) == 2
    err = capsys.readouterr().err
    assert f"--write {out}: " in err and "internal error" not in err
    assert {p: p.read_bytes() for p in inputs} == inputs


def test_write_replaces_the_file_whole_or_not_at_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    leak_project(tmp_path)
    old = write(tmp_path / "leaks.json", '{"cases": []}\n')

    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("os.replace", refuse)
    assert main(["contamination", "--train", "train.jsonl", "--write", "leaks.json"]) == 2
    assert "--write leaks.json: cannot write it (Permission denied)" in capsys.readouterr().err
    assert old.read_text() == '{"cases": []}\n'
    assert sorted(p.name for p in tmp_path.iterdir() if "leaks" in p.name) == ["leaks.json"]


@pytest.mark.parametrize(
    "option", [["--ngram", "0"], ["--ngram", "-3"], ["--near", "nan"], ["--near", "1.5"]]
)
def test_settings_out_of_range_exit_2_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    leak_project(tmp_path)
    assert main(["contamination", "--train", "train.jsonl", *option]) == 2
    err = capsys.readouterr().err
    assert f"tunegate: error: {' '.join(option)}: give " in err


def test_bad_training_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leak_project(tmp_path)
    write(tmp_path / "empty.jsonl", "")
    assert main(["contamination", "--train", "empty.jsonl"]) == 2
    assert "empty.jsonl: no training example with text in it" in capsys.readouterr().err
    assert main(["contamination", "--train", "/dev/null"]) == 2
    assert "/dev/null: not a regular file" in capsys.readouterr().err


def test_a_long_training_text_is_shown_shortened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leak_project(tmp_path, LEAK + " " + "and more words " * 1000)
    assert main(["contamination", "--train", "train.jsonl"]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("s::leaked"))
    assert line.startswith("s::leaked: ngram (shared: 'how many days do i have to return an item')")
    assert len(line) < 400 and line.endswith("…'")


def test_validate_reports_a_missing_contamination_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leak_project(tmp_path)
    config = tmp_path / "tunegate.yaml"
    config.write_text(config.read_text() + "contamination: leaks.json\n")
    assert main(["validate"]) == 2
    assert (
        "tunegate: error: contamination: leaks.json does not exist; make it with: "
        "tunegate contamination --train FILE --write leaks.json"
    ) in capsys.readouterr().err
    write(tmp_path / "leaks.json", '{"cases": []}\n')
    assert main(["validate"]) == 0


def test_write_never_replaces_a_device_or_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    write(tmp_path / "cand.jsonl", '{"case_id": "fresh", "output": "10am"}\n')
    make_project(
        tmp_path,
        targets="cand: {provider: replay, path: cand.jsonl}",
        suites={"s.yaml": "name: s\ncases: [{id: fresh, prompt: When do you open on Sunday?}]\n"},
        base=None,
    )
    train = write(tmp_path / "train.jsonl", '{"prompt": "Where is the shop?"}\n')
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")
    monkeypatch.chdir(tmp_path)
    for out in ("fifo.json", "link.json"):
        assert main(["contamination", "--train", str(train), "--write", out]) == 2
    assert fifo.is_fifo() and (tmp_path / "link.json").is_symlink()
    assert "is a link; name the file itself" in capsys.readouterr().err
