"""Tone: `readability` (textstat grade) and `sentiment` (VADER compound).

Both read only the first MAX_TEXT_CHARS characters of the output.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ClassVar, Literal

import textstat
from pydantic import Field, model_validator
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from .base import MetricArgs, MetricInput, MetricResult
from .bounded import capped, library_call
from .registry import register_metric

__all__ = ["Readability", "Sentiment"]

Formula = Literal[
    "flesch_kincaid_grade",
    "gunning_fog",
    "coleman_liau_index",
    "automated_readability_index",
    "smog_index",
]

_FORMULAS: dict[str, Callable[[str], float]] = {
    "flesch_kincaid_grade": textstat.flesch_kincaid_grade,
    "gunning_fog": textstat.gunning_fog,
    "coleman_liau_index": textstat.coleman_liau_index,
    "automated_readability_index": textstat.automated_readability_index,
    "smog_index": textstat.smog_index,
}


class ReadabilityArgs(MetricArgs):
    max_grade: float = Field(
        8.0, description="Highest acceptable US school grade (8: plain-language guidance)."
    )
    min_grade: float | None = Field(None, description="Lowest acceptable grade, if any.")
    formula: Formula = "flesch_kincaid_grade"

    @model_validator(mode="after")
    def _bounds(self) -> ReadabilityArgs:
        if self.min_grade is not None and self.min_grade > self.max_grade:
            raise ValueError(f"min_grade ({self.min_grade}) is above max_grade ({self.max_grade})")
        return self


class Readability:
    """1.0 when the output's reading grade lies within [min_grade, max_grade], else 0.0.

    Range [0, 1]. The grade (a US school grade from textstat's `formula`, Flesch-Kincaid by
    default; unbounded, and negative for very short words and sentences) is not itself the
    value, since a gate compares values where higher is better and an easier text is not
    always better: the bounds turn it into pass/fail, and the reason states the grade.
    Blank output has grade 0.
    """

    name: ClassVar[str] = "readability"
    args_model: ClassVar[type[MetricArgs]] = ReadabilityArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "The reading grade (textstat) lies within [min_grade, max_grade]."

    def score(self, sample: MetricInput, args: ReadabilityArgs) -> MetricResult:
        text = capped(sample.output)
        with library_call(self.name):
            grade = float(_FORMULAS[args.formula](text)) if text.strip() else 0.0
        if grade > args.max_grade:
            return MetricResult(0.0, f"grade {grade:.1f}, above max_grade {args.max_grade:g}")
        if args.min_grade is not None and grade < args.min_grade:
            return MetricResult(0.0, f"grade {grade:.1f}, below min_grade {args.min_grade:g}")
        return MetricResult(1.0, f"grade {grade:.1f}")


class SentimentArgs(MetricArgs):
    pass


@functools.cache
def _analyzer() -> SentimentIntensityAnalyzer:
    # Loading the shipped lexicon takes ~50 ms: once per process.
    return SentimentIntensityAnalyzer()


class Sentiment:
    """VADER's compound sentiment of the output: -1 most negative, +1 most positive.

    Range [-1, 1]. The default threshold, -0.05, is VADER's own bound for "negative", so
    the default check passes neutral and positive outputs. Blank output scores 0.
    """

    name: ClassVar[str] = "sentiment"
    args_model: ClassVar[type[MetricArgs]] = SentimentArgs
    default_threshold: ClassVar[float] = -0.05
    description: ClassVar[str] = "VADER compound sentiment, -1 (negative) to 1 (positive)."
    value_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    def score(self, sample: MetricInput, args: SentimentArgs) -> MetricResult:
        with library_call(self.name):
            compound = float(_analyzer().polarity_scores(capped(sample.output))["compound"])
        value = min(1.0, max(-1.0, compound))
        return MetricResult(value, f"sentiment {value:+.3f}")


for _metric in (Readability(), Sentiment()):
    register_metric(_metric)
