"""Deterministic text metrics: examples plus property tests of their invariants."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tunegate.metrics import (
    MetricError,
    MetricInput,
    MetricResult,
    get_metric,
    metric_names,
    value_range,
)


def score(name: str, output: str, reference: str | None = None, **args: object) -> float:
    metric = get_metric(name)
    assert metric is not None
    result = metric.score(
        MetricInput(output=output, prompt="p", reference=reference),
        metric.args_model.model_validate(args),
    )
    return result.value  # type: ignore[union-attr]


def test_builtins_are_registered() -> None:
    assert {"exact", "contains", "not_contains", "regex", "length", "non_empty"} <= set(
        metric_names()
    )


def test_examples() -> None:
    assert score("exact", "  Paris \n", text="Paris") == 1.0
    assert score("exact", "paris", text="Paris") == 0.0
    assert score("exact", "paris", text="Paris", ignore_case=True) == 1.0
    assert score("exact", "Paris", reference="Paris") == 1.0
    assert score("contains", "We open at 10AM", text="10am") == 1.0
    assert score("contains", "45 days", text=["45", "receipt"]) == 0.5
    assert score("contains", "45 days", text=["45", "receipt"], mode="any") == 1.0
    assert score("contains", "it is 45", reference="45") == 1.0
    assert score("not_contains", "As an AI, I", text=["as an ai", "model"]) == 0.5
    assert score("regex", "Yes, you can.", pattern=r"^\W*yes\b", ignore_case=True) == 1.0
    assert score("regex", "No.", pattern=r"^\W*yes\b", ignore_case=True) == 0.0
    assert score("regex", "SHOUT", pattern=r"[A-Z]{5}", negate=True) == 0.0
    assert score("length", "one two three", max=2, unit="words") == 0.0
    assert score("length", "one two", min=2, max=2, unit="words") == 1.0
    assert score("length", "abc", min=4) == 0.0


texts = st.text(max_size=40)


@given(texts, texts, texts)
def test_contains_finds_any_inserted_text(before: str, needle: str, after: str) -> None:
    if needle:
        assert score("contains", before + needle + after, text=needle, ignore_case=False) == 1.0


@given(texts, st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4))
def test_contains_and_not_contains_are_complements(output: str, needles: list[str]) -> None:
    present = score("contains", output, text=needles, ignore_case=False)
    absent = score("not_contains", output, text=needles, ignore_case=False)
    assert 0.0 <= present <= 1.0 and 0.0 <= absent <= 1.0
    if len(set(needles)) == len(needles):
        assert abs(present + absent - 1.0) < 1e-9


@given(texts, st.integers(0, 50), st.integers(0, 50))
def test_length_is_monotone_in_its_bounds(output: str, low: int, high: int) -> None:
    lo, hi = min(low, high), max(low, high)
    inside = score("length", output, min=lo, max=hi)
    assert inside == (1.0 if lo <= len(output.strip()) <= hi else 0.0)
    if inside:
        assert score("length", output, min=max(lo - 1, 0), max=hi + 1) == 1.0


@given(texts)
def test_exact_matches_itself_and_regex_negation_flips(output: str) -> None:
    assert score("exact", output, text=output) == 1.0
    plain = score("regex", output, pattern="a")
    assert score("regex", output, pattern="a", negate=True) == 1.0 - plain


def test_a_registered_metric_is_usable_from_a_suite(tmp_path: Path) -> None:
    from tunegate import load_suite
    from tunegate.metrics import MetricArgs, MetricResult, register_metric

    class ShoutArgs(MetricArgs):
        min_ratio: float = 0.5

    class Shout:
        name: ClassVar[str] = "shout"
        args_model: ClassVar[type[MetricArgs]] = ShoutArgs
        default_threshold: ClassVar[float] = 1.0
        description: ClassVar[str] = "mostly capitals"

        def score(self, sample: MetricInput, args: ShoutArgs) -> MetricResult:
            letters = [c for c in sample.output if c.isalpha()]
            ratio = sum(c.isupper() for c in letters) / max(len(letters), 1)
            return MetricResult(1.0 if ratio >= args.min_ratio else 0.0)

    register_metric(Shout())
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ncases:\n  - {id: a, prompt: p, checks: [{metric: shout}]}\n")
    suite = load_suite(path)
    assert suite.cases[0].checks[0].metric == "shout"
    assert score("shout", "HELLO there") == 1.0


def test_non_empty_fails_empty_and_whitespace_output() -> None:
    assert score("non_empty", "ok") == 1.0
    metric = get_metric("non_empty")
    assert metric is not None
    result = metric.score(MetricInput(output=" \n\t ", prompt="p"), metric.args_model())
    assert result == MetricResult(0.0, "empty output")  # type: ignore[comparison-overlap]


def test_regex_uses_an_engine_that_stops() -> None:
    # ^(a|a)+$ on 40 a's and a "!" backtracks for hours with Python's re.
    metric = get_metric("regex")
    assert metric is not None
    args = metric.args_model.model_validate({"pattern": "^(a|a)+$", "timeout": 0.2})
    started = time.perf_counter()
    with pytest.raises(MetricError, match=r"took over 0.2 s on this output"):
        metric.score(MetricInput(output="a" * 40 + "!", prompt="p"), args)
    assert time.perf_counter() - started < 2


def test_regex_validation_and_matching_share_the_engine() -> None:
    # \p{L} is valid for the regex package (and invalid for re): what validates, runs.
    assert score("regex", "été", pattern=r"^\p{L}+$") == 1.0
    metric = get_metric("regex")
    assert metric is not None
    for bad in (
        {"pattern": "a{99999999999999}"},
        {"pattern": "a", "timeout": 0},
        {"pattern": "a", "timeout": 11},
        {"pattern": "a", "timeout": float("nan")},
    ):
        with pytest.raises(ValidationError):
            metric.args_model.model_validate(bad)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "1", None])
def test_a_metric_result_must_be_a_finite_number(value: object) -> None:
    with pytest.raises(MetricError, match="the metric returned"):
        MetricResult(value)  # type: ignore[arg-type]


def test_value_range_defaults_to_zero_to_one() -> None:
    class Plain:
        pass

    class Wide:
        value_range = (-1, 5)

    assert value_range(Plain()) == (0.0, 1.0)  # type: ignore[arg-type]
    assert value_range(Wide()) == (-1.0, 5.0)  # type: ignore[arg-type]


SCORED_SUITE = """
name: s
cases:
  - id: a
    prompt: p
    checks:
      - {metric: regex, args: {pattern: "^(a|a)+$", timeout: 0.2}}
      - {metric: weird, threshold: 0}
