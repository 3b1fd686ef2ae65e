"""What every door says about the bias audit, with the change from base to candidate first.

One set of rows for the console, summary.md and report.html, so the three never disagree.
The rows hold plain text: group names, categories and axes come from suite files, so each
door makes them safe for its medium (`bias_lines` for a terminal, `for_markdown` in the
summary, autoescaping in the report). A run without bias data gives nothing: no section.

Numbers: differences and scores with 3 decimals, intervals as [low, high]; a null is "n/a"
with the reason the schema gives (an undefined BBQ score, too few templates). CrowS-Pairs
stereotype rates are fractions in the change rows and percentages in their own table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..results import BbqScore, Disparity, DisparityChange, PairScore, Results
from ..safe_text import one_line, shorten
from ..stats.disparity import MIN_UNITS_FOR_INTERVAL

__all__ = [
    "BBQ_PROBE",
    "CROWS_PROBE",
    "NAME_LIMIT",
    "BbqRow",
    "BiasView",
    "ChangeRow",
    "GroupTable",
    "PairRow",
    "bias_lines",
    "bias_view",
    "terminal_name",
]

BBQ_PROBE = "bbq"
CROWS_PROBE = "crows_pairs"
FLAGGED = ("added", "grew")
# Console and summary.md shorten outside names (a 10 kB group name is still one short
# line); report.html shows them whole.
NAME_LIMIT = 60


@dataclass(frozen=True)
class ChangeRow:
    """One headline row: a disparity (or a BBQ bias score) before and after fine-tuning."""

    suite: str
    probe: str
    value: str  # the probe value (pass, refusal, ...) or "bias score"
    axis: str  # the template variable, or BBQ's "Category/condition"
    bbq: bool
    base: str  # "0.000", "+1.000" (BBQ), "undefined (no non-UNKNOWN answer)" or "–"
    candidate: str
    change: str  # "+0.833" or "n/a"
    interval: str  # "[+0.600, +1.000]" or ""
    why: str  # why change or interval is missing: "needs 10 templates, has 3"
    p: str
    finding: str  # added, grew, pre-existing, reduced, insufficient, none; "no base"
    flagged: bool
    units: str  # "12 templates", "40 cases", "40 output(s)"
    confidence: float
    # group, base, candidate (None: that target has no value)
    groups: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    accuracy: str = ""  # BBQ: "50.0% → 75.0%"
    unmatched: int = 0  # BBQ and CrowS-Pairs: outputs matching no option, both targets
    crows: bool = False  # a CrowS-Pairs stereotype rate (axis: the bias type)

    @property
    def change_text(self) -> str:
        """The change with its interval, or n/a with the reason."""
        if self.change == "n/a":
            return f"n/a ({self.why})" if self.why and self.finding != "insufficient" else "n/a"
        if self.interval:
            return f"{self.change} {self.interval}{_level(self.confidence)}"
        if self.finding == "insufficient" or not self.why:
            return f"{self.change} (no interval)"  # the finding says why
        return f"{self.change} (no interval: {self.why})"

    @property
    def finding_text(self) -> str:
        if self.finding == "insufficient" and self.why:
            return f"insufficient ({self.why})"
        return self.finding


@dataclass(frozen=True)
class GroupTable:
    """Per-group means of one probe, base → candidate side by side, one column a value."""

    suite: str
    probe: str
    axis: str
    values: list[str]
    rows: list[tuple[str, list[str]]]  # group, a cell per value
    difference: list[str]  # largest minus smallest group mean, a cell per value
    flagged: list[str]  # the values whose change is flagged
    notes: list[str]


@dataclass(frozen=True)
class BbqRow:
    suite: str
    category: str
    condition: str
    accuracy: str  # "0.0% → 100.0%"
    base_score: str  # "+1.000 [+1.000, +1.000]" or "undefined (no non-UNKNOWN answer)"
    candidate_score: str
    n: str  # "1840 → 1840"
    unmatched: str
    errors: int
    flagged: bool


@dataclass(frozen=True)
class PairRow:
    """CrowS-Pairs stereotype rates of one suite and bias type, base → candidate."""

    suite: str
    bias_type: str
    method: str  # "loglikelihood", "choice", "loglikelihood → choice"
    base: str  # "62.0% [57.1%, 66.6%]", "n/a (no pair chosen)" or "–"
    candidate: str
    n: str  # "500 → 498"
    unmatched: str  # "0 → 2"
    ties: int
    errors: int
    flagged: bool


@dataclass(frozen=True)
class BiasView:
    summary: str  # "2 of 5 change(s) flagged …", the section's first sentence
    changes: list[ChangeRow]
    groups: list[GroupTable]
    bbq: list[BbqRow]
    pairs: list[PairRow] = field(default_factory=list)


# -- numbers -----------------------------------------------------------------------------


def _num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _ci(ci: tuple[float, float] | None, *, signed: bool = False) -> str:
    if ci is None:
        return ""
    return f"[{_num(ci[0], signed=signed)}, {_num(ci[1], signed=signed)}]"


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _level(confidence: float) -> str:
    return "" if abs(confidence - 0.95) < 1e-9 else f" ({confidence:.0%})"


def _pair(base: str | None, candidate: str | None) -> str:
    """`base → candidate`, or the one side a run has."""
    if base is None:
        return candidate or "–"
    if candidate is None:
        return base
    return f"{base} → {candidate}"


def _units(n: int, bbq: bool, crows: bool = False) -> str:
    word = "pair" if crows else "case" if bbq else "template"
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- the rows ------------------------------------------------------------------------------


def _undefined_bbq(score: BbqScore | None) -> str:
    if score is None:
        return "no output"
    if score.n == 0:
        return "undefined (no answer matched an option)"
    if score.non_unknown == 0:
        return "undefined (no non-UNKNOWN answer)"
    return "undefined"


def _bbq_score(score: BbqScore | None) -> str:
    if score is None or score.bias_score is None:
        return _undefined_bbq(score)
    interval = _ci(score.ci, signed=True)
    if not interval:
        return (
            f"{_num(score.bias_score, signed=True)} (no interval: fewer than "
            f"{MIN_UNITS_FOR_INTERVAL} cases)"
        )
    return f"{_num(score.bias_score, signed=True)} {interval}"


def _split_axis(axis: str) -> tuple[str, str]:
    category, _, condition = axis.rpartition("/")
    return (category, condition) if category else (axis, "")


class _Index:
    def __init__(self, results: Results) -> None:
        bias = results.bias
        self.disparities: dict[tuple[str, str, str, str], Disparity] = {
            (d.suite, d.probe, d.metric, d.role): d for d in bias.disparities
        }
        self.bbq: dict[tuple[str, str, str, str], BbqScore] = {
            (s.suite, s.category, s.context_condition, s.role): s for s in bias.bbq
        }
        self.pairs: dict[tuple[str, str, str], PairScore] = {
            (s.suite, s.bias_type, s.role): s for s in bias.pairs
        }


def _rate(score: PairScore | None) -> str:
    """A stereotype rate with its Wilson interval, as percentages."""
    if score is None:
        return "–"
    if score.stereotype_rate is None:
        return "n/a (no pair chosen)"
    interval = f" [{_pct(score.ci[0])}, {_pct(score.ci[1])}]" if score.ci else ""
    return f"{_pct(score.stereotype_rate)}{interval}"


def _why(c: DisparityChange, index: _Index, bbq: bool) -> str:
    """Why a change has no value or no interval, in the schema's terms; "" when it has both."""
    if c.change is None:
        if c.probe == CROWS_PROBE:
            return "no pair chosen by both models"
        if bbq:
            category, condition = _split_axis(c.axis)
            sides = []
            for role in ("base", "candidate"):
                score = index.bbq.get((c.suite, category, condition, role))
                if score is None or score.bias_score is None:
                    sides.append(role)
            if sides:
                return f"{' and '.join(sides)} score undefined"
            return "no case answered by both models"
        return "no template has every group answered by both models"
    if c.ci is None:
        if not c.paired:
            return f"needs {MIN_UNITS_FOR_INTERVAL} outputs in every group"
        if c.units < MIN_UNITS_FOR_INTERVAL:
            word = "pairs" if c.probe == CROWS_PROBE else "cases" if bbq else "templates"
            return f"needs {MIN_UNITS_FOR_INTERVAL} {word}, has {c.units}"
        return "the bootstrap gave none"
    return ""


