"""Normalised matching: `normalized_match` and `key_points`.

Both compare texts after `normalize`, which makes these equal:

- case (Unicode case folding, after NFKC so full-width and ligature forms fold too);
- punctuation, symbols and whitespace: every run of them is one separator, so
  "Paris!" = "paris" and "New-York" = "new york";
- number formats: a number written with comma thousands separators, trailing decimal
  zeros or leading zeros is its plain value, so "1,000" = "1000", "2.50" = "2.5",
  "15.00" = "15", "007" = "7"; a leading minus sign is kept ("-5" differs from "5").

Not normalised: currency and units ("$15" becomes "15", but "15 dollars" stays two
words), number words ("ten" vs "10"), decimal commas ("2,5"), articles, word order,
spelling, contractions ("don't" is "don t"). Only the first MAX_TEXT_CHARS characters of
an output are read.
"""

from __future__ import annotations

import re
import unicodedata
from typing import ClassVar

from pydantic import Field, field_validator

from .base import MetricArgs, MetricInput, MetricResult
from .bounded import capped
from .registry import register_metric

__all__ = ["KeyPoints", "NormalizedMatch", "normalize"]

# A number (ASCII digits, optional comma groups of three, optional decimals, optional
# minus not glued to a word: "2-3" is two numbers), or a run of letters and digits.
_TOKEN = re.compile(
    r"(?P<num>(?<![^\W_])-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?)|(?P<word>[^\W_]+)"
)


def _number(text: str) -> str:
    # Plain string rules rather than Decimal, whose context rounds past 28 digits.
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, fraction = digits.replace(",", "").partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    plain = f"{whole}.{fraction}" if fraction else whole
    return "0" if plain == "0" else sign + plain  # "-0", "0.00" and "0" are one value


def tokens(text: str) -> list[str]:
    """The normalised tokens of `text` (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    for match in _TOKEN.finditer(folded):
        num = match.group("num")
        out.append(_number(num) if num is not None else match.group("word"))
    return out


def normalize(text: str) -> str:
    """`text` as `normalized_match` compares it: normalised tokens joined by one space."""
    return " ".join(tokens(capped(text)))


class NormalizedMatchArgs(MetricArgs):
    text: str | list[str] | None = Field(
        None,
        description="Accepted answer(s); the output must equal one after normalisation. "
        "Defaults to the case's reference.",
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is None:
            return None
        answers = [value] if isinstance(value, str) else value
        if not answers:
            raise ValueError("give at least one accepted answer")
        for answer in answers:
            if not normalize(answer):
                raise ValueError(
                    f"{answer!r} is empty once normalised (only punctuation or spaces), "
                    "so it would match only empty output"
                )
        return value

    def missing_input(self, *, reference: str | None) -> str | None:
        if self.text is None and reference is None:
            return (
                "normalized_match has nothing to compare with: set args.text or give "
                "the case a reference"
            )
        return None


class NormalizedMatch:
    """1.0 when the normalised output equals a normalised accepted answer, else 0.0.

    Range [0, 1]. Accepted answers are `args.text` (one or a list) or the case's reference.
    Normalisation: case, punctuation, whitespace and number formats (see `tunegate.metrics.
    match`). Identical texts score 1; the score does not change with case or spacing.
    """

    name: ClassVar[str] = "normalized_match"
    args_model: ClassVar[type[MetricArgs]] = NormalizedMatchArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = (
        "The output equals `text` (or the reference) ignoring case, punctuation, whitespace "
        "and number formats."
    )

    def score(self, sample: MetricInput, args: NormalizedMatchArgs) -> MetricResult:
        wanted = args.text if args.text is not None else sample.reference
        if wanted is None:
            return MetricResult(0.0, "no expected text: set args.text or the case's reference")
        answers = [wanted] if isinstance(wanted, str) else wanted
        got = normalize(sample.output)
        if any(got == normalize(answer) for answer in answers):
            return MetricResult(1.0)
        return MetricResult(0.0, f"normalised output {got[:200]!r} matches no accepted answer")


class KeyPointsArgs(MetricArgs):
    points: list[str | list[str]] = Field(
        min_length=1,
        description="The facts the output must state; each is one phrase or a list of "
        "accepted variants, matched as whole normalised words.",
    )

    @field_validator("points")
    @classmethod
    def _variants(cls, value: list[str | list[str]]) -> list[str | list[str]]:
        for i, point in enumerate(value):
            variants = [point] if isinstance(point, str) else point
            if not variants:
                raise ValueError(f"point {i + 1} has no variants")
            for variant in variants:
                if not normalize(variant):
                    # An empty phrase is found in every output: the point would always count.
                    raise ValueError(
                        f"point {i + 1}: {variant!r} is empty once normalised "
                        "(only punctuation or spaces)"
                    )
        return value


def _covers(haystack: str, variant: str) -> bool:
    # Padded with spaces so "45" is not found inside "145": whole normalised words only.
    return f" {normalize(variant)} " in haystack


class KeyPoints:
    """The share of key points the output states: covered points / all points.

    Range [0, 1]. A point is covered when any of its variants appears in the output as a
    run of whole words, both normalised as in `normalized_match` (so "1,000 days" covers
    the variant "1000 days"). Adding text to an output never lowers its score.
    """

    name: ClassVar[str] = "key_points"
    args_model: ClassVar[type[MetricArgs]] = KeyPointsArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "The share of `points` (each with accepted variants) stated."

    def score(self, sample: MetricInput, args: KeyPointsArgs) -> MetricResult:
        haystack = f" {normalize(sample.output)} "
        missing: list[str] = []
        for point in args.points:
            variants = [point] if isinstance(point, str) else point
            if not any(_covers(haystack, v) for v in variants):
                missing.append(variants[0])
        value = (len(args.points) - len(missing)) / len(args.points)
        return MetricResult(value, f"missing {missing!r}" if missing else "")


for _metric in (NormalizedMatch(), KeyPoints()):
    register_metric(_metric)
