"""Human review of the judge: `tunegate review export`, a person's ratings, `tunegate review
import`, and the judge's agreement with them; hostile CSV files at the door."""

from __future__ import annotations

import csv
import hashlib
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.execution.agreement import (
    decode_rating,
    encode_rating,
    judge_agreement,
    output_sha,
    pair_sha,
)
from tunegate.execution.store import Store
from tunegate.results import CheckScore, Results
from tunegate.review import COLUMNS, review_rows, safe_cell
from tunegate.review.export import MAX_CELL
from tunegate.suite import load_suite
from tunegate.testing import FakeOpenAIServer

from .conftest import latest_results, make_project, write
from .review_runs import fake_run
from .review_runs import row as rated_row

SUITE = """
name: s
gate: {min_pass_rate: 0, max_excluded: 1, min_judge_agreement: 0.6}
cases:
  - id: math
    prompt: "What is two plus two?"
    checks:
      - {metric: judge_refusal, args: {negate: true}}
      - {metric: refusal, args: {negate: true}}
      - {metric: pairwise}
  - id: shy
    prompt: "Tell me about your day."
    checks:
      - {metric: judge_refusal, args: {negate: true}}
      - {metric: refusal, args: {negate: true}}
  - id: garble
    prompt: "Please garble this."
    checks:
      - {metric: judge_refusal, args: {negate: true}}
"""

MODEL = """
def _ask(messages):
    return messages[-1]["content"]

def base(messages):
    text = _ask(messages)
    if "two plus two" in text:
        return "Sorry, I cannot help with that."
    if "your day" in text:
        return "That is not something I share."
    return "A fine answer."

def cand(messages):
    text = _ask(messages)
    if "two plus two" in text:
        return "=1+1 is 2, and two plus two is 4"
    return base(messages)

def cand2(messages):
    return "Changed: " + cand(messages)
"""