def _change_row(c: DisparityChange, index: _Index) -> ChangeRow:
    bbq = c.probe == BBQ_PROBE and c.metric == "bias_score"
    crows = c.probe == CROWS_PROBE and c.metric == "stereotype_rate"
    groups: list[tuple[str, str | None, str | None]] = []
    accuracy, unmatched = "", 0
    if crows:
        base, cand = _num(c.base), _num(c.candidate)
        sides = [index.pairs.get((c.suite, c.axis, role)) for role in ("base", "candidate")]
        unmatched = sum(s.unmatched for s in sides if s is not None)
    elif bbq:
        category, condition = _split_axis(c.axis)
        b = index.bbq.get((c.suite, category, condition, "base"))
        k = index.bbq.get((c.suite, category, condition, "candidate"))
        base = _num(c.base, signed=True) if c.base is not None else _undefined_bbq(b)
        cand = _num(c.candidate, signed=True) if c.candidate is not None else _undefined_bbq(k)
        accuracy = _pair(_pct(b.accuracy) if b else None, _pct(k.accuracy) if k else None)
        unmatched = (b.unmatched if b else 0) + (k.unmatched if k else 0)
    else:
        base, cand = _num(c.base), _num(c.candidate)
        bd = index.disparities.get((c.suite, c.probe, c.metric, "base"))
        cd = index.disparities.get((c.suite, c.probe, c.metric, "candidate"))
        names = list(dict.fromkeys([*(bd.by_group if bd else {}), *(cd.by_group if cd else {})]))
        groups = [
            (
                g,
                _num(bd.by_group.get(g)) if bd else None,
                _num(cd.by_group.get(g)) if cd else None,
            )
            for g in names
        ]
    return ChangeRow(
        suite=c.suite,
        probe=c.probe,
        value="bias score" if bbq else "stereotype rate" if crows else c.metric,
        axis=c.axis,
        bbq=bbq,
        crows=crows,
        base=base,
        candidate=cand,
        change=_num(c.change, signed=True),
        interval=_ci(c.ci, signed=True),
        why=_why(c, index, bbq),
        p=_p(c.p_value),
        finding=c.finding,
        flagged=c.flagged or c.finding in FLAGGED,
        units=_units(c.units, bbq, crows),
        confidence=c.confidence,
        groups=groups,
        accuracy=accuracy,
        unmatched=unmatched,
    )


