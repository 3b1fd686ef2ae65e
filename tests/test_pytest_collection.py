"""`pytest suites/` collects every suite file, or fails naming it, and then calls no model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegate.testing import FakeOpenAIServer

from .conftest import make_project, openai_targets

pytest_plugins = ["pytester"]

GOOD = """
name: good
cases:
  - id: hello
    prompt: hello
    checks: [{metric: contains, args: {text: "echo:"}}]
"""

# file name -> (contents, the one line pytest must print). `aa.yaml` (the good suite) sorts
# first, so a duplicate name is blamed on the broken file.
BROKEN: dict[str, tuple[bytes, str]] = {
    "typo.yaml": (
        b"name: typo\ncase:\n  - id: a\n    prompt: p\n",
        "suites/typo.yaml:2:1: unknown key 'case' (did you mean 'cases'?)*",
    ),
    "latin1.yaml": (
        b"name: caf\xe9\ncases:\n  - id: a\n    prompt: p\n",
        "suites/latin1.yaml:1:10: not UTF-8 text*",
    ),
    "dupe.yml": (
        GOOD.replace("hello", "other").encode(),
        "suites/dupe.yml: suite name 'good' is also used by suites/aa.yaml; "
        "give each suite a unique name",
    ),
    "list.yaml": (b"- id: a\n  prompt: p\n", "suites/list.yaml:1:1: a suite must be a mapping*"),
}


def server_project(root: Path, server: FakeOpenAIServer, suites: dict[str, str]) -> None:
    make_project(root, targets=openai_targets(server.base_url), suites=suites)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_suite_beside_a_good_one_fails_the_session_and_calls_no_model(
    pytester: pytest.Pytester, server: FakeOpenAIServer, name: str
) -> None:
    server_project(pytester.path, server, {"aa.yaml": GOOD})
    contents, line = BROKEN[name]
    (pytester.path / "suites" / name).write_bytes(contents)
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # 2: bad input
    result.stdout.fnmatch_lines([line, "*1 error*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    assert server.served(status=None) == 0
    assert not (pytester.path / "reports").exists()


def test_continue_on_collection_errors_still_calls_no_model(
    pytester: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    server_project(pytester.path, server, {"aa.yaml": GOOD})
    (pytester.path / "suites" / "typo.yaml").write_bytes(BROKEN["typo.yaml"][0])
    result = pytester.runpytest(
        "suites/", "-p", "no:cacheprovider", "--continue-on-collection-errors", "-rs"
    )
    assert result.ret != 0
    result.assert_outcomes(skipped=1, failed=1, errors=1)
    why = (
        "not evaluated: 1 file(s) could not be collected (suites/typo.yaml); fix them and run again"
    )
    result.stdout.fnmatch_lines([f"{why}; no model was called", f"SKIPPED*{why}"])
    assert server.served(status=None) == 0


def test_a_broken_test_module_in_the_session_also_blocks_generation(
    pytester: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    server_project(pytester.path, server, {"aa.yaml": GOOD})
    pytester.makepyfile(test_broken="def test_x(:\n")
    result = pytester.runpytest("suites/", "test_broken.py", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert server.served(status=None) == 0


def test_a_flow_style_suite_is_collected_and_run(
    pytester: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    flow = '{name: flow, cases: [{id: hi, prompt: hi, checks: [{metric: contains, args: {text: "echo: hi"}}]}]}\n'  # noqa: E501
    server_project(pytester.path, server, {"aa.yaml": GOOD, "flow.yaml": flow})
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider", "-v")
    result.stdout.fnmatch_lines(
        ["suites/flow.yaml::hi PASSED*", "suites/flow.yaml::gate[[]min_pass_rate] PASSED*"]
    )
    result.assert_outcomes(passed=4)
    assert server.served() == 4  # base and candidate, two cases


def test_yml_and_nested_suites_are_collected_but_tunegate_yaml_is_not(
    pytester: pytest.Pytester, server: FakeOpenAIServer
) -> None:
    server_project(
        pytester.path,
        server,
        {"aa.yaml": GOOD, "more/b.yml": GOOD.replace("name: good", "name: b")},
    )
    (pytester.path / "suites" / "tunegate.yaml").write_text("targets: {}\n")
    result = pytester.runpytest("suites/", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["suites/aa.yaml::hello", "suites/more/b.yml::hello"])
    result.stdout.no_fnmatch_line("*tunegate.yaml*")
    assert result.ret == 0
