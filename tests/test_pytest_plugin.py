"""The pytest plugin, through real pytest sessions (pytester)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate import load_results

pytest_plugins = ["pytester"]

SUITE = """
name: shop
gate: {{min_pass_rate: {rate}}}
cases:
  - id: refund-window
    prompt: How many days to return?
    reference: "45"
    tags: [refunds]
    checks:
      - metric: contains
  - id: refund-receipt
    prompt: Lost receipt?
    reference: store credit
    tags: [refunds]
    checks:
      - metric: contains
  - id: hours
    prompt: "When do you open on {{day}}?"
    vars: {{day: [Monday, Sunday]}}
    checks:
      - metric: regex
        args: {{pattern: "\\\\d+ ?am"}}
"""

BASE = {
    "refund-window": "45 days",
    "refund-receipt": "For store credit.",
    "hours[monday]": "9am",
    "hours[sunday]": "10am",
}
CAND = {
    "refund-window": "Returns take 45 days.",
    "refund-receipt": "Sorry, no returns without a receipt.",  # regressed
    "hours[monday]": "We open at 9am.",
    "hours[sunday]": "We open at 10am.",
}


def project(pytester: pytest.Pytester, rate: float = 0.5) -> None:
    pytester.makefile(
        ".yaml",
        tunegate="""
suites: [suites]
base: base
candidate: cand
targets:
  base: {provider: replay, path: base.jsonl}
  cand: {provider: replay, path: cand.jsonl}