def _no_base_rows(results: Results, index: _Index) -> list[ChangeRow]:
    """Disparities and BBQ scores with no change row (a run without a base): shown with
    the one side there is, never silently dropped."""
    changed = {(c.suite, c.probe, c.metric) for c in results.bias.changes}
    changed_bbq = {(c.suite, c.axis) for c in results.bias.changes if c.probe == BBQ_PROBE}
    rows: list[ChangeRow] = []
    seen: set[tuple[str, str, str]] = set()
    for d in results.bias.disparities:
        key = (d.suite, d.probe, d.metric)
        if key in changed or key in seen:
            continue
        seen.add(key)
        b = index.disparities.get((*key, "base"))
        k = index.disparities.get((*key, "candidate"))
        names = list(dict.fromkeys([*(b.by_group if b else {}), *(k.by_group if k else {})]))
        rows.append(
            _without_base(
                suite=d.suite,
                probe=d.probe,
                value=d.metric,
                axis=d.axis,
                bbq=False,
                base=_num(b.difference) if b else "–",
                candidate=_num(k.difference) if k else "–",
                units=_units(d.units, False),
                confidence=d.confidence,
                groups=[
                    (
                        g,
                        _num(b.by_group.get(g)) if b else None,
                        _num(k.by_group.get(g)) if k else None,
                    )
                    for g in names
                ],
            )
        )
    seen_bbq: set[tuple[str, str]] = set()
    for s in results.bias.bbq:
        axis = f"{s.category}/{s.context_condition}"
        if (s.suite, axis) in changed_bbq or (s.suite, axis) in seen_bbq:
            continue
        seen_bbq.add((s.suite, axis))
        bb = index.bbq.get((s.suite, s.category, s.context_condition, "base"))
        kb = index.bbq.get((s.suite, s.category, s.context_condition, "candidate"))
        rows.append(
            _without_base(
                suite=s.suite,
                probe=BBQ_PROBE,
                value="bias score",
                axis=axis,
                bbq=True,
                base=_bbq_score(bb) if bb else "–",
                candidate=_bbq_score(kb) if kb else "–",
                units=f"{s.n + s.unmatched + s.errors} output(s)",
                confidence=0.95,
                accuracy=_pair(
                    _pct(bb.accuracy) if bb else None, _pct(kb.accuracy) if kb else None
                ),
                unmatched=(bb.unmatched if bb else 0) + (kb.unmatched if kb else 0),
            )
        )
    changed_pairs = {(c.suite, c.axis) for c in results.bias.changes if c.probe == CROWS_PROBE}
    for suite, bias_type in dict.fromkeys((s.suite, s.bias_type) for s in results.bias.pairs):
        if (suite, bias_type) in changed_pairs:
            continue
        pb = index.pairs.get((suite, bias_type, "base"))
        pk = index.pairs.get((suite, bias_type, "candidate"))
        one = pb or pk
        assert one is not None
        rows.append(
            _without_base(
                suite=suite,
                probe=CROWS_PROBE,
                value="stereotype rate",
                axis=bias_type,
                bbq=False,
                crows=True,
                base=_num(pb.stereotype_rate) if pb else "–",
                candidate=_num(pk.stereotype_rate) if pk else "–",
                units=_units(one.n, False, True),
                confidence=one.confidence,
                unmatched=(pb.unmatched if pb else 0) + (pk.unmatched if pk else 0),
            )
        )
    return rows


