"""Deterministic text metrics. Each returns 1.0/0.0, or the fraction satisfied for lists."""

from __future__ import annotations

import functools
from typing import ClassVar, Literal

import regex
from pydantic import Field, field_validator, model_validator

from .base import MetricArgs, MetricError, MetricInput, MetricResult
from .regex_limits import check_pattern
from .registry import register_metric

__all__ = ["Contains", "Exact", "Length", "NonEmpty", "NotContains", "Regex"]

# A user's pattern runs on untrusted output; some patterns backtrack for hours (^(a|a)+$).
REGEX_TIMEOUT = 1.0
REGEX_MAX_TIMEOUT = 10.0


def _norm(text: str, ignore_case: bool) -> str:
    return text.casefold() if ignore_case else text


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class ExactArgs(MetricArgs):
    text: str | None = Field(None, description="Expected output; defaults to the case's reference.")
    ignore_case: bool = False
    strip: bool = True

    def missing_input(self, *, reference: str | None) -> str | None:
        if self.text is None and reference is None:
            return "exact has nothing to compare with: set args.text or give the case a reference"
        return None


class Exact:
    name: ClassVar[str] = "exact"
    args_model: ClassVar[type[MetricArgs]] = ExactArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "The output equals `text` (or the reference)."

    def score(self, sample: MetricInput, args: ExactArgs) -> MetricResult:
        expected = args.text if args.text is not None else sample.reference
        if expected is None:
            return MetricResult(0.0, "no expected text: set args.text or the case's reference")
        got = sample.output.strip() if args.strip else sample.output
        want = expected.strip() if args.strip else expected
        if _norm(got, args.ignore_case) == _norm(want, args.ignore_case):
            return MetricResult(1.0)
        return MetricResult(0.0, f"expected exactly {want!r}")


class ContainsArgs(MetricArgs):
    text: str | list[str] | None = Field(
        None, description="Text(s) that must appear; defaults to the case's reference."
    )
    mode: Literal["all", "any"] = "all"
    ignore_case: bool = True

    @field_validator("text")
    @classmethod
    def _non_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        return None if value is None else _no_empty_text(value)

    def missing_input(self, *, reference: str | None) -> str | None:
        if self.text is None and reference is None:
            return "contains has no text to look for: set args.text or give the case a reference"
        return None


def _no_empty_text(value: str | list[str]) -> str | list[str]:
    # An empty needle is found in every output: `contains` would always pass and
    # `not_contains` always fail.
    if not _as_list(value) or any(t == "" for t in _as_list(value)):
        raise ValueError("text must not be empty, nor hold an empty string")
    return value


class Contains:
    name: ClassVar[str] = "contains"
    args_model: ClassVar[type[MetricArgs]] = ContainsArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "The output contains the text(s); value is the share found."

    def score(self, sample: MetricInput, args: ContainsArgs) -> MetricResult:
        wanted = args.text if args.text is not None else sample.reference
        if wanted is None:
            return MetricResult(0.0, "no text to look for: set args.text or the case's reference")
        needles = _as_list(wanted)
        hay = _norm(sample.output, args.ignore_case)
        found = [n for n in needles if _norm(n, args.ignore_case) in hay]
        missing = [n for n in needles if n not in found]
        value = (1.0 if found else 0.0) if args.mode == "any" else len(found) / len(needles)
        reason = "" if not missing or (args.mode == "any" and found) else f"missing {missing!r}"
        return MetricResult(value, reason)


class NotContainsArgs(MetricArgs):
    text: str | list[str] = Field(description="Text(s) that must not appear.")
    ignore_case: bool = True

    @field_validator("text")
    @classmethod
    def _non_empty(cls, value: str | list[str]) -> str | list[str]:
        return _no_empty_text(value)


