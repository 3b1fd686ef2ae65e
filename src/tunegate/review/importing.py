"""`tunegate review import`: people's ratings from a review CSV into the store.

Every row is checked before anything is written, so a bad row stops the import with its
file:line and the fix, and nothing half-imported is left. A row with neither `human_label`
nor `human_score` is skipped and counted. `--rater NAME` fills the rater of rows whose
`rater` cell is empty; a row's own rater wins.

A rating must name a judged output of the run the file was exported from (`--run`, by
default the project's latest run): its key and `output_sha` are checked against that run,
and `human_score` against the check's value range. Two rows of one rater on one output and
check must agree (an identical copy counts once).

The file is streamed: its lines are read one at a time (a byte that is not UTF-8 is named
at its line and column), no row may exceed MAX_RECORD characters, and what is kept is one
rating per output, check and rater, at most MAX_RATERS raters: memory is bounded by the
run, whatever the file's size.

Ratings are stored as JSON {"label": ..., "score": ...} under (suite, case id, role,
sample, check, rater), with the sha256 of the output that was rated: a later run matches a
rating only while its output is that same text (execution/agreement.py).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

from ..errors import InputError
from ..execution.agreement import FAIL, PAIR_ROLE, PASS, WINNERS, encode_rating
from ..execution.store import RATING_KEY, Store
from ..metrics import get_metric, value_range
from ..metrics.base import DEFAULT_VALUE_RANGE
from ..paths import display_path
from ..results import Results, load_results
from ..safe_text import one_line, shorten
from .export import COLUMNS, review_rows, safe_cell

__all__ = [
    "MAX_RATERS",
    "MAX_RECORD",
    "REQUIRED",
    "ImportSummary",
    "Ratings",
    "RunOutputs",
    "import_ratings",
    "load_run_outputs",
    "rateable_outputs",
    "read_ratings",
]

# What import reads; the other columns are for the reviewer.
REQUIRED = (
    *RATING_KEY,
    "output_sha",
    "human_label",
    "human_score",
    "rater",
)
# Read when present: files exported before tunegate wrote it rate on the output alone.
OPTIONAL = ("input_sha",)
MAX_RATER = 200
# The longest row (all its lines) read: the export writes at most 14 cells of about
# 32,000 characters, so a longer row is not one it wrote, and reading on would hold it all.
MAX_RECORD = 1_000_000
# Distinct raters in one file: with one rating kept per output, check and rater, this
# bounds what an import holds to a multiple of the run's outputs.
MAX_RATERS = 100
_SHA = re.compile(r"[0-9a-f]{64}")
# A number as a spreadsheet writes it; float() would also take 1_0, ٣ or 0x1-like words.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]*,[0-9]+")
_GUARDED = re.compile(r"'(?=[=+\-@\t\r]|[ \t\n]+[=+\-@])")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Bytes that are not UTF-8, as errors="surrogateescape" decodes them.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_EXPORT = "export a fresh file with `tunegate review export --out FILE` and rate in that"
_KEEP_KEY = "do not edit the columns before human_label"

_CellKey = tuple[str, str, str, int, str]  # suite, case id, role, sample, check as in the file
_Key = tuple[str, str, str, int, str]  # the same, as the run spells it


@dataclass(frozen=True)
class _Rateable:
    key: _Key
    sha: str
    metric: str
    scale: tuple[float, float]  # the check's value range (pair rows take no score)
    seen: str = ""  # input_sha: what the output was judged against, kept with the rating


@dataclass(frozen=True)
class RunOutputs:
    """The judged outputs of a run a review file may rate, by the key the file holds."""

    where: str  # the run, as messages name it
    outputs: dict[_CellKey, list[_Rateable]]


@dataclass(frozen=True)
class Ratings:
    """A review file's ratings, checked, as `Store.put_ratings` takes them."""

    ratings: list[dict[str, Any]]
    skipped: int  # rows without a rating
    duplicates: int  # identical copies of a row, counted once


