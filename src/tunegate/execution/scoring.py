"""Apply each case's checks to each generation; judged checks go to the judge."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..metrics import MetricError, MetricInput, MetricResult, get_metric
from ..metrics.judging import JudgeError, is_judged
from ..results import CheckScore
from ..safe_text import clean_text, shorten
from ..suite import Case, ResolvedCheck
from .store import content_key

if TYPE_CHECKING:
    from .judge import JudgeRunner

__all__ = [
    "NO_JUDGE",
    "is_pairwise",
    "metric_input",
    "record_passed",
    "score_output",
    "weighted_score",
]

NO_JUDGE = "skipped: no judge configured"


def check_sha(check: ResolvedCheck) -> str:
    """The sha256 of what a judged check asks (metric and arguments): a person's rating of
    its verdicts answers that question, and no longer counts once it changes."""
    return content_key({"metric": check.metric, "args": check.args.model_dump(mode="json")})


def is_pairwise(metric: Any) -> bool:
    """A check that compares base and candidate on a case: scored per pair, not per output."""
    return bool(getattr(metric, "pairwise", False))


def metric_input(case: Case, output: str) -> MetricInput:
    return MetricInput(
        output=output,
        prompt=case.prompt,
        reference=case.reference,
        context=case.context,
        vars=case.vars,
    )


async def score_output(
    case: Case, output: str, judge: JudgeRunner | None = None
) -> dict[str, CheckScore]:
    sample = metric_input(case, output)
    scores: dict[str, CheckScore] = {}
    for check in case.checks:
        metric = get_metric(check.metric)
        if metric is None:  # the loader rejects unknown metrics; a plugin may have vanished
            scores[check.name] = _unscored(check, f"metric '{check.metric}' is not installed")
            continue
        if is_pairwise(metric):
            continue  # results.pairwise
        if is_judged(metric) and judge is None:
            scores[check.name] = _unscored(check, NO_JUDGE, skipped=True)
            continue
        try:
            if is_judged(metric):
                assert judge is not None
                result: Any = await judge.score(metric, sample, check.args)  # type: ignore[arg-type]
            else:
                result = metric.score(sample, check.args)
                if inspect.isawaitable(result):
                    result = await result
            if not isinstance(result, MetricResult):
                raise MetricError(f"the metric returned {type(result).__name__}, not a result")
        except JudgeError as exc:  # no usable verdict: an error, with the answer kept
            scores[check.name] = _unscored(check, str(exc), raw=exc.raw)
            continue
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
            report_only=check.report_only,
            check_sha=check_sha(check) if is_judged(metric) else None,
            # A judge's reason is worth reading either way; other metrics explain failures.
            reason=(clean_text(result.reason) or None if is_judged(metric) or not passed else None),
        )
    return scores


def _unscored(
    check: ResolvedCheck, reason: str, *, skipped: bool = False, raw: str | None = None
) -> CheckScore:
    metric = get_metric(check.metric)
    judged = metric is not None and is_judged(metric)
    return CheckScore(
        metric=check.metric,
        value=None,
        passed=False,
        threshold=check.threshold,
        weight=check.weight,
        reason=shorten(clean_text(reason), 500),
        skipped=skipped,
        report_only=check.report_only,
        judge_raw=None if raw is None else clean_text(raw),
        # Rated while skipped or failed, a judged check's rating counts once a judge answers.
        check_sha=check_sha(check) if judged else None,
    )


def weighted_score(scores: Sequence[CheckScore]) -> float | None:
    weighted = [(s.value, s.weight) for s in scores if s.value is not None]
    total = sum(w for _, w in weighted)
    if not weighted or total == 0:
        return None
    return sum(v * w for v, w in weighted) / total


def record_passed(scores: Sequence[CheckScore]) -> bool:
    """Every gating check passed: a skipped check (no judge) is no evidence either way, and
    a report-only check is shown, not counted."""
    return all(s.passed for s in scores if s.gating)
