"""`tunegate validate` says what `tunegate run` would say, all at once: every broken suite
file (as pytest lists every broken file), the roles, the targets a run would use (the
others only warn), and the store path, without creating anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import make_project, write

GOOD = """
name: {name}
cases:
  - id: a
    prompt: p
"""
TARGETS = """
base: {provider: replay, path: base.jsonl}
cand: {provider: replay, path: cand.jsonl}
"""


def project(root: Path, **suites: str) -> None:
    write(root / "base.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(root / "cand.jsonl", '{"case_id": "a", "output": "ok"}\n')
    make_project(root, targets=TARGETS, suites={f"{k}.yaml": v for k, v in suites.items()})


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], list[str]]:
    code = main(["validate", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def test_every_broken_suite_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(
        tmp_path,
        a_typo="name: a\ncases:\n  - id: a\n    promt: p\n",
        b_good=GOOD.format(name="b"),
        c_syntax="name: c\ncases: [\n",
        d_same_name=GOOD.format(name="b"),
    )
    code, out, err = validate(capsys)
    assert code == 2
    assert out[0] == "ok  suites/b_good.yaml: suite 'b', 1 case(s) expanding to 1"
    assert [line.split(": ")[2] for line in err] == [
        "suites/a_typo.yaml:4:5",
        "suites/c_syntax.yaml:3:1",
        "suites/d_same_name.yaml",
    ]
    assert "suite name 'b' is also used by suites/b_good.yaml" in err[2]


def test_a_broken_target_no_run_uses_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, mini=GOOD.format(name="mini"))
    config = tmp_path / "tunegate.yaml"
    config.write_text(
        config.read_text() + "  spare: {provider: replay, path: recorded/gone.jsonl}\n"
    )
    code, out, err = validate(capsys)
    assert code == 0, err
    assert out[-2:] == ["ok  target 'base' (replay, base)", "ok  target 'cand' (replay, candidate)"]
    assert err == [
        "tunegate: warning: tunegate.yaml:8:29: target 'spare': replay file recorded/gone.jsonl "
        "not found; fix path (relative to the config file), or create the file (a warning "
        "only: not the base, candidate or judge)"
    ]
    # Chosen on the command line, it is the run's: then its problem is an error.
    code, _, err = validate(capsys, "--candidate", "spare")
    assert code == 2
    assert err[0].startswith("tunegate: error: tunegate.yaml:8:29: target 'spare'")


def test_no_candidate_is_an_error_as_run_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "cand.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(tmp_path / "tunegate.yaml", "targets:\n  cand: {provider: replay, path: cand.jsonl}\n")
    write(tmp_path / "suites" / "mini.yaml", GOOD.format(name="mini"))
    code, _, err = validate(capsys)
    assert code == 2
    assert err[0] == (
        "tunegate: error: no candidate target: pass --candidate NAME or set `candidate:` in "
        "tunegate.yaml"
    )
    assert main(["run"]) == 2  # what validate foretold
    capsys.readouterr()
    code, _, err = validate(capsys, "--candidate", "nope")
    assert code == 2
    assert err[0] == (
        "tunegate: error: candidate target 'nope' is not defined under targets; defined: "
        "cand; set candidate: to one of them, or add 'nope'"
    )


def test_the_store_path_is_checked_without_creating_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, mini=GOOD.format(name="mini"))
    assert validate(capsys)[0] == 0
    assert not (tmp_path / "reports").exists(), "validate created the out folder"

    (tmp_path / "reports" / "tunegate.db").mkdir(parents=True)
    code, _, err = validate(capsys)
    assert code == 2
    assert err == [
        "tunegate: error: cannot use the store: reports/tunegate.db is a folder, not a file; "
        "set `store:` in tunegate.yaml to a file path (e.g. reports/tunegate.db), or rename "
        "the folder; it is left as it is"
    ]
    assert (tmp_path / "reports" / "tunegate.db").is_dir()

    config = tmp_path / "tunegate.yaml"
    config.write_text(config.read_text() + "store: base.jsonl/tunegate.db\n")
    code, _, err = validate(capsys)
    assert code == 2
    assert err == [
        "tunegate: error: cannot use the store: base.jsonl is a file, not a folder; set "
        "`store:` (or `out:`) in tunegate.yaml to a path in a folder"
    ]


def test_config_is_accepted_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, mini=GOOD.format(name="mini"))
    (tmp_path / "tunegate.yaml").rename(tmp_path / "other.yaml")
    for args in (
        ["--config", "other.yaml", "validate"],
        ["validate", "--config", "other.yaml"],
        ["--config", "missing.yaml", "validate", "--config", "other.yaml"],  # the later wins
    ):
        assert main(args) == 0, capsys.readouterr().err
    assert main(["run", "--config", "other.yaml"]) == 0
    assert (tmp_path / "reports" / "latest" / "results.json").is_file()