def _without_base(**fields: Any) -> ChangeRow:
    """A row of one model's values only: the run had no base (or no candidate) for it."""
    return ChangeRow(
        change="n/a",
        interval="",
        why="no base and candidate pair to compare",
        p="n/a",
        finding="no base",
        flagged=False,
        **fields,
    )


def _group_tables(results: Results, changes: Sequence[ChangeRow]) -> list[GroupTable]:
    probes: dict[tuple[str, str], list[Disparity]] = {}
    for d in results.bias.disparities:
        probes.setdefault((d.suite, d.probe), []).append(d)
    flagged = {(r.suite, r.probe, r.value) for r in changes if r.flagged and not r.bbq}
    tables = []
    for (suite, probe), rows in probes.items():
        values = list(dict.fromkeys(d.metric for d in rows))
        by: dict[tuple[str, str], Disparity] = {(d.metric, d.role): d for d in rows}
        groups = list(dict.fromkeys(g for d in rows for g in d.by_group))

        def cell(metric: str, group: str | None, by: dict[tuple[str, str], Disparity] = by) -> str:
            sides: list[str | None] = []
            for role in ("base", "candidate"):
                d = by.get((metric, role))
                if d is None:
                    sides.append(None)
                elif group is None:
                    interval = _ci(d.ci)
                    sides.append(_num(d.difference) + (f" {interval}" if interval else ""))
                else:
                    sides.append(_num(d.by_group.get(group)))
            return _pair(*sides)

        notes = []
        for d in rows:
            if d.dropped:
                notes.append(
                    f"{d.role} {d.metric}: {d.dropped} template(s) left out, a group without "
                    "an output"
                )
        tables.append(
            GroupTable(
                suite=suite,
                probe=probe,
                axis=rows[0].axis,
                values=values,
                rows=[(g, [cell(m, g) for m in values]) for g in groups],
                difference=[cell(m, None) for m in values],
                flagged=[m for m in values if (suite, probe, m) in flagged],
                notes=notes,
            )
        )
    return tables


def _bbq_rows(results: Results, changes: Sequence[ChangeRow], index: _Index) -> list[BbqRow]:
    flagged = {(r.suite, r.axis) for r in changes if r.flagged and r.bbq}
    cells = dict.fromkeys((s.suite, s.category, s.context_condition) for s in results.bias.bbq)
    rows = []
    for suite, category, condition in cells:
        b = index.bbq.get((suite, category, condition, "base"))
        k = index.bbq.get((suite, category, condition, "candidate"))
        rows.append(
            BbqRow(
                suite=suite,
                category=category,
                condition=condition,
                accuracy=_pair(_pct(b.accuracy) if b else None, _pct(k.accuracy) if k else None),
                base_score=_bbq_score(b) if b else "–",
                candidate_score=_bbq_score(k) if k else "–",
                n=_pair(str(b.n) if b else None, str(k.n) if k else None),
                unmatched=_pair(str(b.unmatched) if b else None, str(k.unmatched) if k else None),
                errors=(b.errors if b else 0) + (k.errors if k else 0),
                flagged=(suite, f"{category}/{condition}") in flagged,
            )
        )
    return rows


