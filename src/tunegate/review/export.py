"""`tunegate review export`: a run's judged outputs as a CSV for people to rate.

One row per (record, judged check) with an output, and one per pairwise verdict (role
"pair": `output` is the base's answer, `other_output` the candidate's). Rows come in the
order a reviewer should read them, by priority:

1. base and candidate disagree on the judged check (one passed, the other failed)
2. the judged check and a rule (non-judged, gating) check disagree on the output
3. the two orders of a pairwise verdict named different winners
4. low judge confidence: the judged value lies within 0.1 of the check's threshold (a
   value at 0 or 1, a binary verdict, is never "close")
5. the judge gave no usable verdict (an error)
6. everything else: spot checks of the judge, and checks skipped for want of a judge

A row's `reason` lists every flag it has; its priority is the most urgent. The reviewer
fills `human_label` (pass or fail; base, candidate or tie on pair rows), optionally
`human_score` (a number on the check's scale), `rater` and `notes`.

Cells are made safe for spreadsheets: line breaks become newlines, other control
characters visible escapes, and a cell that a spreadsheet would read as a formula (starting
with = + - @ or a tab, or with one of the four signs after blanks) gets a leading
apostrophe. A cell longer than a spreadsheet holds is cut, saying
so; `output_sha` is always the sha256 of the whole output.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..execution.agreement import PAIR_ROLE, input_sha, output_sha, pair_sha
from ..execution.scoring import NO_JUDGE
from ..execution.store import RATING_KEY
from ..metrics import get_metric
from ..metrics.judging import is_judged
from ..paths import display_path, staged_file
from ..results import CheckScore, Message, PairwiseVerdict, Record, Results, load_results
from ..safe_text import for_terminal

__all__ = [
    "COLUMNS",
    "LOW_CONFIDENCE",
    "MAX_CELL",
    "RATING_COLUMNS",
    "ExportSummary",
    "ReviewRow",
    "export_review",
    "review_rows",
    "safe_cell",
]

RATING_COLUMNS = ("human_label", "human_score", "rater", "notes")
COLUMNS = (
    "priority",
    "reason",
    *RATING_KEY,
    "output_sha",
    "input_sha",
    "prompt",
    "output",
    "other_output",
    "judge_value",
    "judge_passed",
    "judge_reason",
    *RATING_COLUMNS,
)

ROLES_DISAGREE, RULES_DISAGREE, PAIR_INCONSISTENT, LOW, JUDGE_ERROR, OTHER = 1, 2, 3, 4, 5, 6
LOW_CONFIDENCE = 0.1
# Spreadsheets hold 32,767 characters in a cell; the cut marker fits in what is left.
MAX_CELL = 32_000
# Checks every case gets: agreeing with them says nothing about the judge.
_BUILT_IN = frozenset({"non_empty"})
# What a spreadsheet may read as a formula: these first, or the signs after blanks.
_FORMULA_SIGNS = ("=", "+", "-", "@")
_FORMULA_START = (*_FORMULA_SIGNS, "\t", "\r")
_ROLE_ORDER = {"base": 0, "candidate": 1, PAIR_ROLE: 2}
_SKIPPED = "no judge verdict in this run (skipped): a rating counts for a later run"
_SPOT_CHECK = "no flag: a spot check of the judge"


@dataclass(frozen=True)
class ReviewRow:
    priority: int
    reason: str
    suite: str
    case_id: str
    role: str
    sample: int
    check: str
    output_sha: str
    prompt: str
    output: str
    other_output: str
    judge_value: float | None
    judge_passed: str  # pass / fail; the winner on pair rows; empty without a verdict
    judge_reason: str
    # What the output was judged against (prompt, context, reference, the check's arguments):
    # import refuses a row whose case or check has changed in the run since.
    input_sha: str = ""

    def cells(self) -> list[str]:
        """The CSV row, in COLUMNS order: numbers tunegate formats, every text made safe,
        the rating columns empty."""
        value = "" if self.judge_value is None else format(self.judge_value, ".6g")
        texts = (self.reason, self.suite, self.case_id, self.role)
        more = (
            self.check,
            self.output_sha,
            self.input_sha,
            self.prompt,
            self.output,
            self.other_output,
        )
        return [
            str(self.priority),
            *map(safe_cell, texts),
            str(self.sample),
            *map(safe_cell, more),
            value,
            safe_cell(self.judge_passed),
            safe_cell(self.judge_reason),
            *("" for _ in RATING_COLUMNS),
        ]


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    rows: int
    by_priority: dict[int, int]

    @property
    def flagged(self) -> int:
        return sum(n for p, n in self.by_priority.items() if p < OTHER)


def safe_cell(text: str) -> str:
    """`text` made inert for a spreadsheet: control characters (tab and newline aside)
    as visible escapes, cut to MAX_CELL characters, and a leading apostrophe on a cell a
    spreadsheet would take for a formula."""
    # Line breaks of any system become newlines; every other control character an escape.
    text = for_terminal(text.replace("\r\n", "\n").replace("\r", "\n"))
    if len(text) > MAX_CELL:
        text = f"{text[:MAX_CELL]}… [{len(text) - MAX_CELL} more characters cut]"
    if text.startswith(_FORMULA_START) or text.lstrip(" \t\n").startswith(_FORMULA_SIGNS):
        return "'" + text
    return text


def _judged(score: CheckScore) -> bool:
    return is_judged(get_metric(score.metric))


def _prompt_text(messages: Sequence[Message]) -> str:
    if len(messages) == 1:
        return messages[0].content
    return "\n\n".join(f"{m.role}: {m.content}" for m in messages)


def _verdict_word(passed: bool) -> str:
    return "passed" if passed else "failed"


def _flags(
    record: Record, name: str, score: CheckScore, other: Record | None
) -> list[tuple[int, str]]:
    flags: list[tuple[int, str]] = []
    if score.skipped:
        return [(OTHER, _SKIPPED)]
    if score.value is None:
        return [(JUDGE_ERROR, f"the judge gave no usable verdict: {score.reason or 'error'}")]
    theirs = other.scores.get(name) if other is not None else None
    if theirs is not None and theirs.value is not None and theirs.passed != score.passed:
        base, candidate = (
            (score.passed, theirs.passed)
            if record.role == "base"
            else (theirs.passed, score.passed)
        )
        flags.append(
            (
                ROLES_DISAGREE,
                f"base and candidate disagree: base {_verdict_word(base)}, "
                f"candidate {_verdict_word(candidate)}",
            )
        )
    # Only checks that gate: a report-only check (or one skipped) decides nothing, so
    # differing from it is no conflict to review.
    against = [
        n
        for n, s in record.scores.items()
        if s.metric not in _BUILT_IN
        and s.gating
        and not _judged(s)
        and s.value is not None
        and s.passed != score.passed
    ]
    if against:
        flags.append(
            (
                RULES_DISAGREE,
                f"the judge {_verdict_word(score.passed)} it, rule check(s) "
                f"{', '.join(against)} {_verdict_word(not score.passed)}",
            )
        )
    value = score.value
    if value not in (0.0, 1.0) and abs(value - score.threshold) <= LOW_CONFIDENCE + 1e-12:
        flags.append(
            (
                LOW,
                f"low judge confidence: value {value:.3g} is within {LOW_CONFIDENCE:g} of "
                f"the threshold {score.threshold:g}",
            )
        )
    return flags or [(OTHER, _SPOT_CHECK)]


def _judge_reason(score: CheckScore) -> str:
    reason = score.reason or ""
    if score.judge_raw:
        reason += f" (the judge's answer: {score.judge_raw})"
    return reason


def _ranked(flags: list[tuple[int, str]]) -> tuple[int, str]:
    """The most urgent priority, and every reason, most urgent first."""
    ordered = sorted(flags, key=lambda f: f[0])
    return ordered[0][0], "; ".join(text for _, text in ordered)


def _pair_row(v: PairwiseVerdict, base: Record, candidate: Record) -> ReviewRow | None:
    if base.output is None or candidate.output is None:
        return None
    first, second = [*v.verdicts, None, None][:2]
    orders = f"base shown first: {first or 'no verdict'}; candidate shown first: " + (
        second or "no verdict"
    )
    if v.error == NO_JUDGE:
        flags = [(OTHER, _SKIPPED)]
    elif v.winner is None:
        flags = [(JUDGE_ERROR, f"the judge gave no usable verdict: {v.error or 'error'}")]
    elif v.consistent is False:
        flags = [
            (PAIR_INCONSISTENT, f"the judge named a different winner in each order ({orders})")
        ]
    else:
        flags = [(OTHER, _SPOT_CHECK)]
    reasons = "; ".join(v.reasons)
    priority, reason = _ranked(flags)
    return ReviewRow(
        priority=priority,
        reason=reason,
        suite=v.suite,
        case_id=v.case_id,
        role=PAIR_ROLE,
        sample=v.sample,
        check=v.check,
        output_sha=pair_sha(base.output, candidate.output),
        prompt=_prompt_text(base.prompt),
        output=base.output,
        other_output=candidate.output,
        judge_value=None,
        judge_passed=v.winner or "",
        judge_reason=f"{orders}"
        + (f"; {reasons}" if reasons else "")
        + (f"; {v.error}" if v.error else ""),
        input_sha=input_sha(base, v.check_sha),
    )


def review_rows(results: Results) -> list[ReviewRow]:
    """Every judged output of the run as a review row, most urgent first."""
    by_key: dict[tuple[str, str, int, str], Record] = {
        (r.suite, r.case_id, r.sample, r.role): r for r in results.records
    }
    rows: list[ReviewRow] = []
    for record in results.records:
        if record.output is None:
            continue  # the generation failed: nothing to rate
        other_role = "candidate" if record.role == "base" else "base"
        other = by_key.get((record.suite, record.case_id, record.sample, other_role))
        for name, score in record.scores.items():
            if not _judged(score):
                continue
            priority, reason = _ranked(_flags(record, name, score, other))
            rows.append(
                ReviewRow(
                    priority=priority,
                    reason=reason,
                    suite=record.suite,
                    case_id=record.case_id,
                    role=record.role,
                    sample=record.sample,
                    check=name,
                    output_sha=output_sha(record.output),
                    prompt=_prompt_text(record.prompt),
                    output=record.output,
                    other_output=(other.output or "") if other is not None else "",
                    judge_value=score.value,
                    judge_passed=""
                    if score.value is None
                    else ("pass" if score.passed else "fail"),
                    judge_reason=_judge_reason(score),
                    input_sha=input_sha(record, score.check_sha),
                )
            )
    for v in results.pairwise:
        base = by_key.get((v.suite, v.case_id, v.sample, "base"))
        candidate = by_key.get((v.suite, v.case_id, v.sample, "candidate"))
        if base is not None and candidate is not None:
            pair = _pair_row(v, base, candidate)
            if pair is not None:
                rows.append(pair)
    suite_order = {s.name: i for i, s in enumerate(results.suites)}
    rows.sort(
        key=lambda r: (
            r.priority,
            suite_order.get(r.suite, len(suite_order)),
            r.suite,
            r.case_id,
            r.sample,
            _ROLE_ORDER.get(r.role, 3),
            r.check,
        )
    )
    return rows


def export_review(run: Path, out: Path, *, force: bool = False) -> ExportSummary:
    """Write the review CSV of a run (its folder or results.json) to `out`. An existing
    `out` is kept unless `force`: it may hold ratings not imported yet."""
    results = load_results(run)
    shown = display_path(out)
    if out.exists() and not force:
        raise InputError(
            f"--out {shown} exists and may hold ratings not imported yet; import it first "
            "(tunegate review import), or pass --force to replace it"
        )
    rows = review_rows(results)
    try:
        # UTF-8 with a byte-order mark, so spreadsheets read it as UTF-8; import accepts both.
        with staged_file(out) as staged, staged.open("x", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(row.cells() for row in rows)
            fh.flush()
            os.fsync(fh.fileno())
    except (OSError, ValueError) as exc:  # ValueError: a device or a link, a NUL in the name
        reason = getattr(exc, "strerror", None) or exc
        raise InputError(
            f"--out {shown}: cannot write it ({reason}); name a file in a folder you can write to"
        ) from None
    counts: dict[int, int] = {}
    for row in rows:
        counts[row.priority] = counts.get(row.priority, 0) + 1
    return ExportSummary(out, len(rows), counts)
