"""tunegate.yaml: role and target errors list what is defined and say what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import write

SUITE = "name: mini\ncases:\n  - id: a\n    prompt: p\n"


def config_error(root: Path, config: str, capsys: pytest.CaptureFixture[str]) -> str:
    write(root / "tunegate.yaml", config)
    write(root / "suites" / "mini.yaml", SUITE)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err.removeprefix("tunegate: error: ")


def test_an_undefined_candidate_lists_the_defined_targets_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = """
    candidate: gemma-bse
    targets:
      gemma-base: {provider: replay, path: a.jsonl}
      smollm: {provider: replay, path: b.jsonl}
    """
    assert config_error(tmp_path, config, capsys) == (
        "tunegate.yaml:1:12: candidate target 'gemma-bse' is not defined under targets "
        "(did you mean 'gemma-base'?); defined: gemma-base, smollm; set candidate: to one of "
        "them, or add 'gemma-bse'"
    )


def test_an_undefined_base_with_no_targets_at_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert config_error(tmp_path, "base: gpt\ncandidate: gpt\n", capsys) == (
        "tunegate.yaml:1:7: base target 'gpt' is not defined, and no targets are: "
        "add it under targets:"
    )


def test_a_target_that_is_not_a_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert config_error(tmp_path, "candidate: c\ntargets:\n  c:\n", capsys) == (
        "tunegate.yaml:3:5: targets.c: a target is a mapping of its provider and options, "
        "e.g. {provider: openai, model: gpt-4o-mini}"
    )


def test_suites_may_name_one_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "checks" / "mini.yaml", SUITE)
    write(tmp_path / "c.jsonl", '{"case_id": "a", "output": "ok"}\n')
    write(
        tmp_path / "tunegate.yaml",
        "suites: checks\ncandidate: c\ntargets: {c: {provider: replay, path: c.jsonl}}\n",
    )
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.startswith("ok  checks/mini.yaml: suite 'mini'")


def test_a_config_that_is_a_list_says_what_it_should_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert config_error(tmp_path, "- cand\n- base\n", capsys) == (
        "tunegate.yaml:1:1: the config must be a mapping of keys such as candidate:, base: "
        "and targets:"
    )


def test_an_unknown_target_on_the_command_line_lists_the_defined_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "a.jsonl", '{"case_id": "a", "output": "x"}\n')
    write(tmp_path / "tunegate.yaml", "targets:\n  cand: {provider: replay, path: a.jsonl}\n")
    write(tmp_path / "suites" / "mini.yaml", SUITE)
    assert main(["run", "--candidate", "cnad"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunegate: error: no target named 'cnad' (did you mean 'cand'?); targets defined in "
        "tunegate.yaml: cand"
    )