class NotContains:
    name: ClassVar[str] = "not_contains"
    args_model: ClassVar[type[MetricArgs]] = NotContainsArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "None of the text(s) appear; value is the share absent."

    def score(self, sample: MetricInput, args: NotContainsArgs) -> MetricResult:
        needles = _as_list(args.text)
        hay = _norm(sample.output, args.ignore_case)
        present = [n for n in needles if _norm(n, args.ignore_case) in hay]
        value = 1.0 - len(present) / len(needles)
        return MetricResult(value, f"found forbidden {present!r}" if present else "")


class RegexArgs(MetricArgs):
    pattern: str = Field(
        description="Regular expression (the `regex` package, a superset of Python's `re`), "
        "searched anywhere in the output."
    )
    ignore_case: bool = False
    full_match: bool = False
    negate: bool = False
    timeout: float = Field(
        REGEX_TIMEOUT,
        gt=0,
        le=REGEX_MAX_TIMEOUT,
        description="Seconds one match may take; past it the check is an error, not a pass.",
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        # Bounded before compiling: compiling is where a pattern exhausts memory or the
        # stack (regex_limits). Then the same engine as `score`, so what validates also
        # runs; not cached, so validating many patterns keeps none of them alive.
        check_pattern(value)
        try:
            regex.compile(value, cache_pattern=False)
        except RecursionError:
            raise ValueError("the pattern nests too deeply to compile; flatten it") from None
        except (regex.error, OverflowError, ValueError) as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value


class Regex:
    name: ClassVar[str] = "regex"
    args_model: ClassVar[type[MetricArgs]] = RegexArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "The pattern matches (or, with negate, does not)."

    def score(self, sample: MetricInput, args: RegexArgs) -> MetricResult:
        compiled = _compiled(args.pattern, args.ignore_case)
        match = compiled.fullmatch if args.full_match else compiled.search
        try:
            matched = match(sample.output.strip(), timeout=args.timeout) is not None
        except TimeoutError:
            raise MetricError(
                f"/{args.pattern}/ took over {args.timeout:g} s on this output (nested repeats "
                "such as (a|a)+ backtrack exponentially); simplify the pattern or raise "
                f"args.timeout (at most {REGEX_MAX_TIMEOUT:g})"
            ) from None
        if matched != args.negate:
            return MetricResult(1.0)
        verb = "matched" if args.negate else "did not match"
        return MetricResult(0.0, f"{verb} /{args.pattern}/")


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str, ignore_case: bool) -> regex.Pattern[str]:
    # Our own small cache rather than regex's (500 patterns): a pattern near the size
    # limit keeps about 2 MB alive once compiled.
    return regex.compile(pattern, regex.IGNORECASE if ignore_case else 0, cache_pattern=False)


class LengthArgs(MetricArgs):
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)
    unit: Literal["chars", "words"] = "chars"

    @model_validator(mode="after")
    def _bounds(self) -> LengthArgs:
        if self.min is None and self.max is None:
            raise ValueError("give at least one of min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Length:
    name: ClassVar[str] = "length"
    args_model: ClassVar[type[MetricArgs]] = LengthArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "The output's length in chars or words lies within [min, max]."

    def score(self, sample: MetricInput, args: LengthArgs) -> MetricResult:
        text = sample.output.strip()
        size = len(text.split()) if args.unit == "words" else len(text)
        if args.min is not None and size < args.min:
            return MetricResult(0.0, f"{size} {args.unit}, fewer than {args.min}")
        if args.max is not None and size > args.max:
            return MetricResult(0.0, f"{size} {args.unit}, more than {args.max}")
        return MetricResult(1.0)


class NonEmptyArgs(MetricArgs):
    pass


class NonEmpty:
    """Added to every case by the loader unless the suite sets `allow_empty_output: true`."""

    name: ClassVar[str] = "non_empty"
    args_model: ClassVar[type[MetricArgs]] = NonEmptyArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "The output has a character other than whitespace."

    def score(self, sample: MetricInput, args: NonEmptyArgs) -> MetricResult:
        if sample.output.strip():
            return MetricResult(1.0)
        return MetricResult(0.0, "empty output")


for _metric in (Exact(), Contains(), NotContains(), Regex(), Length(), NonEmpty()):
    register_metric(_metric)
