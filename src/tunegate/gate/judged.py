"""Rules on judged checks and the suite's `min_judge_agreement`.

A judged check's verdicts are only as good as the judge. A suite may ask for evidence that
the judge agrees with people before its judgement gates: with `min_judge_agreement` set, a
gate rule whose metric is a judged check gates only while the judge's agreement with the
imported human ratings of that check clears the bar, over at least MIN_JUDGE_RATINGS rated
outputs. Below it, with fewer ratings or none, the rule is still evaluated and shown, but it
reports only: its row has `gating` False, says why, and does not count towards the
verdict. The statistic is Cohen's kappa of the pass/fail labels; when kappa is
undefined (every output got the same label from both the judge and the people, so chance
explains all agreement) the raw agreement is used instead, so a judge that is right on a
suite where everything passes is not held back forever. docs/review.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..metrics import get_metric
from ..metrics.judging import is_judged
from ..results import Agreement, GateResult, Record
from ..suite import Suite

__all__ = [
    "MIN_JUDGE_RATINGS",
    "agreement_clears",
    "agreement_statistic",
    "judged_checks",
    "reporting_only",
]

# Below this many rated outputs a judge's agreement unlocks nothing: a raw agreement of 0.9
# has the 95% interval [0.60, 0.98] over 10 outputs, [0.74, 0.97] over 30, and kappa swings
# with each rating. Fixed, not a suite key: a floor, documented in docs/review.md.
MIN_JUDGE_RATINGS = 30
_WOULD = {"passed": "would pass", "failed": "would fail", "inconclusive": "is inconclusive"}


def judged_checks(suite: Suite, records: Sequence[Record] = ()) -> frozenset[str]:
    """Names of the suite's checks that the judge scores: from its cases, and from the
    scores its records carry (a run may hold checks its suite object does not list)."""
    names = {c.name for case in suite.cases for c in case.checks if _judged(c.metric)}
    names |= {
        name
        for r in records
        if r.suite == suite.name
        for name, s in r.scores.items()
        if _judged(s.metric)
    }
    return frozenset(names)


def _judged(metric: str) -> bool:
    return is_judged(get_metric(metric))


def agreement_statistic(agreement: Agreement) -> tuple[str, float] | None:
    """What `min_judge_agreement` is compared with: ("kappa", value), or ("raw agreement",
    value) when kappa is undefined; None without ratings."""
    if agreement.n == 0:
        return None
    if agreement.kappa is not None:
        return "kappa", agreement.kappa
    if agreement.raw_agreement is not None:
        return "raw agreement", agreement.raw_agreement
    return None


def agreement_clears(agreement: Agreement | None, minimum: float | None) -> bool:
    """Whether a judged check may gate: no minimum set, or its agreement reaches it over at
    least MIN_JUDGE_RATINGS rated outputs."""
    if minimum is None:
        return True
    found = None if agreement is None else agreement_statistic(agreement)
    return (
        agreement is not None
        and agreement.n >= MIN_JUDGE_RATINGS
        and found is not None
        and found[1] >= minimum
    )


def _stale(agreement: Agreement | None) -> str:
    if agreement is None or not agreement.stale:
        return ""
    return (
        f"; {agreement.stale} rated output(s) left out: they or their prompt changed since "
        "they were rated"
    )


def _why_not(check: str, agreement: Agreement | None, minimum: float) -> tuple[str, str]:
    """Why the rule may not gate: the short reason (in parentheses after "reports only")
    and what to do."""
    rate = "rate its outputs: tunegate review export, then review import"
    found = None if agreement is None else agreement_statistic(agreement)
    if agreement is None or found is None:
        return (
            f"no human ratings of the judged check '{check}' match this run's outputs"
            f"{_stale(agreement)}",
            f"min_judge_agreement {minimum:g} needs at least {MIN_JUDGE_RATINGS} rated outputs; "
            f"{rate}",
        )
    name, value = found
    if agreement.n < MIN_JUDGE_RATINGS:
        return (
            f"judge agreement on '{check}' rests on {agreement.n} rated output(s), fewer "
            f"than the {MIN_JUDGE_RATINGS} min_judge_agreement needs{_stale(agreement)}",
            f"{name} {value:.2f} over so few says little; {rate}",
        )
    return (
        f"judge agreement {value:.2f} below {minimum:g}",
        f"the judge agrees with people on '{check}' at {name} {value:.2f} over "
        f"{agreement.n} rated output(s), below min_judge_agreement {minimum:g}",
    )


def reporting_only(row: GateResult, agreement: Agreement | None, minimum: float) -> GateResult:
    """The row of a rule on a judged check that may not gate (`agreement_clears` is
    False), rewritten to report only: `gating` False, inconclusive with `on_inconclusive:
    warn` (what readers of older files understand), the rule's own finding kept in its
    detail (and its statistic in its fields)."""
    short, more = _why_not(row.metric, agreement, minimum)
    return row.model_copy(
        update={
            "status": "inconclusive",
            "passed": False,
            "on_inconclusive": "warn",
            "gating": False,
            "detail": f"reports only ({short}), does not gate: {more}; on its own the rule "
            f"{_WOULD[row.status]}: {row.detail}",
        }
    )
