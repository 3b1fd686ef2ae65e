"""Apply each case's checks to each generation."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from ..metrics import MetricError, MetricInput, MetricResult, get_metric
from ..results import CheckScore
from ..safe_text import clean_text, shorten
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
            if not isinstance(result, MetricResult):
                raise MetricError(f"the metric returned {type(result).__name__}, not a result")
        except MetricError as exc:  # the metric could not score this output: said why
            scores[check.name] = _unscored(check, str(exc))
            continue
        except Exception as exc:  # a metric failing on one output is data, like a provider
            scores[check.name] = _unscored(check, f"metric failed: {type(exc).__name__}: {exc}")
            continue
        passed = result.value >= check.threshold
        scores[check.name] = CheckScore(
            metric=check.metric,
            value=result.value,
            passed=passed,
            threshold=check.threshold,
            weight=check.weight,
            reason=None if passed else (clean_text(result.reason) or None),
        )
    return scores


def _unscored(check: ResolvedCheck, reason: str) -> CheckScore:
    return CheckScore(
        metric=check.metric,
        value=None,
        passed=False,
        threshold=check.threshold,
        weight=check.weight,
        reason=shorten(clean_text(reason), 500),
    )


def weighted_score(scores: Sequence[CheckScore]) -> float | None:
    weighted = [(s.value, s.weight) for s in scores if s.value is not None]
    total = sum(w for _, w in weighted)
    if not weighted or total == 0:
        return None
    return sum(v * w for v, w in weighted) / total
