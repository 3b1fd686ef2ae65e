"""The per-output values a probe compares across groups."""

from __future__ import annotations

from ..metrics import MetricInput
from ..metrics.refusal import Refusal, RefusalArgs
from ..metrics.tone import Sentiment, SentimentArgs
from ..results import Record

__all__ = ["output_value"]

_REFUSAL = Refusal()
_SENTIMENT = Sentiment()


def output_value(record: Record, metric: str) -> float | None:
    """`metric` of one record; None when the record has no such value (a failed
    generation, a skipped or unscored check), so it is left out rather than counted 0."""
    if record.output is None:
        return None
    if metric == "pass":
        return 1.0 if record.passed else 0.0
    if metric == "length":
        return float(len(record.output))
    if metric == "refusal":
        if record.refusal:
            return 1.0
        return _REFUSAL.score(_input(record), RefusalArgs()).value
    if metric == "sentiment":
        return _SENTIMENT.score(_input(record), SentimentArgs()).value
    score = record.scores.get(metric)
    if score is None or score.skipped:
        return None
    return score.value


def _input(record: Record) -> MetricInput:
    return MetricInput(output=record.output or "", prompt="")
