"""The command line: exit codes, validate, schema, config errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import MINI_SUITE as SUITE
from .conftest import make_project, write

REPLAY_TARGETS = """
base: {provider: replay, path: base.jsonl}
cand: {provider: replay, path: cand.jsonl}
"""


def replay_project(tmp_path: Path, cand_output: str) -> None:
    write(tmp_path / "base.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(tmp_path / "cand.jsonl", json.dumps({"case_id": "a", "output": cand_output}) + "\n")
    make_project(tmp_path, targets=REPLAY_TARGETS, suites={"mini.yaml": SUITE})


def test_exit_0_when_the_gate_passes_and_1_when_it_fails(tmp_path: Path) -> None:
    replay_project(tmp_path, "ok")
    assert main(["run"]) == 0
    replay_project(tmp_path, "not ok")
    assert main(["run"]) == 1


def test_exit_2_on_bad_input_without_traceback(tmp_path: Path) -> None:
    replay_project(tmp_path, "ok")
    write(tmp_path / "suites" / "mini.yaml", "name: mini\ncases:\n  - id: a\n    promt: p\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tunegate", "run"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "tunegate: error: suites/mini.yaml:4:5: unknown key 'promt' (did you mean 'prompt'?)"
    )
    assert "Traceback" not in proc.stderr


def test_exit_2_on_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--no-such-flag"])
    assert info.value.code == 2


def test_exit_3_when_the_store_is_not_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay_project(tmp_path, "ok")
    write(tmp_path / "reports" / "tunegate.db", "this is not a database " * 100)
    assert main(["run"]) == 3
    err = capsys.readouterr().err
    assert "the store at reports/tunegate.db failed its integrity check" in err
    # It may be someone's file that `store:` points at by mistake: never "delete it".
    assert "move it aside" in err and "delete" not in err


def test_validate_reports_each_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replay_project(tmp_path, "ok")
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ok  suites/mini.yaml: suite 'mini', 1 case(s) expanding to 1",
        "ok  target 'base' (replay, base)",
        "ok  target 'cand' (replay, candidate)",
    ]


def test_schema_is_json_that_validates_the_project_suites(
    capsys: pytest.CaptureFixture[str],
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    root = Path(__file__).resolve().parents[1]
    for path in (root / "suites").glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "cases": [{"id": "a", "refrence": "y"}]}, schema)


def test_config_typo_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path / "tunegate.yaml",
        """
        candidate: cand
        targets:
          cand:
            provider: openai
            base_url: http://127.0.0.1:9/v1
            modle: x
        """,
    )
    write(tmp_path / "suites" / "mini.yaml", SUITE)
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "tunegate: error: tunegate.yaml:6:5: unknown key 'modle' (did you mean 'model'?)"
    )


def test_unknown_provider_and_role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "tunegate.yaml", "candidate: c\ntargets:\n  c: {provider: opnai}\n")
    assert main(["validate"]) == 2
    assert "tunegate.yaml:3:17: unknown provider 'opnai' (did you mean 'openai'?)" in (
        capsys.readouterr().err
    )
    write(
        tmp_path / "tunegate.yaml", "candidate: gpt\ntargets:\n  c: {provider: openai, model: m}\n"
    )
    assert main(["validate"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunegate: error: tunegate.yaml:1:12: candidate target 'gpt' is not defined under "
        "targets; defined: c; set candidate: to one of them, or add 'gpt'"
    )


def test_config_in_pyproject(tmp_path: Path) -> None:
    write(tmp_path / "base.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(
        tmp_path / "pyproject.toml",
        """
        [tool.tunegate]
        candidate = "cand"
        suites = ["checks"]
        out = "out"

        [tool.tunegate.targets.cand]
        provider = "replay"
        path = "base.jsonl"
        """,
    )
    write(tmp_path / "checks" / "mini.yaml", SUITE)
    assert main(["run", "--label", "from-pyproject"]) == 0
    assert (tmp_path / "out" / "latest" / "results.json").is_file()


def test_no_candidate_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "suites" / "mini.yaml", SUITE)
    assert main(["run"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunegate: error: no candidate target: pass --candidate NAME or set `candidate:` in "
        "tunegate.yaml"
    )


def test_internal_error_is_exit_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    replay_project(tmp_path, "ok")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("tunegate.api.run", broken)
    monkeypatch.delenv("TUNEGATE_DEBUG", raising=False)
    assert main(["run"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("tunegate: internal error: RuntimeError: boom.")
    assert "Traceback" not in err


WARNED_SUITE = """
name: warned
cases:
  - id: a
    prompt: "Can {group} join?"
    checks: [{metric: contains, args: {text: ok}}]
"""


def test_suite_warnings_are_shown_by_validate_run_and_pytest(tmp_path: Path) -> None:
    write(tmp_path / "base.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(tmp_path / "cand.jsonl", '{"case_id": "a", "output": "ok"}\n')
    make_project(tmp_path, targets=REPLAY_TARGETS, suites={"warned.yaml": WARNED_SUITE})
    warning = "suites/warned.yaml:4:13: warning:"
    for command, code in (
        (["-m", "tunegate", "validate"], 0),
        (["-m", "tunegate", "run"], 0),
        (["-m", "pytest", "suites/", "-p", "no:cacheprovider"], 0),
    ):
        proc = subprocess.run(
            [sys.executable, *command], cwd=tmp_path, capture_output=True, text=True
        )
        assert proc.returncode == code, proc.stdout + proc.stderr
        assert warning in proc.stdout + proc.stderr, command
    results = json.loads(next(tmp_path.rglob("results.json")).read_text())
    assert results["suites"][0]["warnings"][0].startswith(warning)


PYPROJECT = """
[project]
name = "demo"
description = '''
[tool.tunegate]
candidat = "decoy in a multi-line string"
'''

[tool.tunegate]
candidate = "cand"
suites = ["checks"]
{extra}
[tool.tunegate.targets.cand]
provider = "replay"
path = "base.jsonl"
{option}
"""


@pytest.mark.parametrize(
    ("extra", "option", "where", "message"),
    [
        ("candidat = 'x'", "", "pyproject.toml:11:1", "unknown key 'candidat'"),
        ("", "  modle = 'x'", "pyproject.toml:15:3", "unknown key 'modle'"),
        ("statistics = {seed = 1, resample = 9}", "", "pyproject.toml:11:25", "unknown key"),
        ("gate.min_pass_rate = 'high'", "", "pyproject.toml:11:22", "gate.min_pass_rate"),
        ("targets.x = { provider = 'opnai' }", "", "pyproject.toml:11:26", "unknown provider"),
        ("base = 'nope'", "", "pyproject.toml:11:8", "base target 'nope' is not defined"),
        ("out = [", "", "pyproject.toml:12:2", "invalid TOML"),
    ],
)
def test_errors_in_pyproject_name_their_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: str,
    option: str,
    where: str,
    message: str,
) -> None:
    # tomllib gives no positions: every error used to point at pyproject.toml:1:1.
    write(tmp_path / "base.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(tmp_path / "pyproject.toml", PYPROJECT.format(extra=extra, option=option))
    write(tmp_path / "checks" / "mini.yaml", SUITE)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tunegate: error: {where}: "), err
    assert message in err
