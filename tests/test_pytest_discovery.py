"""`pytest suites/` and `tunegate run` agree on which suites exist, and pytest never passes
while a suite is skipped or broken: links, folders pytest skips by default, files named in
`suites:`, a broken config, a session started outside the project."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.suite import discover_suite_files

from .conftest import make_project, write

pytest_plugins = ["pytester"]

TARGETS = """
base: {provider: replay, path: base.jsonl}
cand: {provider: replay, path: cand.jsonl}
"""


def suite(name: str, *, strict: bool = False) -> str:
    """A one-case suite; the candidate fails a strict one, whose gate then fails."""
    case = "fails" if strict else "passes"
    gate = "gate: {min_pass_rate: 1.0}\n" if strict else ""
    return (
        f"name: {name}\n{gate}cases:\n  - id: {case}\n    prompt: {name} {case}?\n"
        "    checks: [{metric: contains, args: {text: 'yes'}}]\n"
    )


def outputs(root: Path) -> None:
    # Keyed by case id: every suite has a `passes` or a `fails` case.
    for name, failing in (("base", "yes"), ("cand", "no")):
        lines = [{"case_id": "passes", "output": "yes"}, {"case_id": "fails", "output": failing}]
        write(root / f"{name}.jsonl", "".join(json.dumps(x) + "\n" for x in lines))


def shop(root: Path, extra: dict[str, str] | None = None) -> Path:
    make_project(root, targets=TARGETS, suites={"good.yaml": suite("good"), **(extra or {})})
    outputs(root)
    return root


def link(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def collected_files(result: pytest.RunResult) -> set[str]:
    return {line.split("::")[0] for line in result.outlines if "::" in line}


def cli(args: list[str]) -> int:
    return main([*args, "--no-progress"] if args[0] == "run" else args)


# -- one set of suites for both doors ------------------------------------------------------

# Where a strict suite may sit under suites/ (or outside it, reached by a link).
PLACES = {
    "link-to-a-file-outside": "strict.yaml",
    "build": "build/strict.yaml",
    "dist": "dist/strict.yml",
    "node_modules": "node_modules/strict.yaml",
    "hidden": ".drafts/strict.yaml",
    "virtualenv": "env/strict.yaml",
    "linked-folder": "linked/strict.yaml",
}


def place_strict(root: Path, where: str, text: str) -> str:
    """Put a suite at PLACES[where] under suites/ and return its path from the project."""
    shown = f"suites/{PLACES[where]}"
    if where == "link-to-a-file-outside":
        write(root.parent / "shared" / "strict.yaml", text)
        link(root / shown, "../../shared/strict.yaml")
    elif where == "linked-folder":
        write(root.parent / "shared-folder" / "strict.yaml", text)
        link(root / "suites" / "linked", "../../shared-folder")
    else:
        write(root / shown, text)
        if where == "virtualenv":
            write(root / "suites" / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    return shown


@pytest.mark.parametrize("where", sorted(PLACES))
def test_a_failing_suite_anywhere_under_suites_fails_both_doors(
    pytester: pytest.Pytester, where: str
) -> None:
    root = shop(pytester.path / "project")
    shown = place_strict(root, where, suite("strict", strict=True))
    os.chdir(root)
    assert cli(["run"]) == 1
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines([f"FAILED {shown}::gate[[]min_pass_rate]*"])
    result.stdout.no_fnmatch_line("*partial run*")


@pytest.mark.parametrize("where", ["build", "node_modules", "linked-folder"])
def test_a_broken_suite_anywhere_under_suites_stops_both_doors(
    pytester: pytest.Pytester, where: str
) -> None:
    root = shop(pytester.path / "project")
    shown = place_strict(root, where, "name: strict\ncase: []\n")
    os.chdir(root)
    assert cli(["run"]) == 2
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == 2
    # `*`: paths.display_path shows a linked folder's file by where the link leads.
    result.stdout.fnmatch_lines([f"*{shown}:2:1: unknown key 'case'*"])
    assert not (root / "reports").exists()


def test_both_doors_list_the_same_files_links_and_loops_included(
    pytester: pytest.Pytester,
) -> None:
    root = shop(pytester.path / "project")
    for i, where in enumerate(sorted(PLACES)):
        place_strict(root, where, suite(f"s{i}"))
    write(root / "suites" / "deep" / "er" / "x.yml", suite("x"))
    write(root / "suites" / "tunegate.yaml", "targets: {}\n")  # a config is never a suite
    write(root / "suites" / "tunegate.yml", "targets: {}\n")
    link(root / "suites" / "loop", ".")  # back to suites/ itself
    link(root / "suites" / "deep" / "up", "../..")  # back above suites/
    expected = {
        "suites/good.yaml",
        "suites/deep/er/x.yml",
        *(f"suites/{p}" for p in PLACES.values()),
    }
    os.chdir(root)
    by_cli = {str(p) for p in discover_suite_files([Path("suites")])}
    assert by_cli == expected
    result = pytester.runpytest("suites/", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    assert collected_files(result) == expected
    assert pytester.runpytest("-p", "no:cacheprovider").ret == 0  # bare pytest: the same
    assert cli(["validate"]) == 0


def test_a_link_to_nothing_stops_both_doors(pytester: pytest.Pytester) -> None:
    root = shop(pytester.path / "project")
    link(root / "suites" / "gone.yaml", "../../nowhere.yaml")
    os.chdir(root)
    assert cli(["run"]) == 2
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        ["tunegate: error: suites/gone.yaml: a link to a file that does not exist*"]
    )
    assert not (root / "reports").exists()


def test_a_suite_hidden_by_another_plugin_stops_the_session(pytester: pytest.Pytester) -> None:
    shop(pytester.path, {"hidden.yaml": suite("hidden", strict=True)})
    pytester.makeconftest(
        "import pytest\n\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_ignore_collect(collection_path):\n"
        "    return True if collection_path.name == 'hidden.yaml' else None\n"
    )
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        ["tunegate: error: suites/hidden.yaml: a suite pytest did not collect*"]
    )
    assert not (pytester.path / "reports").exists()


def test_collect_ignore_in_a_conftest_does_not_hide_a_suite(pytester: pytest.Pytester) -> None:
    shop(pytester.path, {"legacy/old.yaml": suite("old", strict=True)})
    pytester.makeconftest("collect_ignore = ['suites/legacy']\n")
    assert pytester.runpytest("suites/", "-p", "no:cacheprovider").ret == 1


def test_ignore_on_the_command_line_is_a_partial_run(pytester: pytest.Pytester) -> None:
    shop(pytester.path, {"build/strict.yaml": suite("strict", strict=True)})
    result = pytester.runpytest("suites/", "--ignore=suites/build", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["partial run: 1 of 2 cases; the gate covers only these*"])


def test_a_folder_too_large_for_suites_stops_both_doors(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = shop(pytester.path, {f"more/s{i}.yaml": suite(f"s{i}") for i in range(3)})
    monkeypatch.setattr("tunegate.suite.files.MAX_SUITE_FILES", 3)
    assert cli(["run"]) == 2
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["tunegate: error: suites: holds more than 3 YAML files*"])
    assert not (root / "reports").exists()


# -- files in `suites:` ---------------------------------------------------------------------


def test_files_named_in_the_config_are_the_suites_of_both_doors(
    pytester: pytest.Pytester,
) -> None:
    root = shop(pytester.path, {"strict.yaml": suite("strict", strict=True)})
    write(root / "suites" / "draft.yaml", "name: draft\ncase: []\n")  # not in `suites:`
    config = (root / "tunegate.yaml").read_text()
    config = config.replace("suites: [suites]", "suites: [suites/strict.yaml, suites/good.yaml]")
    (root / "tunegate.yaml").write_text(config)
    assert cli(["run"]) == 1
    for args in (["suites/"], []):
        result = pytester.runpytest(*args, "-p", "no:cacheprovider")
        assert result.ret == 1, result.stdout.str()
        result.assert_outcomes(passed=2, failed=2)
        result.stdout.no_fnmatch_line("*partial run*")
        result.stdout.no_fnmatch_line("*draft*")


# -- the config ----------------------------------------------------------------------------


def test_a_broken_config_is_one_clean_line_and_exit_2(pytester: pytest.Pytester) -> None:
    root = shop(pytester.path)
    config = (root / "tunegate.yaml").read_text().replace("targets:", "tagrets:")
    (root / "tunegate.yaml").write_text(config)
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        ["tunegate: error: tunegate.yaml:5:1: unknown key 'tagrets' (did you mean 'targets'?)*"]
    )
    output = result.stdout.str() + result.stderr.str()
    for noise in ("pluggy/", "pytest_plugin.py", "Traceback", "UsageError", "during collection"):
        assert noise not in output


def test_a_store_error_is_one_clean_line_with_the_cli_exit_code(
    pytester: pytest.Pytester,
) -> None:
    root = shop(pytester.path)
    write(root / "reports" / "tunegate.db", "not a database\n")
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == 3
    result.stdout.fnmatch_lines(
        ["tunegate: error: the store at reports/tunegate.db failed its integrity check*"]
    )
    assert "_pytest.outcomes.Exit" not in result.stdout.str() + result.stderr.str()
    assert "!!!" not in result.stdout.str()


def test_pointing_pytest_into_a_project_from_outside_says_how_to_use_its_config(
    pytester: pytest.Pytester,
) -> None:
    shop(pytester.path / "proj")
    result = pytester.runpytest("proj/suites/", "-p", "no:cacheprovider")
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        [
            "tunegate: proj/suites/good.yaml is in the project of proj/tunegate.yaml, but no "
            "tunegate.yaml or [[]tool.tunegate] was found from the working directory upwards*"
            ": pass --tunegate-config proj/tunegate.yaml, or run pytest from proj"
        ]
    )
    result = pytester.runpytest(
        "proj/suites/", "--tunegate-config", "proj/tunegate.yaml", "-p", "no:cacheprovider"
    )
    assert result.ret == 0
    result.assert_outcomes(passed=2)


def test_yaml_without_any_config_is_said_when_nothing_was_collected(
    pytester: pytest.Pytester,
) -> None:
    write(pytester.path / "evals" / "a.yaml", suite("a"))
    result = pytester.runpytest("evals/", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(
        ["tunegate: evals/a.yaml found, but no tunegate.yaml * --tunegate-config FILE"]
    )


def test_the_config_is_found_from_the_working_directory_as_tunegate_run_finds_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest's rootdir is the monorepo (its ini file); tunegate.yaml is in the project below.
    pytester.makeini("[pytest]\n")
    root = shop(pytester.path / "proj", {"strict.yaml": suite("strict", strict=True)})
    monkeypatch.chdir(root)
    assert cli(["run"]) == 1
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert re.search(r"rootdir: .*test_the_config_is_found\w*\n", result.stdout.str())
    assert result.ret == 1
    result.assert_outcomes(passed=2, failed=2)