"""


def test_a_metric_that_cannot_score_makes_its_check_unscored(tmp_path: Path) -> None:
    # Through the real scoring path: a timeout or a NaN is an error on the check, not a pass.
    from tunegate import load_suite
    from tunegate.execution.scoring import score_output
    from tunegate.metrics import MetricArgs, register_metric

    class Weird:
        name: ClassVar[str] = "weird"
        args_model: ClassVar[type[MetricArgs]] = MetricArgs
        default_threshold: ClassVar[float] = 0.5
        description: ClassVar[str] = "returns infinity"

        def score(self, sample: MetricInput, args: MetricArgs) -> MetricResult:
            return MetricResult(float("inf"))

    register_metric(Weird())
    path = tmp_path / "s.yaml"
    path.write_text(SCORED_SUITE)
    case = load_suite(path).cases[0]
    scores = asyncio.run(score_output(case, "a" * 40 + "!"))
    assert scores["regex"].value is None and not scores["regex"].passed
    assert "took over 0.2 s" in (scores["regex"].reason or "")
    assert scores["weird"].value is None and not scores["weird"].passed
    assert "not a finite number" in (scores["weird"].reason or "")
    assert scores["non_empty"].passed


def load_checks(tmp_path: Path, text: str) -> list[list[str]]:
    from tunegate import load_suite

    path = tmp_path / "s.yaml"
    path.write_text(text)
    return [[c.name for c in case.checks] for case in load_suite(path).cases]


def test_every_case_gets_non_empty_unless_empty_output_is_allowed(tmp_path: Path) -> None:
    assert load_checks(
        tmp_path,
        """
name: s
cases:
  - {id: a, prompt: p}
  - {id: b, prompt: p, allow_empty_output: true}
  - {id: c, prompt: p, checks: [{metric: non_empty, weight: 2}]}
""",
    ) == [["non_empty"], [], ["non_empty"]]
    assert load_checks(
        tmp_path,
        """
name: s
defaults:
  allow_empty_output: true
  checks: [{metric: length, args: {max: 5}}]
cases:
  - {id: a, prompt: p}
  - {id: b, prompt: p, allow_empty_output: false}
""",
    ) == [["length"], ["length", "non_empty"]]


def test_the_built_in_check_leaves_the_weighted_score_alone(tmp_path: Path) -> None:
    from tunegate import load_suite
    from tunegate.execution.scoring import score_output, weighted_score

    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\ncases:\n  - {id: a, prompt: p, checks: [{metric: length, args: {max: 3}}]}\n"
    )
    case = load_suite(path).cases[0]
    empty = asyncio.run(score_output(case, "  "))
    assert empty["length"].passed and not empty["non_empty"].passed
    assert empty["non_empty"].reason == "empty output"
    assert weighted_score(list(empty.values())) == 1.0
