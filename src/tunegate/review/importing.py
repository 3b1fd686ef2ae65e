"""`tunegate review import`: people's ratings from a review CSV into the store.

The file is read whole and every row checked before anything is written, so a bad row
stops the import with its file:line and the fix, and nothing half-imported is left. A row
with neither `human_label` nor `human_score` is skipped and counted. `--rater NAME` fills
the rater of rows whose `rater` cell is empty; a row's own rater wins.

Ratings are stored as JSON {"label": ..., "score": ...} under (suite, case id, role,
sample, check, rater), with the sha256 of the output that was rated: a later run matches a
rating only while its output is that same text (execution/agreement.py).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

from ..errors import InputError
from ..execution.agreement import FAIL, PAIR_ROLE, PASS, WINNERS, encode_rating
from ..execution.store import Store
from ..paths import display_path
from ..safe_text import one_line
from .export import COLUMNS

__all__ = ["REQUIRED", "ImportSummary", "import_ratings", "read_ratings"]

# What import reads; the other columns are for the reviewer.
REQUIRED = (
    "suite",
    "case_id",
    "role",
    "sample",
    "check",
    "output_sha",
    "human_label",
    "human_score",
    "rater",
)
MAX_RATER = 200
_SHA = re.compile(r"[0-9a-f]{64}")
_GUARDED = re.compile(r"'(?=[=+\-@\t\r]|[ \t\n]+[=+\-@])")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_EXPORT = "export a fresh file with `tunegate review export --out FILE` and rate in that"


@dataclass(frozen=True)
class ImportSummary:
    path: Path
    store: Path
    imported: int
    skipped: int  # rows without a rating


def _unguard(value: str) -> str:
    """A cell as the export meant it: the apostrophe that kept it from being read as a
    formula removed."""
    return value[1:] if _GUARDED.match(value) else value


def _filled(cell: str) -> bool:
    return bool(_unguard(cell.strip()).strip())


def _shown(value: str, limit: int = 60) -> str:
    cut = value if len(value) <= limit else value[: limit - 1] + "…"
    return one_line(cut)


class _Rows:
    """The CSV's records with the line each starts on (a quoted cell may span lines)."""

    def __init__(self, fh: TextIO, where: str) -> None:
        self._reader = csv.reader(fh, strict=True)
        self._where = where
        self.line = 1

    def __iter__(self) -> Iterator[list[str]]:
        while True:
            self.line = self._reader.line_num + 1
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a field over csv's limit, a stray quote
                raise InputError(
                    f"{self._where}:{self.line}: not a CSV file tunegate can read ({exc}); "
                    f"{_EXPORT}"
                ) from None
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{self._where}:{self.line}: not UTF-8 text ({exc.reason}); save the "
                    "sheet as CSV UTF-8"
                ) from None
            yield cells


def _columns(header: Sequence[str], where: str) -> dict[str, int]:
    names = [h.strip() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        return _bad_header(where, f"it has no column {', '.join(missing)}")
    twice = sorted({c for c in REQUIRED if names.count(c) > 1})
    if twice:
        return _bad_header(where, f"the column {', '.join(twice)} appears twice")
    return {name: names.index(name) for name in REQUIRED}


def _bad_header(where: str, why: str) -> NoReturn:
    raise InputError(
        f"{where}:1: not a tunegate review file: {why} (its header is "
        f"{','.join(COLUMNS)}); {_EXPORT}"
    )


def _label(value: str, role: str, at: str) -> str | None:
    label = _unguard(value.strip()).strip().lower()
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
    try:
        score = float(text)
    except ValueError:
        score = math.nan
    if not math.isfinite(score):
        raise InputError(
            f"{at}: human_score '{_shown(value)}' is not a number; write one such as 0.8, "
            "or leave it empty"
        )
    return score


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
    fix = "the columns before human_label are the export's: do not edit them"
    values = {k: _unguard(cells[k]) for k in ("suite", "case_id", "role", "check")}
    for name, value in values.items():
        if not value:
            raise InputError(f"{at}: {name} is empty; {fix}")
    if values["role"] not in ("base", "candidate", PAIR_ROLE):
        raise InputError(
            f"{at}: role '{_shown(values['role'])}' is not base, candidate or pair; {fix}"
        )
    sample = cells["sample"].strip()
    if not sample.isdigit() or not sample.isascii():
        raise InputError(f"{at}: sample '{_shown(sample)}' is not a whole number; {fix}")
    sha = cells["output_sha"].strip().lower()
    if not _SHA.fullmatch(sha):
        raise InputError(
            f"{at}: output_sha '{_shown(sha)}' is not the sha256 the export wrote; {fix}"
        )
    return {**values, "sample": int(sample), "output_sha": sha}


def read_ratings(path: Path, rater: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """The ratings in a review CSV, each checked, as `Store.put_ratings` takes them, and
    how many rows had no rating. InputError (file:line and the fix) on the first bad row."""
    where = display_path(path)
    if rater is not None:
        rater = check_rater(rater)
    if not path.exists():
        raise InputError(f"{where}: no such file; {_EXPORT}")
    if not path.is_file():
        raise InputError(f"{where}: not a regular file; name the CSV file you rated")
    ratings: list[dict[str, Any]] = []
    skipped = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
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
                ratings.append(
                    {
                        **identity,
                        "rater": _rater(row["rater"], rater, at),
                        "rating": encode_rating(label, score),
                    }
                )
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    return ratings, skipped


def import_ratings(path: Path, store_path: Path, rater: str | None = None) -> ImportSummary:
    """Read and check every row of `path`, then store its ratings in one transaction."""
    ratings, skipped = read_ratings(path, rater)
    if ratings:
        with Store(store_path) as store:
            store.put_ratings(ratings)
    return ImportSummary(path, store_path, len(ratings), skipped)