@dataclass(frozen=True)
class ImportSummary:
    path: Path
    store: Path
    imported: int
    skipped: int  # rows without a rating
    duplicates: int = 0
    run: Path | None = None


def _unguard(value: str) -> str:
    """A cell as the export meant it: the apostrophe that kept it from being read as a
    formula removed."""
    return value[1:] if _GUARDED.match(value) else value


def _as_read(text: str) -> str:
    """A key the export wrote, as import reads it back."""
    return _unguard(safe_cell(text))


def rateable_outputs(results: Results, where: str = "") -> RunOutputs:
    """Every output and check the export of `results` writes a row for."""
    metrics: dict[_Key, str] = {
        (r.suite, r.case_id, r.role, r.sample, name): s.metric
        for r in results.records
        for name, s in r.scores.items()
    }
    outputs: dict[_CellKey, list[_Rateable]] = {}
    for row in review_rows(results):
        key = (row.suite, row.case_id, row.role, row.sample, row.check)
        metric = metrics.get(key, row.check)
        found = get_metric(metric)
        scale = DEFAULT_VALUE_RANGE if found is None else value_range(found)
        cell = (_as_read(row.suite), _as_read(row.case_id), row.role, row.sample)
        outputs.setdefault((*cell, _as_read(row.check)), []).append(
            _Rateable(key, row.output_sha, metric, scale, row.input_sha)
        )
    return RunOutputs(where, outputs)


def load_run_outputs(run: Path, file: Path) -> RunOutputs:
    """The rateable outputs of the run (folder or results.json) that `file` rates."""
    shown = one_line(display_path(run))
    fix = "name the run the file was exported from with --run RUN (its folder or results.json)"
    if not run.exists():
        raise InputError(
            f"cannot check {one_line(display_path(file))} against a run: there is none at {shown} "
            f"(`tunegate run` makes one); {fix}"
        )
    try:
        results = load_results(run)
    except InputError as exc:
        raise InputError(
            f"cannot check {one_line(display_path(file))} against a run: {one_line(str(exc))}; "
            f"{fix}"
        ) from None
    return rateable_outputs(results, shown)


def _filled(cell: str) -> bool:
    return bool(_unguard(cell.strip()).strip())


def _shown(value: str, limit: int = 60) -> str:
    cut = value if len(value) <= limit else value[: limit - 1] + "…"
    return one_line(cut)


class _Rows:
    """The CSV's records with the line each starts on (a quoted cell may span lines), read
    one line at a time, each line checked for bytes that are not UTF-8 and each record
    held to MAX_RECORD characters."""

    def __init__(self, fh: TextIO, where: str) -> None:
        self._where = where
        self.line = 1  # where the current record starts
        self._read = 0  # lines read so far
        self._chars = 0  # characters of the current record
        self._reader = csv.reader(self._lines(fh), strict=True)

    def _lines(self, fh: TextIO) -> Iterator[str]:
        # readline with a limit: a file without line breaks is never read whole.
        while line := fh.readline(MAX_RECORD + 1):
            self._read += 1
            bad = _NOT_UTF8.search(line)
            if bad is not None:
                byte = ord(bad.group()) - 0xDC00
                raise InputError(
                    f"{self._where}:{self._read}:{bad.start() + 1}: not UTF-8 text (byte "
                    f"0x{byte:02x}); save the sheet as CSV UTF-8 (Excel: Save As, CSV UTF-8) "
                    "and import that"
                )
            self._chars += len(line)
            if self._chars > MAX_RECORD:
                raise InputError(
                    f"{self._where}:{self.line}: the row starting here is longer than "
                    f"{MAX_RECORD:,} characters, longer than any row the export writes (a "
                    f"stray quote?); {_EXPORT}"
                )
            yield line

    def __iter__(self) -> Iterator[list[str]]:
        while True:
            self.line = self._read + 1
            self._chars = 0
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a field over csv's limit, a stray quote
                raise InputError(
                    f"{self._where}:{self.line}: not a CSV file tunegate can read ({exc}); "
                    f"{_EXPORT}"
                ) from None
            yield cells


