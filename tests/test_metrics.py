"""Deterministic text metrics: examples plus property tests of their invariants."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tunegate.metrics import MetricInput, get_metric, metric_names


def score(name: str, output: str, reference: str | None = None, **args: object) -> float:
    metric = get_metric(name)
    assert metric is not None
    result = metric.score(
        MetricInput(output=output, prompt="p", reference=reference),
        metric.args_model.model_validate(args),
    )
    return result.value  # type: ignore[union-attr]


def test_builtins_are_registered() -> None:
    assert {"exact", "contains", "not_contains", "regex", "length"} <= set(metric_names())


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
    from typing import ClassVar

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