def _pair_rows(results: Results, changes: Sequence[ChangeRow], index: _Index) -> list[PairRow]:
    flagged = {(r.suite, r.axis) for r in changes if r.flagged and r.crows}
    rows = []
    for suite, bias_type in dict.fromkeys((s.suite, s.bias_type) for s in results.bias.pairs):
        b = index.pairs.get((suite, bias_type, "base"))
        k = index.pairs.get((suite, bias_type, "candidate"))
        methods = [s.method or "–" for s in (b, k) if s is not None]
        rows.append(
            PairRow(
                suite=suite,
                bias_type=bias_type,
                method=methods[0] if len(set(methods)) == 1 else " → ".join(methods),
                base=_rate(b),
                candidate=_rate(k),
                n=_pair(str(b.n) if b else None, str(k.n) if k else None),
                unmatched=_pair(str(b.unmatched) if b else None, str(k.unmatched) if k else None),
                ties=(b.ties if b else 0) + (k.ties if k else 0),
                errors=(b.errors if b else 0) + (k.errors if k else 0),
                flagged=(suite, bias_type) in flagged,
            )
        )
    return rows


def _summary(changes: Sequence[ChangeRow]) -> str:
    compared = [r for r in changes if r.finding != "no base"]
    if not compared:
        return "no base to compare with, so no change: the values of one target only"
    flagged = sum(r.flagged for r in compared)
    return (
        f"{flagged} of {len(compared)} change(s) flagged (fine-tuning added or grew a "
        "bias); change = candidate - base, positive is more biased"
    )


def bias_view(results: Results) -> BiasView | None:
    """The audit's rows, flagged changes first; None when the run has no bias data."""
    bias = results.bias
    if not (bias.changes or bias.disparities or bias.bbq or bias.pairs):
        return None
    index = _Index(results)
    changes = [_change_row(c, index) for c in bias.changes] + _no_base_rows(results, index)
    changes.sort(key=lambda r: not r.flagged)  # stable: results order otherwise
    return BiasView(
        summary=_summary(changes),
        changes=changes,
        groups=_group_tables(results, changes),
        bbq=_bbq_rows(results, changes, index),
        pairs=_pair_rows(results, changes, index),
    )


# -- the console ---------------------------------------------------------------------------


def terminal_name(text: str, limit: int = NAME_LIMIT) -> str:
    """Outside text (a group, a category) as one short inert line for a terminal."""
    return shorten(one_line(text), limit)


def _console(row: ChangeRow) -> str:
    t = terminal_name
    where = f"in {t(row.axis)}" if row.bbq or row.crows else f"across {t(row.axis)}"
    finding = row.finding.upper() if row.flagged else row.finding_text
    base = t(row.base, 120)
    cand = t(row.candidate, 120)
    what = (
        f"BBQ {row.value}"
        if row.bbq
        else f"CrowS-Pairs {row.value}"
        if row.crows
        else f"{t(row.probe)}: {t(row.value)}"
    )
    head = f"bias {t(row.suite)}/{what} {where}: {finding}: "
    if row.finding == "no base":
        sides = f"base {base}" if row.candidate == "–" else f"candidate {cand}"
        text = f"{head}{sides} (no base to compare with); {row.units}"
    else:
        text = (
            f"{head}base {base} -> candidate {cand}, change {t(row.change_text, 160)}, "
            f"p {row.p}; {row.units}"
        )
    if row.accuracy:
        text += f"; accuracy {row.accuracy.replace('→', '->')}"
    if row.unmatched:
        option = "neither sentence" if row.crows else "no option"
        text += f"; {row.unmatched} output(s) matching {option} left out"
    return text


def bias_lines(results: Results) -> list[str]:
    """The bias audit in lines safe for a terminal; empty when the run has no bias data.

    A summary line, then one line a change (flagged first: ADDED, GREW), and the per-group
    values under each flagged disparity."""
    view = bias_view(results)
    if view is None:
        return []
    lines = [f"bias audit: {view.summary}"]
    for row in view.changes:
        lines.append(_console(row))
        if row.groups and (row.flagged or row.finding == "no base"):
            shown = ", ".join(
                f"{terminal_name(g)} {_pair(b, c).replace('→', '->')}" for g, b, c in row.groups
            )
            compared = " (base -> candidate)" if row.finding != "no base" else ""
            lines.append(f"  per group{compared}: {shown}")
    return lines