def _columns(header: Sequence[str], where: str) -> dict[str, int]:
    # A byte-order mark may be doubled by a tool that adds its own.
    names = [h.strip().lstrip("\ufeff").strip() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        return _bad_header(where, f"it has no column {', '.join(missing)}", names)
    ours = {c.casefold(): c for c in COLUMNS}
    near = [n for n in names if n not in COLUMNS and n.casefold().strip("_ ") in ours]
    if near:
        meant = ours[near[0].casefold().strip("_ ")]
        return _bad_header(where, f"the column '{near[0]}' should be spelt '{meant}'", names)
    twice = sorted({c for c in (*REQUIRED, *OPTIONAL) if names.count(c) > 1})
    if twice:
        return _bad_header(where, f"the column {', '.join(twice)} appears twice", names)
    return {name: names.index(name) for name in (*REQUIRED, *OPTIONAL) if name in names}


def _bad_header(where: str, why: str, found: Sequence[str]) -> NoReturn:
    raise InputError(
        f"{where}:1: not a tunegate review file: {why} (its header reads "
        f"{one_line(shorten(','.join(found), 120))!r}; a review file's is "
        f"{','.join(COLUMNS)}); {_EXPORT}"
    )


def _label(value: str, role: str, at: str) -> str | None:
    # A spreadsheet user may type the apostrophe that keeps a cell text ('pass).
    label = _unguard(value.strip()).strip().removeprefix("'").strip().lower()
    if not label:
        return None
    allowed = WINNERS if role == PAIR_ROLE else (PASS, FAIL)
    if label not in allowed:
        what = (
            "base, candidate or tie (the better answer of the pair)"
            if role == PAIR_ROLE
            else "pass or fail"
        )
        raise InputError(
            f"{at}: human_label '{_shown(value)}' is not {what}; write {what.split(' (')[0]}, "
            "or leave it empty to skip the row"
        )
    return label


def _score(value: str, role: str, at: str) -> float | None:
    text = _unguard(value.strip()).strip()
    if not text:
        return None
    if role == PAIR_ROLE:
        raise InputError(
            f"{at}: a pair row takes no human_score (got '{_shown(value)}'); name the better "
            "answer in human_label (base, candidate or tie) and leave human_score empty"
        )
    # A number too big for a float (1e999) is inf: a number, refused by its range.
    score = float(text) if _NUMBER.fullmatch(text) else math.nan
    if math.isnan(score):
        hint = (
            f"write it with a decimal point: {text.replace(',', '.')}"
            if _DECIMAL_COMMA.fullmatch(text)
            else "write one such as 0.8, or leave it empty"
        )
        raise InputError(f"{at}: human_score '{_shown(text)}' is not a number; {hint}")
    return score


def _in_scale(score: float, output: _Rateable, text: str, at: str) -> None:
    low, high = output.scale
    if not low <= score <= high:
        raise InputError(
            f"{at}: human_score '{_shown(_unguard(text.strip()).strip())}' is outside the "
            f"range of check '{_shown(output.key[4])}' ({output.metric} scores lie in "
            f"[{low:g}, {high:g}]); write a number from {low:g} to {high:g}, or leave it empty"
        )


def _rater(cell: str, default: str | None, at: str) -> str:
    rater = _unguard(cell.strip()).strip() or (default or "")
    if not rater:
        raise InputError(f"{at}: no rater: fill the rater column, or pass --rater NAME")
    if len(rater) > MAX_RATER or _CONTROL.search(rater):
        raise InputError(
            f"{at}: rater '{_shown(rater)}' is not a name (at most {MAX_RATER} characters, "
            "no control characters); write the reviewer's name"
        )
    return rater


def check_rater(name: str) -> str:
    """A --rater value, checked like a rater cell."""
    return _rater(name, None, "--rater")


def _identity(cells: dict[str, str], at: str) -> dict[str, Any]:
    """The rated output's key, as the export wrote it."""
    values = {k: _unguard(cells[k]) for k in ("suite", "case_id", "role", "check")}
    for name, value in values.items():
        if not value:
            raise InputError(f"{at}: {name} is empty; {_KEEP_KEY}")
    if values["role"] not in ("base", "candidate", PAIR_ROLE):
        raise InputError(
            f"{at}: role '{_shown(values['role'])}' is not base, candidate or pair; {_KEEP_KEY}"
        )
    sample = cells["sample"].strip()
    # Nine digits at most: int() of thousands of digits raises, and no run has that many.
    if not sample.isdigit() or not sample.isascii() or len(sample) > 9:
        raise InputError(f"{at}: sample '{_shown(sample)}' is not a whole number; {_KEEP_KEY}")
    sha = cells["output_sha"].strip().lower()
    if not _SHA.fullmatch(sha):
        raise InputError(
            f"{at}: output_sha '{_shown(sha)}' is not the sha256 the export wrote; {_KEEP_KEY}"
        )
    return {**values, "sample": int(sample), "output_sha": sha}


def _named(key: _Key) -> str:
    suite, case_id, role, sample, check = key
    return (
        f"suite '{_shown(suite)}', case_id '{_shown(case_id)}', role {role}, sample {sample}, "
        f"check '{_shown(check)}'"
    )


def _rated_output(identity: dict[str, Any], run: RunOutputs, at: str) -> _Rateable:
    """The run's output the row rates; InputError when it rates none."""
    key = (
        identity["suite"],
        identity["case_id"],
        identity["role"],
        identity["sample"],
        identity["check"],
    )
    candidates = run.outputs.get(key, [])
    of_run = f"the run {run.where}" if run.where else "the run"
    if not candidates:
        raise InputError(
            f"{at}: no judged output of {of_run} matches this row ({_named(key)}): "
            f"{_KEEP_KEY}; if the file was exported from another run, pass --run with the run "
            "folder it was exported from"
        )
    for output in candidates:
        if output.sha == identity["output_sha"]:
            return output
    raise InputError(
        f"{at}: output_sha is not the sha256 of that output in {of_run} ({_named(key)}): "
        "the cell was edited, or the output changed after the export; pass --run with the "
        f"run folder the file was exported from, or {_EXPORT}"
    )


def _same_question(cell: str | None, output: _Rateable, run: RunOutputs, at: str) -> bool:
    """The row rates the output as the export showed it: the run's case and check must be
    what they were (the output alone may be unchanged under an edited prompt). True when
    the file says so; False for a file without the column (an older export)."""
    if cell is None:
        return False
    written = cell.strip().lower()
    if not _SHA.fullmatch(written):
        raise InputError(
            f"{at}: input_sha '{_shown(written)}' is not the sha256 the export wrote; {_KEEP_KEY}"
        )
    if written != output.seen:
        of_run = f"the run {run.where}" if run.where else "the run"
        raise InputError(
            f"{at}: the case or the check changed since this file was exported (its prompt, "
            f"context, reference or the check's arguments differ in {of_run}), so the "
            f"rating is of the old one; {_EXPORT}"
        )
    return True


@dataclass(frozen=True)
class _Rated:
    output: _Rateable
    rater: str
    label: str | None
    score: float | None
    line: int
    # The row's input_sha was checked against the run's: stored with the rating. A file
    # without the column rates the output alone (stored null, matched on the output).
    checked: bool = True

    def words(self) -> str:
        score = "no score" if self.score is None else f"score {self.score:g}"
        return f"{self.label or 'no label'}, {score}"


@dataclass
class _Collected:
    """One rating per (output, check, rater), with the line it came from."""

    kept: dict[tuple[_Key, str], _Rated] = field(default_factory=dict)
    raters: set[str] = field(default_factory=set)
    duplicates: int = 0

    def add(self, rated: _Rated, at: str) -> None:
        slot = (rated.output.key, rated.rater)
        seen = self.kept.get(slot)
        if seen is None:
            if rated.rater not in self.raters and len(self.raters) >= MAX_RATERS:
                raise InputError(
                    f"{at}: rater '{_shown(rated.rater)}' is rater number {MAX_RATERS + 1} "
                    f"of the file; one file holds at most {MAX_RATERS}: split it and import "
                    "each part"
                )
            self.raters.add(rated.rater)
            self.kept[slot] = rated
        elif (seen.label, seen.score) == (rated.label, rated.score):
            self.duplicates += 1
        else:
            raise InputError(
                f"{at}: rates the same output and check as line {seen.line} "
                f"({_named(rated.output.key)}, rater {_shown(rated.rater)}) but differently "
                f"({rated.words()} here; {seen.words()} on line {seen.line}); keep one of "
                "the two rows and empty human_label and human_score of the other"
            )

    def ratings(self) -> list[dict[str, Any]]:
        keys = ("suite", "case_id", "role", "sample", "check")
        return [
            {
                **dict(zip(keys, r.output.key, strict=True)),
                "output_sha": r.output.sha,
                "input_sha": (r.output.seen or None) if r.checked else None,
                "rater": r.rater,
                "rating": encode_rating(r.label, r.score),
            }
            for r in self.kept.values()
        ]


def _readable(path: Path) -> str:
    where = one_line(display_path(path))  # a name may hold a line break
    if not path.exists():
        raise InputError(f"{where}: no such file; {_EXPORT}")
    if not path.is_file():
        raise InputError(f"{where}: not a regular file; name the CSV file you rated")
    return where


def read_ratings(path: Path, run: RunOutputs, rater: str | None = None) -> Ratings:
    """The ratings in a review CSV, each checked against `run`, as `Store.put_ratings`
    takes them. InputError (file:line and the fix) on the first bad row."""
    if rater is not None:
        rater = check_rater(rater)
    where = _readable(path)
    collected = _Collected()
    skipped = 0
    try:
        # surrogateescape: a byte that is not UTF-8 reaches _Rows, which names its line.
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
            rows = _Rows(fh, where)
            records = iter(rows)
            header = next(records, None)
            if header is None:
                raise InputError(f"{where}:1: the file is empty; {_EXPORT}")
            index = _columns(header, where)
            for cells in records:
                if not any(c.strip() for c in cells):
                    continue  # a blank line
                at = f"{where}:{rows.line}"
                row = {k: cells[i] if i < len(cells) else "" for k, i in index.items()}
                if not (_filled(row["human_label"]) or _filled(row["human_score"])):
                    skipped += 1
                    continue
                identity = _identity(row, at)
                label = _label(row["human_label"], identity["role"], at)
                score = _score(row["human_score"], identity["role"], at)
                who = _rater(row["rater"], rater, at)
                output = _rated_output(identity, run, at)
                checked = _same_question(row.get("input_sha"), output, run, at)
                if score is not None:
                    _in_scale(score, output, row["human_score"], at)
                collected.add(_Rated(output, who, label, score, rows.line, checked), at)
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    return Ratings(collected.ratings(), skipped, collected.duplicates)


def import_ratings(
    path: Path, store_path: Path, rater: str | None = None, *, run: Path
) -> ImportSummary:
    """Check every row of `path` against the run it rates (a run folder or results.json),
    then store its ratings in one transaction."""
    if rater is not None:
        check_rater(rater)
    _readable(path)
    read = read_ratings(path, load_run_outputs(run, path), rater)
    if read.ratings:
        with Store(store_path) as store:
            store.put_ratings(read.ratings)
    return ImportSummary(path, store_path, len(read.ratings), read.skipped, read.duplicates, run)
