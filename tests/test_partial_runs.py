"""Runs over part of the project (pytest -k, --lf, one suite file) say so, everywhere, and
leave `latest` to full runs; run folders that cannot be made are input errors."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tunegate import load_results
from tunegate.cli import main
from tunegate.errors import InputError
from tunegate.execution import Store
from tunegate.results import SCHEMA_VERSION, coverage_line

from .conftest import make_project, write

pytest_plugins = ["pytester"]

REPLAY_TARGETS = """
base: {provider: replay, path: base.jsonl}
cand: {provider: replay, path: cand.jsonl}
"""

SHOP = """
name: shop
gate: {min_pass_rate: 0.5}
cases:
  - id: refund-window
    prompt: How many days to return?
    checks: [{metric: contains, args: {text: "45"}}]
  - id: refund-receipt
    prompt: Lost receipt?
    checks: [{metric: contains, args: {text: credit}}]
  - id: hours
    prompt: When do you open?
    checks: [{metric: contains, args: {text: am}}]
"""

VOICE = """
name: voice
cases:
  - id: greeting
    prompt: Hi
    checks: [{metric: contains, args: {text: hello}}]
"""

OUTPUTS = {
    "refund-window": "45 days",
    "refund-receipt": "store credit",
    "hours": "9am",
    "greeting": "hello there",
}


def shop_project(root: Path) -> Path:
    for name in ("base", "cand"):
        lines = [json.dumps({"case_id": k, "output": v}) for k, v in OUTPUTS.items()]
        write(root / f"{name}.jsonl", "\n".join(lines) + "\n")
    return make_project(
        root, targets=REPLAY_TARGETS, suites={"shop.yaml": SHOP, "voice.yaml": VOICE}
    )


def test_pytest_selection_is_marked_partial_everywhere(pytester: pytest.Pytester) -> None:
    root = shop_project(pytester.path)
    result = pytester.runpytest("suites/", "-k", "refund", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, deselected=4)
    line = "partial run: 2 of 4 cases; the gate covers only these"
    result.stdout.fnmatch_lines(
        [f"{line} (latest-partial, not latest, points at this run)", "gate PASSED; report: *"]
    )
    assert not (root / "reports" / "latest").exists()
    run = (root / "reports" / "latest-partial").resolve()
    results = load_results(run)
    assert results.partial and (results.selected_cases, results.total_cases) == (2, 4)
    assert results.schema_version == SCHEMA_VERSION
    summary = (run / "summary.md").read_text()
    assert summary.startswith("## tunegate: gate PASSED (partial run)\n")
    assert f"**{line}.**" in summary
    html = (run / "report.html").read_text()
    assert 'id="partial"><strong>Partial run: 2 of 4 cases; the gate covers only these.' in html
    assert "Gate passed (partial run)" in html


def test_a_full_run_moves_latest_and_is_not_partial(pytester: pytest.Pytester) -> None:
    root = shop_project(pytester.path)
    pytester.runpytest("suites/", "-k", "refund", "-p", "no:cacheprovider")
    result = pytester.runpytest("suites/", "-p", "no:cacheprovider")
    result.stdout.no_fnmatch_line("*partial run*")
    results = load_results(root / "reports" / "latest")
    assert not results.partial and (results.selected_cases, results.total_cases) == (4, 4)
    assert "partial" not in (root / "reports" / "latest" / "summary.md").read_text()
    partial = load_results(root / "reports" / "latest-partial")
    assert partial.run_id != results.run_id  # still the newest partial run
    with Store(root / "reports" / "tunegate.db") as store:
        runs = {r.run_id: r for r in store.runs()}
    assert runs[partial.run_id].partial and runs[partial.run_id].selected_cases == 2
    assert not runs[results.run_id].partial and runs[results.run_id].total_cases == 4


def test_last_failed_rerun_is_partial(pytester: pytest.Pytester) -> None:
    root = shop_project(pytester.path)
    write(root / "suites" / "shop.yaml", SHOP.replace("0.5", "1.0"))
    lines = [json.dumps({"case_id": k, "output": v}) for k, v in OUTPUTS.items()]
    lines[2] = json.dumps({"case_id": "hours", "output": "closed"})
    write(root / "cand.jsonl", "\n".join(lines) + "\n")
    pytester.runpytest("suites/").assert_outcomes(passed=4, failed=2)  # hours and shop's gate
    result = pytester.runpytest("suites/", "--lf")
    result.assert_outcomes(failed=2)  # voice.yaml is not even collected
    result.stdout.fnmatch_lines(["partial run: 1 of 4 cases; the gate covers only these*"])


def test_cli_run_of_one_suite_file_is_partial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop_project(tmp_path)
    assert main(["run", "suites/voice.yaml", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "partial run: 1 of 4 cases; the gate covers only these" in out
    assert not (tmp_path / "reports" / "latest").exists()
    assert load_results(tmp_path / "reports" / "latest-partial").partial
    assert main(["run", "--no-progress"]) == 0
    assert "partial" not in capsys.readouterr().out
    assert not load_results(tmp_path / "reports" / "latest").partial


def test_an_unloadable_project_suite_makes_the_total_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop_project(tmp_path)
    write(tmp_path / "suites" / "broken.yaml", "name: broken\ncase: []\n")
    assert main(["run", "suites/voice.yaml", "--no-progress"]) == 0
    results = load_results(tmp_path / "reports" / "latest-partial")
    assert results.partial and (results.selected_cases, results.total_cases) == (1, None)
    assert (
        "partial run: 1 case; the project's total is unknown (suites/broken.yaml does not "
        "load); the gate covers only these"
    ) in capsys.readouterr().out
    log = (tmp_path / "reports" / "latest-partial" / "run.log").read_text()
    assert "partial run: 1 case; the project's total is unknown (suites/broken.yaml does " in log


def test_pytest_names_the_project_suite_that_does_not_load(pytester: pytest.Pytester) -> None:
    root = shop_project(pytester.path)
    write(root / "suites" / "broken.yaml", "name: broken\ncase: []\n")
    result = pytester.runpytest("suites/voice.yaml", "-p", "no:cacheprovider")
    assert result.ret == 0  # the selection itself passes, and says what it does not cover
    result.stdout.fnmatch_lines(
        [
            "partial run: 1 case; the project's total is unknown (suites/broken.yaml does not "
            "load); the gate covers only these (latest-partial, not latest, points at this run)"
        ]
    )


@pytest.mark.parametrize(
    ("selected", "total", "unloadable", "line"),
    [
        (1, 4, [], "partial run: 1 of 4 cases; the gate covers only these"),
        (0, 1, [], "partial run: 0 of 1 case; the gate covers only these"),
        (1, None, ["a.yaml"], "partial run: 1 case; the project's total is unknown (a.yaml "),
        (2, None, ["a.yaml", "b.yml"], "partial run: 2 cases; * (a.yaml and b.yml do not load)"),
        (2, None, list("abcde"), "partial run: 2 cases; * (a, b, c and 2 more do not load)"),
        (None, None, [], "partial run: some cases; * (a suite file of the project does not "),
    ],
)
def test_the_partial_line_counts_in_words(
    selected: int | None, total: int | None, unloadable: list[str], line: str
) -> None:
    assert fnmatch.fnmatch(coverage_line(selected, total, unloadable), line + "*")


def test_results_1_0_files_are_still_read(tmp_path: Path) -> None:
    shop_project(tmp_path)
    main(["run", "--no-progress"])
    data = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    for new in ("partial", "selected_cases", "total_cases"):
        del data[new]
    data["schema_version"] = "1.0"
    write(tmp_path / "old" / "results.json", json.dumps(data))
    old = load_results(tmp_path / "old")
    assert old.schema_version == "1.0" and not old.partial and old.total_cases is None
    assert old.coverage is None


def test_a_newer_minor_version_is_read_without_its_new_fields(tmp_path: Path) -> None:
    shop_project(tmp_path)
    main(["run", "--no-progress"])
    data = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    data["schema_version"] = "1.9"
    data["judge_of_the_future"] = {"model": "x"}
    data["records"][0]["judgement"] = "fine"
    data["records"][0]["scores"]["contains"]["explanation"] = "new in 1.9"
    write(tmp_path / "new" / "results.json", json.dumps(data))
    assert len(load_results(tmp_path / "new").records) == 8


def test_a_results_file_of_the_wrong_shape_is_an_input_error(tmp_path: Path) -> None:
    write(tmp_path / "results.json", json.dumps({"schema_version": "1.1", "run_id": 3}))
    with pytest.raises(InputError, match=r"results.json: not a valid tunegate results file"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_bytes(b'{"schema_version": "1.1", "label": "\xe9"}')
    with pytest.raises(InputError, match="not UTF-8"):
        load_results(tmp_path)


# -- run folders that cannot be made -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--out", "afile/runs"], "afile/runs/"),
        (["--out", "/proc/tunegate-cannot"], "/proc/tunegate-cannot/"),
    ],
)
def test_an_out_folder_that_cannot_be_made_is_exit_2(
    tmp_path: Path, args: list[str], shown: str
) -> None:
    shop_project(tmp_path)
    write(tmp_path / "afile", "not a folder\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tunegate", "run", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"tunegate: error: {shown}")
    assert "cannot create this folder" in proc.stderr
    assert "choose a folder you can write to with --out DIR or `out:` in tunegate.yaml" in (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_out_in_the_config_under_a_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop_project(tmp_path)
    (tmp_path / "reports").write_text("a file where the folder should be\n")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "cannot create this folder (reports is a file, not a folder)" in err


def test_a_store_folder_that_cannot_be_made_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop_project(tmp_path)
    (tmp_path / "reports").write_text("a file where the folder should be\n")
    assert main(["run", "--out", "elsewhere"]) == 2
    err = capsys.readouterr().err
    assert "reports: cannot create this folder" in err
    assert "for the store with `out:` (or `store:`) in tunegate.yaml" in err


def test_pytest_names_its_own_out_option(pytester: pytest.Pytester) -> None:
    shop_project(pytester.path)
    (pytester.path / "afile").write_text("x\n")
    result = pytester.runpytest("suites/", "--tunegate-out", "afile/runs")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*with --tunegate-out DIR or `out:` in tunegate.yaml*"])
    result.stdout.no_fnmatch_line("*Traceback*")
