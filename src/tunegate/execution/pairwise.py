"""Pairwise preference: base against candidate on each case, judged in both orders.

The orders run concurrently and each verdict is cached like any judged check, so a rerun
asks nothing. Agreement of the two orders is the control: a judge that always prefers
the first answer names a different winner in each order, so every pair is a tie and the
position-bias rate is 100%.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..metrics import get_metric
from ..metrics.judging import JudgeError
from ..metrics.pairwise import PairwiseMetric, Preference, ask_preference
from ..results import PairwiseSummary, PairwiseVerdict, Record
from ..safe_text import clean_text, shorten
from ..stats import z_for
from ..stats.intervals import wilson_at
from ..suite import Case
from .judge import JudgeRunner
from .scoring import NO_JUDGE, check_sha, is_pairwise

__all__ = ["judge_pairs", "summarize_pairs"]

_SIDE = {"first": {"A": "base", "B": "candidate"}, "second": {"A": "candidate", "B": "base"}}


def _pairwise_checks(case: Case) -> list[Any]:
    return [c for c in case.checks if is_pairwise(get_metric(c.metric))]


async def judge_pairs(
    cases: Sequence[Case], records: Sequence[Record], judge: JudgeRunner | None
) -> list[PairwiseVerdict]:
    """One verdict per (case, sample, pairwise check) where both sides have an output."""
    outputs: dict[tuple[str, str, int, str], Record] = {
        (r.suite, r.case_id, r.sample, r.role): r for r in records
    }
    work = []
    for case in cases:
        for check in _pairwise_checks(case):
            for sample in range(case.repeats):
                base = outputs.get((case.suite, case.id, sample, "base"))
                cand = outputs.get((case.suite, case.id, sample, "candidate"))
                if base is None or cand is None:
                    continue  # no base target: nothing to compare
                work.append(_judge_pair(case, check, sample, base, cand, judge))
    return list(await asyncio.gather(*work))


async def _judge_pair(
    case: Case, check: Any, sample: int, base: Record, cand: Record, judge: JudgeRunner | None
) -> PairwiseVerdict:
    def verdict(**fields: Any) -> PairwiseVerdict:
        return PairwiseVerdict(
            suite=case.suite,
            case_id=case.id,
            sample=sample,
            check=check.name,
            base_chars=len(base.output or ""),
            candidate_chars=len(cand.output or ""),
            check_sha=check_sha(check),
            **fields,
        )

    if base.output is None or cand.output is None:
        return verdict(
            winner=None, consistent=None, verdicts=[None, None], error="an output is missing"
        )
    if judge is None:
        return verdict(winner=None, consistent=None, verdicts=[None, None], error=NO_JUDGE)
    criteria = check.args.criteria
    orders = [("first", base.output, cand.output), ("second", cand.output, base.output)]
    answers = await asyncio.gather(
        *(_one_order(judge, case.prompt, a, b, criteria) for _, a, b in orders),
        return_exceptions=True,
    )
    said: list[str | None] = []
    reasons: list[str] = []
    errors: list[str] = []
    for (order, _, _), answer in zip(orders, answers, strict=True):
        if isinstance(answer, JudgeError):
            said.append(None)
            errors.append(str(answer) + (f" (answer: {answer.raw})" if answer.raw else ""))
        elif isinstance(answer, BaseException):
            raise answer
        else:
            choice, reason = answer
            said.append("tie" if choice == "tie" else _SIDE[order][choice])
            if reason:
                reasons.append(shorten(clean_text(reason), 500))
    if None in said:
        return verdict(
            winner=None,
            consistent=None,
            verdicts=said,
            reasons=reasons,
            error=shorten(clean_text("; ".join(errors)), 1000),
        )
    consistent = said[0] == said[1]
    return verdict(
        winner=said[0] if consistent else "tie",
        consistent=consistent,
        verdicts=said,
        reasons=reasons,
    )


async def _one_order(
    judge: JudgeRunner, prompt: str, first: str, second: str, criteria: str
) -> tuple[Preference, str]:
    content = {"prompt": prompt, "first": first, "second": second, "criteria": criteria}

    async def ask() -> dict[str, Any]:
        choice, reason = await ask_preference(judge.judge, prompt, first, second, criteria)
        return {"winner": choice, "reason": reason}

    found = await judge.verdict(PairwiseMetric.name, PairwiseMetric.prompt_version, content, ask)
    return found["winner"], str(found.get("reason", ""))


def summarize_pairs(
    verdicts: Sequence[PairwiseVerdict], *, seed: int = 20240613
) -> list[PairwiseSummary]:
    groups: dict[tuple[str, str], list[PairwiseVerdict]] = {}
    for v in verdicts:
        groups.setdefault((v.suite, v.check), []).append(v)
    return [_summary(suite, check, group, seed) for (suite, check), group in groups.items()]


def _summary(suite: str, check: str, group: list[PairwiseVerdict], seed: int) -> PairwiseSummary:
    judged = [v for v in group if v.winner is not None]
    wins = sum(v.winner == "candidate" for v in judged)
    losses = sum(v.winner == "base" for v in judged)
    ties = len(judged) - wins - losses
    n = len(judged)
    decided = [v for v in judged if v.winner != "tie"]
    length_bias = (
        float(
            np.mean(
                [
                    (v.candidate_chars - v.base_chars) * (1 if v.winner == "candidate" else -1)
                    for v in decided
                ]
            )
        )
        if decided
        else None
    )
    return PairwiseSummary(
        suite=suite,
        check=check,
        pairs=n,
        candidate_wins=wins,
        base_wins=losses,
        ties=ties,
        errors=len(group) - n,
        position_bias_rate=(sum(not v.consistent for v in judged) / n) if n else None,
        win_rate=(wins + 0.5 * ties) / n if n else None,
        win_rate_ci=_win_rate_interval(judged, seed),
        length_bias=length_bias,
    )


def _win_rate_interval(judged: list[PairwiseVerdict], seed: int) -> list[float] | None:
    """95% percentile bootstrap (scipy) over cases; a case's value is the mean over its
    samples of 1 (candidate), 0.5 (tie) or 0 (base). Wilson's interval when the cases show
    no spread (one case, or all alike); None only without a judged pair."""
    from scipy.stats import bootstrap

    per_case: dict[str, list[float]] = {}
    points = {"candidate": 1.0, "tie": 0.5, "base": 0.0}
    for v in judged:
        per_case.setdefault(v.case_id, []).append(points[v.winner or "tie"])
    values = np.array([np.mean(vs) for vs in per_case.values()])
    if values.size == 0:
        return None
    if np.all(values == values[0]):
        # No spread (always so for one case): the bootstrap would claim a zero-width
        # interval. Wilson's interval on the same share says what so few cases can and
        # cannot show: one case gives a wide one, not none, so a reader sees how little it
        # shows rather than a bare win rate. Cases, not samples, are the unit: samples of
        # one case are not independent. The closed form takes the share as it is (ties
        # count a half, so not rounded).
        low, high = wilson_at(float(values.sum()), int(values.size), z_for(0.95))
        return [low, high]
    result = bootstrap(
        (values,),
        np.mean,
        n_resamples=9999,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return [float(low), float(high)]
