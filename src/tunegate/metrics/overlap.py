"""Overlap with the reference: `rouge_l` (rouge-score), `bleu` and `chrf` (sacrebleu).

Scores come from the libraries, rescaled to [0, 1] (sacrebleu reports 0-100). Each reads
only the first MAX_TEXT_CHARS characters of the output and of each reference: ROUGE-L's
longest common subsequence is quadratic in pure Python.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, ClassVar

import sacrebleu
from pydantic import Field, field_validator

from .base import MetricArgs, MetricInput, MetricResult
from .bounded import capped, library_call
from .registry import register_metric

__all__ = ["Bleu", "Chrf", "RougeL"]


class ReferenceArgs(MetricArgs):
    text: str | list[str] | None = Field(
        None, description="Reference text(s); defaults to the case's reference."
    )

    @field_validator("text")
    @classmethod
    def _some(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one reference")
        return value

    def missing_input(self, *, reference: str | None) -> str | None:
        if self.text is None and reference is None:
            return "no reference to compare with: set args.text or give the case a reference"
        return None


class RougeLArgs(ReferenceArgs):
    stemmer: bool = Field(True, description="Porter-stem English words before matching.")


def _references(sample: MetricInput, args: ReferenceArgs) -> list[str] | None:
    wanted = args.text if args.text is not None else sample.reference
    if wanted is None:
        return None
    return [capped(r) for r in ([wanted] if isinstance(wanted, str) else wanted)]


_NO_REFERENCE = "no reference: set args.text or the case's reference"


@functools.lru_cache(maxsize=2)
def _rouge(stemmer: bool) -> Any:
    # Imported here: rouge-score pulls in nltk, a second of start-up for every command.
    from rouge_score import rouge_scorer

    # rouge-score logs through absl, which calls logging.basicConfig() when the root logger
    # has no handler: every INFO record of the host process (tunegate's own included) would
    # then print to stderr. A handler held on the root for the moment prevents that.
    root = logging.getLogger()
    guard = None if root.handlers else logging.NullHandler()
    if guard is not None:
        root.addHandler(guard)
    try:
        return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stemmer)
    finally:
        if guard is not None:
            root.removeHandler(guard)


class RougeL:
    """ROUGE-L F1 of the output against the reference (the best over several references).

    Range [0, 1]: F1 of precision and recall of the longest common subsequence of tokens,
    as `rouge-score` computes it. Its tokenizer keeps only ASCII letters and digits
    (lower-cased), so text without any scores 0. Symmetric in output and reference;
    identical texts with at least one such token score 1.
    """

    name: ClassVar[str] = "rouge_l"
    args_model: ClassVar[type[MetricArgs]] = RougeLArgs
    default_threshold: ClassVar[float] = 0.5
    description: ClassVar[str] = "ROUGE-L F1 against the reference (rouge-score)."

    def score(self, sample: MetricInput, args: RougeLArgs) -> MetricResult:
        refs = _references(sample, args)
        if refs is None:
            return MetricResult(0.0, _NO_REFERENCE)
        output = capped(sample.output)
        with library_call(self.name):
            value = max(_rouge(args.stemmer).score(r, output)["rougeL"].fmeasure for r in refs)
        return MetricResult(value, f"ROUGE-L F1 {value:.3f}")


class Bleu:
    """Sentence BLEU of the output against the reference(s), divided by 100.

    Range [0, 1]. sacrebleu's `sentence_bleu` with its defaults: 13a tokenization,
    exponential smoothing and effective order, so short identical texts score 1. Not
    symmetric (the brevity penalty looks at the output's length only).
    """

    name: ClassVar[str] = "bleu"
    args_model: ClassVar[type[MetricArgs]] = ReferenceArgs
    default_threshold: ClassVar[float] = 0.3
    description: ClassVar[str] = "Sentence BLEU against the reference (sacrebleu), 0-1."

    def score(self, sample: MetricInput, args: ReferenceArgs) -> MetricResult:
        return _sacrebleu(self.name, "BLEU", sacrebleu.sentence_bleu, sample, args)


class Chrf:
    """chrF (character n-gram F-score, beta 2) against the reference(s), divided by 100.

    Range [0, 1]. sacrebleu's `sentence_chrf` with its defaults (character 6-grams,
    whitespace ignored). Works for any script; identical non-blank texts score 1.
    """

    name: ClassVar[str] = "chrf"
    args_model: ClassVar[type[MetricArgs]] = ReferenceArgs
    default_threshold: ClassVar[float] = 0.5
    description: ClassVar[str] = "chrF against the reference (sacrebleu), 0-1."

    def score(self, sample: MetricInput, args: ReferenceArgs) -> MetricResult:
        return _sacrebleu(self.name, "chrF", sacrebleu.sentence_chrf, sample, args)


def _sacrebleu(
    name: str, label: str, sentence_score: Any, sample: MetricInput, args: ReferenceArgs
) -> MetricResult:
    """A sacrebleu sentence score of the output against the references, scaled to [0, 1]."""
    refs = _references(sample, args)
    if refs is None:
        return MetricResult(0.0, _NO_REFERENCE)
    with library_call(name):
        value = sentence_score(capped(sample.output), refs).score / 100.0
    return MetricResult(_unit(value), f"{label} {value:.3f}")


def _unit(value: float) -> float:
    # sacrebleu gives 100.00000000000004 for identical texts: keep the declared range.
    return min(1.0, max(0.0, value))


for _metric in (RougeL(), Bleu(), Chrf()):
    register_metric(_metric)
