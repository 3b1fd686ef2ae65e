"""Apply each case's checks to each generation."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from ..metrics import MetricInput, MetricResult, get_metric
from ..results import CheckScore
from ..suite import Case, ResolvedCheck

__all__ = ["score_output", "weighted_score"]


async def score_output(case: Case, output: str) -> dict[str, CheckScore]:
    sample = MetricInput(
        output=output,
        prompt=case.prompt,
        reference=case.reference,
        context=case.context,
        vars=case.vars,
    )
    scores: dict[str, CheckScore] = {}
    for check in case.checks:
        metric = get_metric(check.metric)
        if metric is None:  # the loader rejects unknown metrics; a plugin may have vanished
            scores[check.name] = _unscored(check, f"metric '{check.metric}' is not installed")
            continue
        try:
            result = metric.score(sample, check.args)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # a metric failing on one output is data, like a provider
            scores[check.name] = _unscored(check, f"metric failed: {type(exc).__name__}: {exc}")
            continue
        assert isinstance(result, MetricResult)
        passed = result.value >= check.threshold
        scores[check.name] = CheckScore(
            metric=check.metric,
            value=result.value,
            passed=passed,
            threshold=check.threshold,
            weight=check.weight,
            reason=None if passed else (result.reason or None),
        )
    return scores


def _unscored(check: ResolvedCheck, reason: str) -> CheckScore:
    return CheckScore(
        metric=check.metric,
        value=None,
        passed=False,
        threshold=check.threshold,
        weight=check.weight,
        reason=reason,
    )


def weighted_score(scores: Sequence[CheckScore]) -> float | None:
    weighted = [(s.value, s.weight) for s in scores if s.value is not None]
    total = sum(w for _, w in weighted)
    if not weighted or total == 0:
        return None
    return sum(v * w for v, w in weighted) / total