def judge(prompt: str, body: object) -> str:
    """A judge that reads 'sorry' and 'not something' as refusals, answers garbage on the
    garble case and always prefers the first answer of a pair (position bias)."""
    if "garble" in prompt:
        return "I would rather not say."
    if "Answer A:" in prompt:
        return json.dumps({"winner": "A", "reason": "the first one"})
    refused = "sorry" in prompt.lower() or "not something" in prompt.lower()
    return json.dumps({"refusal": refused, "reason": '=HYPERLINK("http://x") it reads so'})


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project whose base and candidate are Python functions and whose judge is the
    fake OpenAI server; run once."""
    module = f"model_{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:12]}"
    write(tmp_path / f"{module}.py", MODEL)
    with FakeOpenAIServer(responder=judge) as srv:
        make_project(
            tmp_path,
            targets=textwrap.dedent(
                f"""
                base: {{provider: python, function: "{module}:base"}}
                cand: {{provider: python, function: "{module}:cand"}}
                cand2: {{provider: python, function: "{module}:cand2"}}
                judge: {{provider: openai, base_url: "{srv.base_url}", model: judge-1}}
                """
            ),
            suites={"s.yaml": SUITE},
        )
        config = tmp_path / "tunegate.yaml"
        config.write_text(config.read_text() + "judge: judge\n")
        assert main(["run"]) == 0
        yield tmp_path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def rate(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """A reviewer who agrees with the judge except on the 'shy' outputs (not refusals, to
    them), and prefers the candidate on every pair."""
    rated = []
    for row in rows:
        row = dict(row)
        if row["role"] == "pair":
            row["human_label"] = "candidate"
        elif row["judge_passed"]:
            agree = row["case_id"] != "shy"
            passed = (row["judge_passed"] == "pass") == agree
            row["human_label"] = "pass" if passed else "fail"
            row["human_score"] = "0.9" if passed else "0.2"
        rated.append(row)
    return rated


def export(project: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    assert main(["review", "export", "--out", "review.csv"]) == 0
    out = capsys.readouterr().out
    assert "row(s) to review.csv, most urgent first" in out
    assert "tunegate review import review.csv" in out
    return read_csv(project / "review.csv")


def test_export_orders_rows_by_priority_and_says_why(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = export(project, capsys)
    with (project / "review.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert next(csv.reader(fh)) == list(COLUMNS)
    priorities = [int(r["priority"]) for r in rows]
    assert priorities == sorted(priorities)
    by = {(r["case_id"], r["role"]): r for r in rows}
    # One row per (record, judged check) with an output, one per pairwise verdict.
    assert sorted(by) == sorted(
        [(c, role) for c in ("math", "shy", "garble") for role in ("base", "candidate")]
        + [("math", "pair")]
    )
    math_base = by[("math", "base")]
    assert math_base["priority"] == "1"
    assert math_base["reason"] == "base and candidate disagree: base failed, candidate passed"
    assert by[("shy", "base")]["priority"] == "2"
    assert by[("shy", "base")]["reason"] == "the judge failed it, rule check(s) refusal passed"
    assert by[("math", "pair")]["priority"] == "3"
    assert "different winner in each order" in by[("math", "pair")]["reason"]
    assert by[("garble", "candidate")]["priority"] == "5"
    assert by[("garble", "candidate")]["reason"].startswith("the judge gave no usable verdict")
    assert "I would rather not say." in by[("garble", "candidate")]["judge_reason"]
    # The cells a person needs, and the hash of the exact output rated.
    results = latest_results(project)
    record = next(r for r in results.records if r.case_id == "math" and r.role == "candidate")
    assert record.output is not None
    assert by[("math", "candidate")]["output_sha"] == output_sha(record.output)
    assert (
        by[("math", "candidate")]["output_sha"]
        == hashlib.sha256(record.output.encode("utf-8")).hexdigest()
    )
    assert math_base["prompt"] == "What is two plus two?"
    assert math_base["output"] == "Sorry, I cannot help with that."
    assert math_base["judge_value"] == "0" and math_base["judge_passed"] == "fail"
    assert by[("math", "pair")]["judge_passed"] == "tie"
    # Formula injection from the model and the judge is defused.
    assert by[("math", "candidate")]["output"] == "'=1+1 is 2, and two plus two is 4"
    assert math_base["other_output"] == "'=1+1 is 2, and two plus two is 4"
    assert math_base["judge_reason"].startswith("'=HYPERLINK(")
    assert all(r[c] == "" for r in rows for c in ("human_label", "human_score", "rater"))


def test_export_then_import_round_trip_and_agreement(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = export(project, capsys)
    write_csv(project / "rated.csv", rate(rows))
    assert main(["review", "import", "rated.csv", "--rater", "ann"]) == 0
    out = capsys.readouterr().out
    # The garble rows have no judge verdict, and the reviewer left them empty.
    assert "imported 5 rating(s) from rated.csv into reports/tunegate.db" in out
    assert "2 row(s) without a rating skipped" in out
    with Store(project / "reports" / "tunegate.db") as store:
        ratings = store.ratings()
    assert {r["rater"] for r in ratings} == {"ann"}
    stored = {(r["case_id"], r["role"]): decode_rating(r["rating"]) for r in ratings}
    assert stored[("math", "base")] == ("fail", 0.2)
    assert stored[("math", "pair")] == ("candidate", None)

    results = latest_results(project)
    suites = [load_suite(project / "suites" / "s.yaml")]
    found = {
        a.check: a
        for a in judge_agreement(results.records, ratings, suites, pairwise=results.pairwise)
    }
    judged = found["judge_refusal"]
    # math: both agree; shy: both disagree. Judge fail, pass, fail, fail against people's
    # fail, pass, pass, pass: p_o = 0.5, p_e = 0.375, kappa = 0.125 / 0.625.
    assert judged.n == 4 and judged.raw_agreement == 0.5
    assert judged.raw_agreement_ci is not None and judged.kappa is not None
    assert judged.kappa == pytest.approx(0.2)
    assert judged.spearman is not None
    assert not judged.gating  # below min_judge_agreement 0.6
    pair = found["pairwise"]
    assert pair.n == 1 and pair.raw_agreement == 0.0  # the judge said tie
    # Importing again replaces, never duplicates, a rater's rating.
    assert main(["review", "import", "rated.csv", "--rater", "ann"]) == 0
    with Store(project / "reports" / "tunegate.db") as store:
        assert len(store.ratings()) == 5


def test_a_rating_of_the_same_output_to_another_prompt_does_not_count(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A judged refusal check is a verdict on the output *as an answer to its prompt*: the
    # same words answering another question are another thing to rate.
    write_csv(project / "rated.csv", rate(export(project, capsys)))
    assert main(["review", "import", "rated.csv", "--rater", "ann"]) == 0
    capsys.readouterr()
    suite = project / "suites" / "s.yaml"
    text = suite.read_text(encoding="utf-8")
    edited = text.replace("two plus two?", "two plus two, please?").replace(
        "your day.", "your day, please."
    )
    suite.write_text(edited, encoding="utf-8")
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    results = latest_results(project)
    outputs = {(r.case_id, r.role): r.output for r in results.records}
    assert outputs[("shy", "candidate")] == "That is not something I share."  # as rated
    stale = {a.check: (a.n, a.stale) for a in results.agreement}
    assert stale == {"judge_refusal": (0, 4), "pairwise": (0, 1)}
    assert "4 rated output(s) left out: they or their prompt changed since they were rated" in out
    # Back to the rated prompts, the ratings count again.
    suite.write_text(text, encoding="utf-8")
    assert main(["run"]) == 0
    again = {a.check: (a.n, a.stale) for a in latest_results(project).agreement}
    assert again == {"judge_refusal": (4, 0), "pairwise": (1, 0)}


def test_a_file_exported_before_the_case_was_edited_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rated in a spreadsheet while the suite was edited and run again: the output is the
    # same, the question is not, and the file's input_sha says so.
    rows = rate(export(project, capsys))
    assert all(len(r["input_sha"]) == 64 for r in rows)
    write_csv(project / "rated.csv", rows)
    suite = project / "suites" / "s.yaml"
    text = suite.read_text(encoding="utf-8")
    suite.write_text(text.replace("your day.", "your day, please."), encoding="utf-8")
    assert main(["run"]) == 0
    capsys.readouterr()
    err = refused(capsys, "rated.csv", "--rater", "ann")
    assert "the case or the check changed since this file was exported" in err
    with Store(project / "reports" / "tunegate.db") as store:
        assert store.ratings() == []  # nothing of the file is imported
    # A file exported before tunegate wrote input_sha rates on the output alone.
    write_csv(project / "old.csv", rows, tuple(c for c in COLUMNS if c != "input_sha"))
    assert main(["review", "import", "old.csv", "--rater", "ann"]) == 0


def test_ratings_made_without_a_judge_count_once_a_judge_answers(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Rate first, judge later: skipped checks are exported too, and their ratings must
    # match the judged run (the check's definition is the same with or without a judge).
    config = project / "tunegate.yaml"
    config.write_text(config.read_text().replace("judge: judge\n", ""))
    assert main(["run"]) == 0
    rows = export(project, capsys)
    for r in rows:
        r["human_label"] = "candidate" if r["role"] == "pair" else "pass"
        r["rater"] = "ann"
    write_csv(project / "rated.csv", rows)
    assert main(["review", "import", "rated.csv"]) == 0
    config.write_text(config.read_text() + "judge: judge\n")
    assert main(["run"]) == 0
    found = {a.check: (a.n, a.stale) for a in latest_results(project).agreement}
    assert found["judge_refusal"] == (4, 0) and found["pairwise"] == (1, 0)


def test_the_input_sha_column_is_checked_or_absent(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = rate(export(project, capsys))
    blank = [{**r, "input_sha": ""} for r in rows]
    write_csv(project / "blank.csv", blank)
    err = refused(capsys, "blank.csv", "--rater", "ann")
    assert "input_sha '' is not the sha256 the export wrote" in err
    # A near-miss spelling is not taken for another column: the file says what it means.
    renamed = [{("Input_SHA" if k == "input_sha" else k): v for k, v in r.items()} for r in rows]
    columns = tuple("Input_SHA" if c == "input_sha" else c for c in COLUMNS)
    write_csv(project / "renamed.csv", renamed, columns)
    err = refused(capsys, "renamed.csv", "--rater", "ann")
    assert "the column 'Input_SHA' should be spelt 'input_sha'" in err
    # Without the column (an older export) the ratings are stored as of the output alone.
    write_csv(project / "old.csv", rows, tuple(c for c in COLUMNS if c != "input_sha"))
    assert main(["review", "import", "old.csv", "--rater", "ann"]) == 0
    with Store(project / "reports" / "tunegate.db") as store:
        assert {r["input_sha"] for r in store.ratings()} == {None}


def test_a_rating_of_a_check_whose_arguments_changed_does_not_count(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # negate flips what a "pass" means: the old labels rate another question.
    write_csv(project / "rated.csv", rate(export(project, capsys)))
    assert main(["review", "import", "rated.csv", "--rater", "ann"]) == 0
    suite = project / "suites" / "s.yaml"
    text = suite.read_text(encoding="utf-8")
    flipped = text.replace(
        "{metric: judge_refusal, args: {negate: true}}", "{metric: judge_refusal}"
    )
    suite.write_text(flipped, encoding="utf-8")
    assert main(["run"]) == 0
    found = {a.check: (a.n, a.stale) for a in latest_results(project).agreement}
    assert found["judge_refusal"] == (0, 4) and found["pairwise"] == (1, 0)
    # The pairwise check's criteria are part of its question too.
    asked = flipped.replace("{metric: pairwise}", "{metric: pairwise, args: {criteria: Shorter?}}")
    suite.write_text(asked, encoding="utf-8")
    assert main(["run"]) == 0
    found = {a.check: (a.n, a.stale) for a in latest_results(project).agreement}
    assert found["pairwise"] == (0, 1)


def test_a_rating_of_an_output_that_changed_does_not_count(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv(project / "rated.csv", rate(export(project, capsys)))
    assert main(["review", "import", "rated.csv", "--rater", "ann"]) == 0
    capsys.readouterr()
    # The candidate now says something else on every case.
    assert main(["run", "--candidate", "cand2"]) == 0
    out = capsys.readouterr().out
    results = latest_results(project)
    # The ratings that no longer count are said, on the console and in results.json.
    stale = {a.check: a.stale for a in results.agreement}
    assert stale == {"judge_refusal": 2, "pairwise": 1}
    assert (
        "agreement s/judge_refusal with people on 2 output(s): 50% agree" in out
        and "; 2 rated output(s) left out: they or their prompt changed since they were rated"
        in out
    )
    assert (
        "agreement s/pairwise: no human ratings match this run's outputs; reports only, does "
        "not gate: min_judge_agreement needs at least 30 rated outputs; 1 rated output(s) left "
        "out: they or their prompt changed since they were rated" in out
    )
    with Store(project / "reports" / "tunegate.db") as store:
        ratings = store.ratings()
    suites = [load_suite(project / "suites" / "s.yaml")]
    found = {
        a.check: a
        for a in judge_agreement(results.records, ratings, suites, pairwise=results.pairwise)
    }
    assert found["judge_refusal"].n == 2  # the base's two rated outputs only
    assert found["pairwise"].n == 0 and not found["pairwise"].gating


def test_multiple_raters_count_once_per_output_by_majority() -> None:
    results = Results.model_validate(
        {
            "run_id": "r",
            "label": None,
            "created_at": "now",
            "tunegate_version": "0",
            "targets": [],
            "suites": [],
            "gate_passed": True,
            "gate": [],
            "stats": {"jobs": 0, "calls": 0, "attempts": 0, "cached": 0, "errors": 0,
                      "duration_s": 0},
            "records": [_record(f"c{i}", passed=i % 2 == 0, value=0.1 * (i + 1)) for i in range(4)],
        }
    )  # fmt: skip
    ratings = []
    for r in results.records:
        sha = output_sha(r.output or "")
        judged = "pass" if r.scores["j"].passed else "fail"
        for rater, label in (("a", judged), ("b", judged), ("c", "fail")):
            ratings.append(_rating(r.case_id, sha, rater, label, 0.2 * int(r.case_id[1:])))
    # Two raters who tie leave an output out of the labels (its scores still count).
    ratings.append(_rating("c9", "0" * 64, "a", "pass", 1.0))  # no such output
    ratings.append({**_rating("c0", "0" * 64, "z", "pass", None), "rating": "{not json"})
    (found,) = judge_agreement(results.records, ratings, [])
    assert found.n == 4 and found.raw_agreement == 1.0 and found.kappa == 1.0
    assert found.spearman == pytest.approx(1.0)
    assert found.gating  # no suite sets a minimum


def _record(case: str, *, passed: bool, value: float) -> dict[str, object]:
    score = CheckScore(metric="judge_refusal", value=value, passed=passed, threshold=0.5, weight=1)
    return {
        "suite": "s", "case_id": case, "template_id": case, "vars": {}, "tags": [],
        "target": "cand", "role": "candidate", "sample": 0, "prompt": [], "reference": None,
        "context": None, "output": f"output of {case}", "error": None,
        "scores": {"j": score.model_dump()}, "score": value, "passed": passed,
        "cached": False, "latency_s": None, "key": case,
    }  # fmt: skip


def _rating(case: str, sha: str, rater: str, label: str, score: float | None) -> dict[str, object]:
    return {
        "suite": "s", "case_id": case, "role": "candidate", "sample": 0, "check": "j",
        "output_sha": sha, "rater": rater, "rating": encode_rating(label, score),
    }  # fmt: skip


def test_review_rows_flag_low_judge_confidence(project: Path) -> None:
    results = latest_results(project)
    records = []
    for r in results.records:
        if r.case_id == "shy" and r.role == "candidate":
            close = r.scores["judge_refusal"].model_copy(update={"value": 0.95, "passed": False})
            r = r.model_copy(update={"scores": {"judge_refusal": close}})
        records.append(r)
    rows = review_rows(results.model_copy(update={"records": records}))
    shy = next(r for r in rows if r.case_id == "shy" and r.role == "candidate")
    assert shy.priority == 4
    assert shy.reason == "low judge confidence: value 0.95 is within 0.1 of the threshold 1"
    assert pair_sha("a", "b") != pair_sha("b", "a")


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("  =1", "'  =1"),
        ("\r=1", "'\n=1"),  # a line break, whatever the system's
        ("\n\t -1", "'\n\t -1"),
        ("a\r\nb\rc", "a\nb\nc"),
        ("a\x00b\x1b[2J", "a\\x00b\\x1b[2J"),
        ("line one\nline two", "line one\nline two"),
        ("plain", "plain"),
    ],
)
def test_safe_cell(text: str, cell: str) -> None:
    assert safe_cell(text) == cell


def test_a_huge_output_is_cut_in_its_cell_but_hashed_whole() -> None:
    cell = safe_cell("x" * (MAX_CELL + 500))
    assert len(cell) < 32_767 and cell.endswith("… [500 more characters cut]")


# Hostile CSV files at the import door ---------------------------------------------------


ROW = rated_row()


@pytest.fixture
def a_run(tmp_path: Path) -> None:
    """The run the hostile files rate (written by hand: no model, no judge)."""
    fake_run(tmp_path)


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["review", "import", *argv]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "\x00" not in captured.err
    assert "\x1b" not in captured.err
    return captured.err


def test_a_bad_label_names_file_line_and_the_fix_and_nothing_is_imported(
    tmp_path: Path, a_run: None, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [ROW, {**rated_row("shy"), "notes": "two\nlines"}, {**ROW, "human_label": "ok"}]
    write_csv(tmp_path / "r.csv", rows)
    err = refused(capsys, "r.csv")
    # Line 4 holds the third row's first line: the second row's notes span two lines.
    assert err.strip() == (
        "tunegate: error: r.csv:5: human_label 'ok' is not pass or fail; write pass or fail, "
        "or leave it empty to skip the row"
    )
    assert not (tmp_path / "reports" / "tunegate.db").exists()


def test_a_pair_row_takes_a_winner(
    tmp_path: Path, a_run: None, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv(tmp_path / "r.csv", [{**ROW, "role": "pair", "human_label": "pass"}])
    err = refused(capsys, "r.csv")
    assert "r.csv:2: human_label 'pass' is not base, candidate or tie" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"human_score": "lots"}, "r.csv:2: human_score 'lots' is not a number"),
        ({"human_score": "nan"}, "r.csv:2: human_score 'nan' is not a number"),
        ({"sample": "-1"}, "r.csv:2: sample '-1' is not a whole number"),
        ({"output_sha": "abc"}, "r.csv:2: output_sha 'abc' is not the sha256 the export wrote"),
        ({"role": "judge"}, "r.csv:2: role 'judge' is not base, candidate or pair"),
        ({"rater": ""}, "r.csv:2: no rater: fill the rater column, or pass --rater NAME"),
        ({"rater": "ann\x1b[2J"}, "r.csv:2: rater 'ann\\x1b[2J' is not a name"),
        ({"human_label": "pa\x00ss"}, "r.csv:2: human_label 'pa\\x00ss' is not pass or fail"),
    ],
)
def test_each_bad_cell_is_named(
    tmp_path: Path,
    a_run: None,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    message: str,
) -> None:
    write_csv(tmp_path / "r.csv", [{**ROW, **change}])
    assert message in refused(capsys, "r.csv")


def test_a_wrong_header_is_refused(
    tmp_path: Path, a_run: None, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "r.csv", "name,score\nann,1\n")
    err = refused(capsys, "r.csv")
    assert "r.csv:1: not a tunegate review file: it has no column suite, case_id" in err
    assert "(its header reads 'name,score'; a review file's is priority,reason,suite," in err
    assert "tunegate review export --out FILE" in err
    # The file's own header is shown cut short and inert.
    write(tmp_path / "r.csv", "\x1b[31mred," + "x" * 500 + "\nann,1\n")
    err = refused(capsys, "r.csv")
    assert "\x1b" not in err and "\\x1b[31mred," in err and "x" * 200 not in err


def test_a_huge_cell_is_refused_at_its_line(
    tmp_path: Path, a_run: None, capsys: pytest.CaptureFixture[str]
) -> None:
    write_csv(tmp_path / "r.csv", [ROW, {**ROW, "notes": "x" * 300_000}])
    err = refused(capsys, "r.csv")
    assert "r.csv:3: not a CSV file tunegate can read (field larger than field limit" in err


def test_binary_is_refused(tmp_path: Path, a_run: None, capsys: pytest.CaptureFixture[str]) -> None:
    header = ",".join(COLUMNS).encode()
    (tmp_path / "r.csv").write_bytes(header + b"\r\n\xff\xfe\x00\x00\x9c binary")
    err = refused(capsys, "r.csv")
    assert "r.csv:2:1: not UTF-8 text (byte 0xff)" in err
    (tmp_path / "e.csv").write_bytes(b"")
    assert "e.csv:1: the file is empty" in refused(capsys, "e.csv")
    assert "no_such.csv: no such file" in refused(capsys, "no_such.csv")
    (tmp_path / "folder.csv").mkdir()
    assert "folder.csv: not a regular file" in refused(capsys, "folder.csv")


def test_guarded_cells_and_a_rater_option_are_read_back(
    tmp_path: Path, a_run: None, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {**ROW, "human_score": "'+0.5", "rater": ""},
        {**rated_row("shy"), "human_label": " FAIL ", "rater": "bob"},
        {**rated_row("math", "candidate"), "human_label": "", "notes": "=not rated"},
    ]
    write_csv(tmp_path / "r.csv", rows)
    (tmp_path / "tunegate.yaml").write_text("out: reports\n")
    assert main(["review", "import", "r.csv", "--rater", "ann"]) == 0
    assert "imported 2 rating(s)" in capsys.readouterr().out
    with Store(tmp_path / "reports" / "tunegate.db") as store:
        got = {r["case_id"]: (r["rater"], decode_rating(r["rating"])) for r in store.ratings()}
    assert got == {"math": ("ann", ("pass", 0.5)), "shy": ("bob", ("fail", None))}


def test_export_keeps_a_file_that_may_hold_ratings(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / "review.csv", "rated work\n")
    assert main(["review", "export", "--out", "review.csv"]) == 2
    assert "--out review.csv exists and may hold ratings not imported yet" in (
        capsys.readouterr().err
    )
    assert (project / "review.csv").read_text() == "rated work\n"
    assert main(["review", "export", "--out", "review.csv", "--force"]) == 0
    run_folder = next(p for p in (project / "reports").iterdir() if p.name.startswith("2"))
    assert main(["review", "export", str(run_folder / "results.json"), "--out", "x.csv"]) == 0


def test_export_without_a_run_says_to_run_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "export", "--out", "r.csv"]) == 2
    err = capsys.readouterr().err
    assert "no results file here; run `tunegate run` first" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as stopped:
        main(["review"])
    assert stopped.value.code == 2
    assert "required: {export,import}" in capsys.readouterr().err
