"""Pair base and candidate records per case: what changed, for the report and pytest."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..results import Record, Results

__all__ = [
    "CaseComparison",
    "SuiteSummary",
    "compare_cases",
    "error_lines",
    "summarize_suites",
    "unreachable_targets",
]

_ATTEMPTS = re.compile(r" \(after \d+ attempt\(s\)\)$")
_SAMPLE = re.compile(r"\bsample \d+\b")


@dataclass
class CaseComparison:
    suite: str
    case_id: str
    base: list[Record] = field(default_factory=list)
    candidate: list[Record] = field(default_factory=list)

    @staticmethod
    def _rate(records: Sequence[Record]) -> float | None:
        """Pass share over the samples that give evidence: an error, or a check that could
        not score, is neither a pass nor a fail (as in the gate)."""
        usable = _usable(records)
        return sum(r.passed for r in usable) / len(usable) if usable else None

    @property
    def base_rate(self) -> float | None:
        return self._rate(self.base)

    @property
    def candidate_rate(self) -> float | None:
        return self._rate(self.candidate)

    @property
    def status(self) -> str:
        """regressed / improved / passing / failing / errored / contaminated / base-only."""
        cand, base = self.candidate_rate, self.base_rate
        if not self.candidate:
            return "base-only"
        if any("contaminated" in r.tags for r in self.candidate):
            return "contaminated"  # found in the training data: shown, never counted
        if cand is None:
            return "errored"
        if base is not None and cand < base:
            return "regressed"
        if base is not None and cand > base:
            return "improved"
        return "passing" if cand == 1.0 else "failing"

    @property
    def failing_checks(self) -> list[str]:
        names: list[str] = []
        for r in self.candidate:
            if r.error:
                names.append("error")
            names.extend(
                n for n, s in r.scores.items() if s.gating and not s.passed and n not in names
            )
        return list(dict.fromkeys(names))


def compare_cases(results: Results) -> list[CaseComparison]:
    by_case: dict[tuple[str, str], CaseComparison] = {}
    for r in results.records:
        comp = by_case.setdefault((r.suite, r.case_id), CaseComparison(r.suite, r.case_id))
        (comp.candidate if r.role == "candidate" else comp.base).append(r)
    return list(by_case.values())


@dataclass(frozen=True)
class SuiteSummary:
    suite: str
    cases: int
    base_pass_rate: float | None
    candidate_pass_rate: float | None
    regressed: int
    improved: int
    gate_passed: bool | None
    gate_detail: str
    gate_status: str | None = None  # passed / failed / inconclusive; None: no rule ran


def summarize_suites(results: Results) -> list[SuiteSummary]:
    comps: dict[str, list[CaseComparison]] = defaultdict(list)
    for comp in compare_cases(results):
        comps[comp.suite].append(comp)
    out = []
    for info in results.suites:
        mine = comps.get(info.name, [])
        base = _usable([r for c in mine for r in c.base])
        cand = _usable([r for c in mine for r in c.candidate])
        gates = [g for g in results.gate if g.suite == info.name]
        out.append(
            SuiteSummary(
                suite=info.name,
                cases=len(mine),
                base_pass_rate=sum(r.passed for r in base) / len(base) if base else None,
                candidate_pass_rate=sum(r.passed for r in cand) / len(cand) if cand else None,
                regressed=sum(c.status == "regressed" for c in mine),
                improved=sum(c.status == "improved" for c in mine),
                gate_passed=all(g.passed for g in gates) if gates else None,
                gate_detail="; ".join(g.detail for g in gates) or "no gate rule",
                gate_status=_suite_status([g.status for g in gates]),
            )
        )
    return out


def _usable(records: Sequence[Record]) -> list[Record]:
    """Samples that count in a pass rate, as in the gate: no error, not a case found in the
    training data (`contaminated`), and either a gating check failed or every gating check
    scored. Skipped judged checks and report-only checks are not gating."""
    return [r for r in records if r.error is None and "contaminated" not in r.tags and _decided(r)]


def _decided(record: Record) -> bool:
    gating = [s for s in record.scores.values() if s.gating]
    failed = any(s.value is not None and not s.passed for s in gating)
    return failed or all(s.value is not None for s in gating)


def _suite_status(statuses: Sequence[str]) -> str | None:
    if not statuses:
        return None
    for status in ("failed", "inconclusive"):
        if status in statuses:
            return status
    return "passed"


def _error_kind(r: Record) -> str:
    """The message with what is particular to this record taken out, so one cause is one
    line however many cases it hit ("no recorded output for case '<case>'")."""
    message = _ATTEMPTS.sub("", r.error or "")
    if r.case_id:
        message = re.sub(rf"(?<![\w.\-]){re.escape(r.case_id)}(?![\w.\-])", "<case>", message)
    return _SAMPLE.sub("sample <n>", message)


def error_lines(results: Results, limit: int = 5) -> list[str]:
    """Failed generations grouped by target and cause: a wrong model id is one line."""
    totals = Counter(r.target for r in results.records)
    failed = [r for r in results.records if r.error is not None]
    groups = Counter((r.target, _error_kind(r)) for r in failed)
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    first: dict[tuple[str, str], str] = {}
    for r in failed:
        key = (r.target, _error_kind(r))
        first.setdefault(key, _ATTEMPTS.sub("", r.error or ""))
        if r.case_id not in examples[key]:
            examples[key].append(r.case_id)
    lines = []
    for (target, message), count in groups.most_common(limit):
        if count == 1:  # one record: its own words say more than the pattern
            message = first[(target, message)]
        line = f"{target}: {count} of {totals[target]} generations failed: {message}"
        if "<case>" in message:
            shown = examples[(target, message)]
            line += f" (cases: {', '.join(shown[:3])}{', …' if len(shown) > 3 else ''})"
        lines.append(line)
    if len(groups) > limit:
        lines.append(f"… and {len(groups) - limit} other kinds of error (see results.json)")
    return lines


def unreachable_targets(results: Results) -> list[str]:
    """Targets whose every generation failed in this run, and the judge when it gave no
    verdict at all (every one it was asked for failed): a verdict without it means nothing."""
    by_target: dict[str, list[bool]] = defaultdict(list)
    for r in results.records:
        by_target[r.target].append(r.error is not None)
    dead = sorted(t for t, failed in by_target.items() if failed and all(failed))
    stats = results.stats
    if results.judge is not None and stats.judged and stats.judge_errors >= stats.judged:
        dead.append(f"the judge {results.judge.name}")
    return dead
