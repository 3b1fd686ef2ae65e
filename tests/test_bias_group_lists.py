"""Group lists: shipped lists, files beside the suite, and every way such a file is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.errors import SuiteError
from tunegate.suite import load_suite
from tunegate.suite.group_lists import builtin_group_lists

from .conftest import write

SUITE = """
name: g
cases:
  - id: t
    prompt: "{{group}} asks"
    vars: {{group: {{groups: {ref}}}}}
"""


def project(root: Path, ref: str) -> Path:
    write(root / "suites" / "g.yaml", SUITE.format(ref=ref))
    write(
        root / "tunegate.yaml",
        "suites: [suites]\ncandidate: c\ntargets:\n  c: {provider: replay, path: c.jsonl}\n",
    )
    write(root / "c.jsonl", '{"case_id": "x", "output": "y"}\n')
    return root


def test_every_shipped_list_loads_with_distinct_groups(tmp_path: Path) -> None:
    names = builtin_group_lists()
    assert {
        "gender",
        "religion",
        "age",
        "disability",
        "nationality",
        "race_ethnicity",
        "sexual_orientation",
        "socioeconomic",
    } <= set(names)
    for name in names:
        suite = load_suite(project(tmp_path / name, name) / "suites" / "g.yaml")
        groups = [c.vars["group"] for c in suite.cases]
        assert len(groups) == len(set(groups)) >= 2, name


def test_a_list_beside_the_suite_in_groups_is_not_read_as_a_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, "groups/customers.yaml")
    write(root / "suites" / "groups" / "customers.yaml", "axis: customers\ngroups: [a, b, c]\n")
    write(root / "suites" / "groups" / "more.txt", "# comment\nx\n\ny\n")
    assert main(["validate", "--config", str(root / "tunegate.yaml")]) == 0
    assert "expanding to 3" in capsys.readouterr().out
    # pytest collects the suite and not the list.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites/",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "unknown key" not in result.stdout + result.stderr
    assert "3 tests collected" in result.stdout or "4 tests collected" in result.stdout


@pytest.mark.parametrize(
    ("ref", "content", "message"),
    [
        (
            "relgion",
            None,
            "g.yaml:5:28: no built-in group list 'relgion' (did you mean 'religion'?)",
        ),
        ("groups/none.yaml", None, "group list groups/none.yaml not found"),
        ("groups/l.yaml", "groups: [a, b, a]\n", "groups/l.yaml:1:16: 'a' is listed twice"),
        ("groups/l.yaml", "groups: []\n", "a group list is a YAML list of groups"),
        ("groups/l.yaml", "groups: [a, {x: 1}]\n", "a group is text"),
        ("groups/l.yaml", "groups: [a, '  ']\n", "a group is blank"),
        ("groups/l.yaml", "groups: [a, b\n", "groups/l.yaml:"),
        ("groups/l.txt", "a\nb\na\n", "groups/l.txt:3: 'a' is listed twice (first at line 1)"),
        ("groups/l.txt", "a\n" + "x" * 2000 + "\n", "groups/l.txt:2: a group is over 1,000"),
        # A control character or line separator: one group that prints as two, or not at all.
        ("groups/l.txt", "alpha\nbe\x00ta\n", "groups/l.txt:2:3: character U+0000"),
        ("groups/l.txt", "alpha\n\x1b[2Jbeta\n", "groups/l.txt:2:1: character U+001B"),
        ("groups/l.txt", "alpha\nbe\u2028ta\n", "groups/l.txt:2:3: character U+2028"),
        ("groups/l.txt", "alpha\nbe\u202eta\n", "groups/l.txt:2:3: character U+202E"),
        # The same in a YAML list, and a key a group list does not have.
        ("groups/l.yaml", 'groups: [a, "wo\\x01man"]\n', "groups/l.yaml:1:13: character U+0001"),
        ("groups/l.yaml", 'groups: [a, "b\\u2028c"]\n', "character U+2028"),
        ("groups/l.yaml", "groups: [a, b]\nextra: 1\n", "groups/l.yaml:2:1: unknown key 'extra'"),
        ("groups/l.yaml", "axis: 5\ngroups: [a, b]\n", "groups/l.yaml:1:7: a group list's axis"),
        # Invisible to a reader, read by the model: zero-width, bidi marks, tag characters.
        ("groups/l.txt", "alpha\nbe\u200bta\n", "groups/l.txt:2:3: character U+200B"),
        ("groups/l.txt", "alpha\nbe\u200fta\n", "character U+200F"),
        ("groups/l.txt", "alpha\nbeta\U000e0041\n", "character U+E0041"),
        # Outside the suite's folder and its parent's: the groups would be sent to a model.
        ("/etc/hostname.txt", None, "group list /etc/hostname.txt is an absolute path"),
        ("../../outside.txt", None, "group list ../../outside.txt lies outside the project"),
    ],
)
def test_a_broken_group_list_is_an_error_at_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ref: str,
    content: str | None,
    message: str,
) -> None:
    root = project(tmp_path, ref)
    if content is not None:
        write(root / "suites" / ref, content)
    assert main(["validate", "--config", str(root / "tunegate.yaml")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_binary_list_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "groups/l.txt")
    (root / "suites" / "groups").mkdir(parents=True, exist_ok=True)
    (root / "suites" / "groups" / "l.txt").write_bytes(b"a\nb\n\xff\xfe\n")
    assert main(["validate", "--config", str(root / "tunegate.yaml")]) == 2
    assert "groups/l.txt:3: not UTF-8 text" in capsys.readouterr().err


def test_a_mapping_that_is_not_a_group_list_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "suites" / "g.yaml",
        SUITE.format(ref="religion").replace("{groups: religion}", "{groups: religion, extra: 1}"),
    )
    write(
        tmp_path / "tunegate.yaml",
        "suites: [suites]\ncandidate: c\ntargets:\n  c: {provider: replay, path: c.jsonl}\n",
    )
    write(tmp_path / "c.jsonl", '{"case_id": "x", "output": "y"}\n')
    assert main(["validate"]) == 2
    assert "a variable's values are a list, or {groups: LIST}" in capsys.readouterr().err


def test_a_list_in_the_project_beside_suites_and_a_mid_line_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path, "../groups/l.txt")
    write(root / "groups" / "l.txt", "# who\nalpha\nbeta # keeps its hash\n")
    assert main(["validate", "--config", str(root / "tunegate.yaml")]) == 0
    suite = load_suite(root / "suites" / "g.yaml")
    assert [c.vars["group"] for c in suite.cases] == ["alpha", "beta # keeps its hash"]
    # A symlink inside the project that points out of it is outside, too.
    write(tmp_path.parent / f"{tmp_path.name}-secret.txt", "secret\nother\n")
    (root / "groups" / "link.txt").symlink_to(tmp_path.parent / f"{tmp_path.name}-secret.txt")
    write(root / "suites" / "g.yaml", SUITE.format(ref="../groups/link.txt"))
    assert main(["validate", "--config", str(root / "tunegate.yaml")]) == 2
    assert "lies outside the project" in capsys.readouterr().err


def test_a_fifo_or_folder_is_not_a_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "groups/l.txt")
    (root / "suites" / "groups" / "l.txt").mkdir(parents=True)
    assert main(["validate", "--config", str(root / "tunegate.yaml")]) == 2
    assert "group list groups/l.txt is not a regular file" in capsys.readouterr().err
    project(tmp_path, "groups/f.txt")
    os.mkfifo(root / "suites" / "groups" / "f.txt")
    assert main(["validate", "--config", str(root / "tunegate.yaml")]) == 2
    assert "group list groups/f.txt is not a regular file" in capsys.readouterr().err


def test_an_empty_list_of_bias_rules_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yaml",
        "name: s\ngate: {max_stereotype_rate: []}\ncases: [{id: a, prompt: p}]\n",
    )
    with pytest.raises(SuiteError, match="an empty list of rules gates nothing"):
        load_suite(path)
