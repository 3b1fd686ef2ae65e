"""`tunegate review import` against the run it rates: ratings that match no output,
conflicting duplicates, scores out of the check's range, the real line of a byte that is
not UTF-8, and memory that stays bounded on a huge or hostile file."""

from __future__ import annotations

import codecs
import tracemalloc
from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.execution.agreement import decode_rating, output_sha
from tunegate.execution.store import Store
from tunegate.results import CheckScore
from tunegate.review import COLUMNS, read_ratings, review_rows
from tunegate.review.importing import MAX_RECORD, rateable_outputs

from .review_runs import OUTPUTS, fake_run, judged_record, results_of, row, write_rows

STORE = Path("reports") / "tunegate.db"


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one-line error of an import that must fail with exit 2, nothing stored."""
    assert main(["review", "import", *argv]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tunegate: error: ")
    assert not STORE.exists() or not Store(STORE).ratings()
    return lines[0].removeprefix("tunegate: error: ")


def imported(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["review", "import", *argv]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def stored() -> dict[tuple[str, str, str], tuple[str | None, float | None] | None]:
    with Store(STORE) as store:
        return {
            (r["case_id"], r["role"], r["rater"]): decode_rating(r["rating"])
            for r in store.ratings()
        }


# 1a: a rating must name an output of the run --------------------------------------------


@pytest.mark.parametrize(
    ("cells", "what"),
    [
        ({"case_id": "nope"}, "case_id 'nope'"),
        ({"check": "judge_refusals"}, "check 'judge_refusals'"),
        ({"sample": "1"}, "sample 1"),
        ({"role": "candidate", "case_id": "garble"}, "case_id 'garble'"),
        ({"suite": "t"}, "suite 't'"),
    ],
)
def test_a_rating_of_no_output_of_the_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cells: dict[str, str], what: str
) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(), row(**cells)])
    err = refused(capsys, "r.csv")
    assert err.startswith("r.csv:3: no judged output of the run reports/latest matches this row")
    assert what in err
    assert "do not edit the columns before human_label" in err
    assert "--run" in err


def test_an_edited_output_sha_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(output_sha="b" * 64)])
    err = refused(capsys, "r.csv")
    assert err.startswith(
        "r.csv:2: output_sha is not the sha256 of that output in the run reports/latest"
    )
    assert "pass --run with the run folder the file was exported from" in err


def test_a_rule_check_is_not_a_rating_of_the_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(check="refusal")])
    assert "r.csv:2: no judged output of the run" in refused(capsys, "r.csv")


def test_without_a_run_nothing_is_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rows(tmp_path / "r.csv", [row()])
    err = refused(capsys, "r.csv")
    assert "cannot check r.csv against a run" in err and "--run" in err


def test_the_run_may_be_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_run(tmp_path, folder="older")
    fake_run(tmp_path, {**OUTPUTS, ("math", "base"): "changed since"})
    write_rows(tmp_path / "r.csv", [row()])
    assert "output_sha is not the sha256" in refused(capsys, "r.csv")
    out = imported(capsys, "r.csv", "--run", "reports/older")
    assert "imported 1 rating(s) from r.csv into reports/tunegate.db" in out
    assert "checked against the run reports/older" in out


def test_pair_rows_and_every_output_of_the_run_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    rows = [row(c, r) for c, r in OUTPUTS] + [row("math", "pair")]
    write_rows(tmp_path / "r.csv", rows)
    assert "imported 5 rating(s)" in imported(capsys, "r.csv")
    assert stored()[("math", "pair", "ann")] == ("candidate", None)


def test_an_export_round_trips_a_case_id_the_export_guarded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A case id a spreadsheet would read as a formula is written with an apostrophe.
    fake_run(tmp_path, {("-1", "base"): "out", ("-1", "candidate"): "put"})
    assert main(["review", "export", "--out", "x.csv"]) == 0
    text = (tmp_path / "x.csv").read_text(encoding="utf-8-sig")
    assert ",'-1," in text
    capsys.readouterr()
    lines = text.splitlines()
    header = lines[0].split(",")
    rated = []
    for line in lines[1:]:
        cells = line.split(",")
        cells[header.index("human_label")] = "pass"
        cells[header.index("rater")] = "ann"
        rated.append(",".join(cells))
    (tmp_path / "x.csv").write_text("\n".join([lines[0], *rated]) + "\n", encoding="utf-8")
    assert "imported 2 rating(s)" in imported(capsys, "x.csv")
    assert set(stored()) == {("-1", "base", "ann"), ("-1", "candidate", "ann")}


# 1b: two rows rating one output and check --------------------------------------------


def test_conflicting_ratings_of_one_output_name_both_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    rows = [row(), row("shy"), row(human_label="fail")]
    write_rows(tmp_path / "r.csv", rows)
    err = refused(capsys, "r.csv")
    assert err.startswith("r.csv:4: rates the same output and check as line 2")
    assert "(fail, no score here; pass, no score on line 2)" in err
    assert "keep one of the two rows" in err


def test_a_conflict_through_the_rater_option_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    rows = [row(rater="", human_score="0.5"), row(rater="ann", human_score="0.7")]
    write_rows(tmp_path / "r.csv", rows)
    err = refused(capsys, "r.csv", "--rater", "ann")
    assert "r.csv:3: rates the same output and check as line 2" in err and "rater ann" in err


def test_identical_duplicates_import_once_and_raters_may_differ(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    rows = [
        row(human_score="0.8"),
        row(human_label=" PASS ", human_score="0.80"),
        row(rater="bob", human_label="'fail"),  # the apostrophe a spreadsheet user types
    ]
    write_rows(tmp_path / "r.csv", rows)
    out = imported(capsys, "r.csv")
    assert "imported 2 rating(s)" in out
    assert "1 identical duplicate row(s) counted once" in out
    assert stored() == {
        ("math", "base", "ann"): ("pass", 0.8),
        ("math", "base", "bob"): ("fail", None),
    }


def test_a_sample_of_thousands_of_digits_is_no_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(sample="1" * 5000)])
    assert "r.csv:2: sample '111" in refused(capsys, "r.csv")


# 1c: a score on the check's scale -----------------------------------------------------


@pytest.mark.parametrize("score", ["1.5", "-0.1", "'-0.5", "1e3", "+2", "1e999", "-" + "9" * 400])
def test_a_score_out_of_the_checks_range_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], score: str
) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(human_score=score)])
    err = refused(capsys, "r.csv")
    shown = score.lstrip("'")
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    assert err.startswith(f"r.csv:2: human_score '{shown}' is outside")
    assert "judge_refusal scores lie in [0, 1]" in err
    assert "write a number from 0 to 1, or leave it empty" in err


def test_scores_at_the_ends_of_the_range_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(human_score="0"), row("shy", human_score="'+1")])
    assert "imported 2 rating(s)" in imported(capsys, "r.csv")
    assert stored()[("shy", "base", "ann")] == ("pass", 1.0)


@pytest.mark.parametrize("score", ["1_0", "٣", "0x1", "inf", "nan", "half", "1.2.3"])
def test_only_a_plain_decimal_number_is_a_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], score: str
) -> None:
    # Python's float() reads all of these; a spreadsheet writes none of them.
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(human_score=score)])
    err = refused(capsys, "r.csv")
    assert err.startswith(f"r.csv:2: human_score '{score}' is not a number")


def test_a_decimal_comma_says_to_write_a_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(human_score="0,8")])
    err = refused(capsys, "r.csv")
    assert err.startswith("r.csv:2: human_score '0,8' is not a number")
    assert "write it with a decimal point: 0.8" in err


# 1e: the real line of a byte that is not UTF-8 ---------------------------------------------


def test_a_bad_byte_is_reported_at_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(), row("shy"), row(notes="ok")])
    data = (tmp_path / "r.csv").read_bytes().replace(b",ok\n", b",o\xffk\n")
    (tmp_path / "r.csv").write_bytes(data)
    err = refused(capsys, "r.csv")
    column = data.splitlines()[3].index(b"\xff") + 1
    assert err == (
        f"r.csv:4:{column}: not UTF-8 text (byte 0xff); save the sheet as CSV UTF-8 "
        "(Excel: Save As, CSV UTF-8) and import that"
    )


def test_a_bad_byte_far_into_a_file_is_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    rows = [row(human_label="", notes="é" * 50) for _ in range(3000)] + [row(notes="x\x80")]
    write_rows(tmp_path / "r.csv", rows)
    data = (tmp_path / "r.csv").read_bytes().replace("x\x80".encode(), b"x\x80")
    (tmp_path / "r.csv").write_bytes(data)
    assert refused(capsys, "r.csv").startswith("r.csv:3002:")


def test_utf16_is_refused_at_line_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_run(tmp_path)
    (tmp_path / "r.csv").write_bytes(codecs.BOM_UTF16_LE + ",".join(COLUMNS).encode("utf-16-le"))
    assert refused(capsys, "r.csv").startswith("r.csv:1:1: not UTF-8 text (byte 0xff)")


# 1f: memory stays bounded -----------------------------------------------------------------


def _peak_of_import(path: Path, outputs: object) -> tuple[int, str]:
    tracemalloc.start()
    try:
        read_ratings(path, outputs)  # type: ignore[arg-type]
        error = ""
    except Exception as exc:  # the message is what the test reads
        error = str(exc)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, error


def test_a_200_mb_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    results = fake_run(tmp_path)
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as fh:
        fh.write(",".join(COLUMNS).encode() + b"\n")
        fh.truncate(200 * 1024 * 1024)  # sparse: 200 MB of NUL bytes on line 2, no newline
    peak, error = _peak_of_import(huge, rateable_outputs(results))
    assert error.startswith(f"huge.csv:2: the row starting here is longer than {MAX_RECORD:,}")
    assert peak < 32 * 1024 * 1024


def test_many_identical_rows_keep_memory_bounded(tmp_path: Path) -> None:
    results = fake_run(tmp_path)
    many = write_rows(tmp_path / "many.csv", [row(notes="n" * 200)] * 60_000)
    assert many.stat().st_size > 15_000_000
    peak, error = _peak_of_import(many, rateable_outputs(results))
    assert error == ""
    assert peak < 8 * 1024 * 1024


def test_a_row_spread_over_many_lines_is_refused_at_its_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Many small quoted cells, each with a line break: no cell over csv's limit, but one
    # record without end.
    fake_run(tmp_path)
    cells = ",".join(['"a\nb"'] * 400_000)
    (tmp_path / "r.csv").write_text(",".join(COLUMNS) + "\n" + cells + "\n", encoding="utf-8")
    assert refused(capsys, "r.csv").startswith("r.csv:2: the row starting here is longer than")


# Hostile but valid files ---------------------------------------------------------------


def test_crlf_bom_and_multiline_cells_keep_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    rows = [row(notes="one\r\ntwo\r\nthree"), row("shy", human_label="maybe")]
    write_rows(tmp_path / "r.csv", rows, newline="\r\n")
    assert (tmp_path / "r.csv").read_bytes().startswith(codecs.BOM_UTF8)
    assert refused(capsys, "r.csv").startswith("r.csv:5: human_label 'maybe' is not pass or fail")


def test_old_mac_line_endings_and_a_doubled_bom_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(), row("shy")], newline="\r")
    data = (tmp_path / "r.csv").read_bytes()
    (tmp_path / "r.csv").write_bytes(codecs.BOM_UTF8 + data)
    assert "imported 2 rating(s)" in imported(capsys, "r.csv")


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"human_score": "=1+1"}, "human_score '=1+1' is not a number"),
        ({"human_score": "'=0.5"}, "human_score '=0.5' is not a number"),
        ({"human_label": "=pass"}, "human_label '=pass' is not pass or fail"),
        ({"human_label": "pa\x00ss"}, "human_label 'pa\\x00ss' is not pass or fail"),
    ],
)
def test_formulas_are_never_read_as_ratings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cells: dict[str, str], message: str
) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(**cells)])
    assert refused(capsys, "r.csv").startswith(f"r.csv:2: {message}")


def test_the_stored_key_is_the_runs_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_run(tmp_path)
    write_rows(tmp_path / "r.csv", [row(output_sha=output_sha(OUTPUTS[("math", "base")]).upper())])
    assert "imported 1 rating(s)" in imported(capsys, "r.csv")
    with Store(STORE) as store:
        (rating,) = store.ratings()
    assert rating["output_sha"] == output_sha(OUTPUTS[("math", "base")])


# 3: report-only checks are no rule to disagree with -------------------------------------


def test_a_report_only_or_skipped_rule_check_is_no_disagreement() -> None:
    shown = CheckScore(
        metric="refusal", value=0.0, passed=False, threshold=1.0, weight=1, report_only=True
    )
    skipped = shown.model_copy(update={"report_only": False, "skipped": True, "value": None})
    gating = shown.model_copy(update={"report_only": False})
    for rule, flagged in ((shown, False), (skipped, False), (gating, True)):
        results = results_of([judged_record("math", "base", "text", rule=rule)], pairs=())
        (only,) = review_rows(results)
        assert (only.priority == 2) is flagged, rule
        assert ("rule check(s) refusal failed" in only.reason) is flagged