""",
    )
    for name, outputs in (("base", BASE), ("cand", CAND)):
        lines = [json.dumps({"case_id": k, "output": v}) for k, v in outputs.items()]
        (pytester.path / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "shop.yaml").write_text(SUITE.format(rate=rate))


def test_one_item_per_case_with_readable_ids(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = pytester.runpytest("suites/", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "suites/shop.yaml::refund-window",
            "suites/shop.yaml::refund-receipt",
            "suites/shop.yaml::hours[monday]",
            "suites/shop.yaml::hours[sunday]",
            "suites/shop.yaml::gate[min_pass_rate]",
        ]
    )
    assert not (pytester.path / "reports").exists(), "collect-only must not run models"


def test_tolerated_failure_is_xfail_when_the_gate_passes(pytester: pytest.Pytester) -> None:
    project(pytester, rate=0.75)
    result = pytester.runpytest("suites/", "-rx")
    result.assert_outcomes(passed=4, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*1 case(s) regressed from base to candidate:*",
            "*shop::refund-receipt  failing contains*",
            "gate shop min_pass_rate: PASSED: candidate pass rate 75% over 4 case(s); the "
            "suite requires 75%",
            "*gate PASSED; report: reports/*/report.html*",
            "XFAIL suites/shop.yaml::refund-receipt - regressed; tolerated because candidate "
            "pass rate 75% over 4 case(s); the suite requires 75%",
        ]
    )
    results = load_results(pytester.path / "reports" / "latest")
    assert results.gate_passed and len(results.records) == 8


def test_failing_gate_fails_cases_with_the_whole_story(pytester: pytest.Pytester) -> None:
    project(pytester, rate=1.0)
    result = pytester.runpytest("suites/")
    assert result.ret == 1
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ shop::refund-receipt _*",
            "regressed: candidate fails contains",
            "at suites/shop.yaml:11:5",
            "prompt:    Lost receipt?",
            "reference: store credit",
            "base (base) -> pass",
            "    | For store credit.",
            "candidate (cand) -> FAIL contains: missing ['store credit']",
            "    | Sorry, no returns without a receipt.",
            "*_ shop::gate[[]min_pass_rate] _*",
            "shop min_pass_rate: FAILED: candidate pass rate 75% over 4 case(s); the suite "
            "requires 100%",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_k_and_tag_markers_select_cases(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = pytester.runpytest("suites/", "-k", "refund", "-p", "no:cacheprovider")
    # Selected: both refund cases; 1 of 2 passes, which meets the 50% gate.
    result.assert_outcomes(passed=1, xfailed=1, deselected=3)
    result = pytester.runpytest("suites/", "-m", "refunds")
    outcomes = result.parseoutcomes()
    assert outcomes.get("deselected") == 3  # two hours cases and the gate item


def test_selecting_only_gate_items_evaluates_their_whole_suites(
    pytester: pytest.Pytester,
) -> None:
    # A gate needs its cases: `-k gate` must give the gate's verdict, not a skip that passes.
    project(pytester, rate=1.0)
    result = pytester.runpytest("suites/", "-k", "gate", "-p", "no:cacheprovider")
    assert result.ret == 1
    result.assert_outcomes(failed=1, deselected=4)
    result.stdout.fnmatch_lines(
        ["shop min_pass_rate: FAILED: candidate pass rate 75% over 4 case(s); the suite *"]
    )
    results = load_results(pytester.path / "reports" / "latest")
    assert not results.partial and len(results.records) == 8
    (pytester.path / "suites" / "shop.yaml").write_text(SUITE.format(rate=0.5))
    pytester.runpytest("suites/", "-k", "gate").assert_outcomes(passed=1, deselected=4)


def test_a_gate_with_some_cases_selected_judges_only_those(pytester: pytest.Pytester) -> None:
    project(pytester, rate=1.0)
    result = pytester.runpytest("suites/", "-k", "hours or gate", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, deselected=2)  # both hours cases pass: 100% of 2
    result.stdout.fnmatch_lines(["partial run: 2 of 4 cases; the gate covers only these*"])


def test_second_session_is_served_from_the_store(pytester: pytest.Pytester) -> None:
    project(pytester)
    pytester.runpytest("suites/")
    result = pytester.runpytest("suites/")
    result.stdout.fnmatch_lines(["*0 model calls, 8 from the store, 0 errors*"])


def test_bad_suite_is_a_clear_collection_error(pytester: pytest.Pytester) -> None:
    project(pytester)
    (pytester.path / "suites" / "shop.yaml").write_text(
        "name: shop\ncases:\n  - id: a\n    prompt: p\n    refrence: x\n"
    )
    result = pytester.runpytest("suites/")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # 2, as for any bad input
    result.stdout.fnmatch_lines(
        ["suites/shop.yaml:5:5: unknown key 'refrence' (did you mean 'reference'?)*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_unknown_target_stops_the_session_with_exit_2(pytester: pytest.Pytester) -> None:
    project(pytester)
    result = pytester.runpytest("suites/", "--tunegate-candidate", "candidat")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*no target named 'candidat' (did you mean 'cand'?)*"])


def test_plugin_ignores_yaml_outside_the_suites_folder(pytester: pytest.Pytester) -> None:
    project(pytester)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "fixture.yaml").write_text("name: x\ncases: [oops]\n")
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest("test_plain.py", "tests/")
    result.assert_outcomes(passed=1)


def test_same_outputs_as_the_cli(pytester: pytest.Pytester) -> None:
    project(pytester)
    pytester.runpytest("suites/", "--tunegate-label", "from-pytest")
    run_dir = (pytester.path / "reports" / "latest").resolve()
    assert {p.name for p in run_dir.iterdir()} >= {
        "results.json",
        "report.html",
        "summary.md",
        "run.log",
    }
    assert load_results(run_dir).label == "from-pytest"


def test_subprocess_session_exit_code_follows_the_gate(pytester: pytest.Pytester) -> None:
    project(pytester, rate=1.0)
    assert pytester.runpytest_subprocess("suites/").ret == 1
    project_path = Path(pytester.path)
    (project_path / "suites" / "shop.yaml").write_text(SUITE.format(rate=0.5))
    assert pytester.runpytest_subprocess("suites/").ret == 0


def test_missing_candidate_names_the_pytest_option(pytester: pytest.Pytester) -> None:
    project(pytester)
    config = (pytester.path / "tunegate.yaml").read_text().replace("candidate: cand\n", "")
    (pytester.path / "tunegate.yaml").write_text(config)
    result = pytester.runpytest("suites/")
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        ["tunegate: error: no candidate target: pass --tunegate-candidate NAME or set *"]
    )
    result.stdout.no_fnmatch_line("*pass --candidate*")
    assert not (pytester.path / "reports").exists()


def test_a_failure_story_shows_outputs_as_text_blocks(pytester: pytest.Pytester) -> None:
    # A real newline and a written backslash-n used to look alike ('a\\nb' in both).
    project(pytester, rate=1.0)
    outputs = {
        "base": {**BASE, "refund-receipt": "Store credit:\nask at the desk."},
        "cand": {**CAND, "refund-receipt": "No credit:\\nsorry \x1b[2J" + "x" * 3000},
    }
    for name, by_case in outputs.items():
        lines = [json.dumps({"case_id": k, "output": v}) for k, v in by_case.items()]
        (pytester.path / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "base (base) -> pass",
            "    | Store credit:",
            "    | ask at the desk.",
            "candidate (cand) -> FAIL contains: missing ['store credit']",
            "    | No credit:\\nsorry \\x1b[[]2Jxxx*x",
            "    … 1522 more character(s); the report shows the whole output",
        ]
    )
    assert "\x1b" not in result.stdout.str()


def test_run_warnings_reach_the_summary(pytester: pytest.Pytester) -> None:
    project(pytester)
    (pytester.path / "reports").mkdir()
    (pytester.path / "reports" / "latest").write_text("my notes\n")
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["tunegate: warning: reports/latest is a file, not the link tunegate keeps there*"]
    )


@pytest.mark.parametrize("selection", [["-k", "not gate"], ["-m", "refunds"]])
def test_deselecting_the_gate_items_keeps_the_gates_exit_status(
    pytester: pytest.Pytester, selection: list[str]
) -> None:
    # 12 cases that pass on both sides: every case item passes, but 12 cases cannot rule
    # out a 5-point drop, so the gate is inconclusive. With the gate item deselected the
    # session must still exit 1.
    cases = [f"c{i}" for i in range(12)]
    pytester.makefile(
        ".yaml",
        tunegate="base: base\ncandidate: cand\ntargets:\n"
        "  base: {provider: replay, path: out.jsonl}\n"
        "  cand: {provider: replay, path: out.jsonl}\n",
    )
    pytester.path.joinpath("out.jsonl").write_text(
        "".join(json.dumps({"case_id": f"ask[{c}]", "output": "ok"}) + "\n" for c in cases)
    )
    pytester.mkdir("suites")
    pytester.path.joinpath("suites", "s.yaml").write_text(
        "name: s\ngate: {no_regression: {margin: 0.05}}\ncases:\n"
        f"  - {{id: ask, prompt: '{{x}}', tags: [refunds], vars: {{x: {cases}}},\n"
        "     checks: [{metric: contains, args: {text: ok}}]}\n"
    )
    result = pytester.runpytest("suites/", *selection, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=12, deselected=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*gate INCONCLUSIVE*"])


def test_a_target_that_produced_nothing_exits_3_under_pytest(pytester: pytest.Pytester) -> None:
    # The base's replay file has none of the cases: every base generation fails. Even with
    # a tolerated inconclusive gate, there is no verdict.
    pytester.makefile(
        ".yaml",
        tunegate="base: base\ncandidate: cand\ntargets:\n"
        "  base: {provider: replay, path: base.jsonl}\n"
        "  cand: {provider: replay, path: cand.jsonl}\n",
    )
    pytester.path.joinpath("base.jsonl").write_text('{"case_id": "other", "output": "ok"}\n')
    pytester.path.joinpath("cand.jsonl").write_text('{"case_id": "a", "output": "ok"}\n')
    pytester.mkdir("suites")
    pytester.path.joinpath("suites", "s.yaml").write_text(
        "name: s\ngate: {no_regression: {margin: 0.05}, on_inconclusive: warn}\n"
        "cases: [{id: a, prompt: p, checks: [{metric: contains, args: {text: ok}}]}]\n"
    )
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    assert result.ret == 3
    result.stdout.fnmatch_lines(["*tunegate: error: every generation of base failed*"])
