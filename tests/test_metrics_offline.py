"""Offline statistical metrics (issue 8): hand-computed examples and property tests."""

from __future__ import annotations

import contextlib
import json
import string
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tunegate.metrics import MetricError, MetricInput, get_metric, metric_names, value_range
from tunegate.metrics.match import normalize

OFFLINE = [
    "normalized_match",
    "key_points",
    "rouge_l",
    "bleu",
    "chrf",
    "readability",
    "sentiment",
    "json_valid",
    "json_schema",
    "refusal",
    "embedding_similarity",
]


def score(name: str, output: str, reference: str | None = None, **args: object) -> float:
    metric = get_metric(name)
    assert metric is not None
    result = metric.score(
        MetricInput(output=output, prompt="p", reference=reference),
        metric.args_model.model_validate(args),
    )
    value = result.value  # type: ignore[union-attr]
    low, high = value_range(metric)
    assert low <= value <= high
    return value


def args_error(name: str, **args: object) -> str:
    metric = get_metric(name)
    assert metric is not None
    with pytest.raises(ValidationError) as info:
        metric.args_model.model_validate(args)
    return str(info.value)


def test_offline_metrics_are_registered_with_docstrings() -> None:
    assert set(OFFLINE) <= set(metric_names())
    for name in OFFLINE:
        metric = get_metric(name)
        assert metric is not None and type(metric).__doc__
        assert "Range" in (type(metric).__doc__ or "")
        low, high = value_range(metric)
        assert low <= metric.default_threshold <= high


# --- normalized_match -------------------------------------------------------------------


def test_normalized_match_examples() -> None:
    assert score("normalized_match", "  PARIS!! ", text="paris") == 1.0
    assert score("normalized_match", "It costs 1,000 euros.", text="it costs 1000 euros") == 1.0
    assert score("normalized_match", "2.50", text="2.5") == 1.0
    assert score("normalized_match", "$15.00", text="15") == 1.0
    assert score("normalized_match", "15 dollars", text="$15") == 0.0  # units: documented
    assert score("normalized_match", "-5", text="5") == 0.0
    assert score("normalized_match", "New-York", reference="new york") == 1.0
    assert score("normalized_match", "Lyon", text=["Paris", "lyon"]) == 1.0
    assert score("normalized_match", "Rome", text=["Paris", "lyon"]) == 0.0
    assert normalize("0.00 and -0 and 007") == "0 and 0 and 7"


def test_normalized_match_refuses_blank_answers() -> None:
    assert "empty once normalised" in args_error("normalized_match", text="?!")


ascii_text = st.text(alphabet=string.ascii_letters + string.digits + " ,.!?-\t\n", max_size=60)


@given(ascii_text)
def test_normalized_match_identity_case_and_spacing(text: str) -> None:
    if not normalize(text):
        return
    assert score("normalized_match", text, text=text) == 1.0
    assert score("normalized_match", text.swapcase(), text=text) == 1.0
    assert score("normalized_match", f"  {' '.join(text.split())}\n", text=text) == 1.0


@given(ascii_text, ascii_text)
def test_normalized_match_is_symmetric(a: str, b: str) -> None:
    if normalize(a) and normalize(b):
        assert score("normalized_match", a, text=b) == score("normalized_match", b, text=a)


@given(st.integers(min_value=1000, max_value=10**15))
def test_normalized_match_thousands_separators(n: int) -> None:
    assert score("normalized_match", f"{n:,}", text=str(n)) == 1.0


# --- key_points -------------------------------------------------------------------------


def test_key_points_examples() -> None:
    points = [["45 days", "forty-five days"], ["receipt"], "refund"]
    assert score("key_points", "Within forty five days, with a receipt.", points=points) == 2 / 3
    assert score("key_points", "A refund within 45 days; bring the receipt", points=points) == 1.0
    assert score("key_points", "nothing here", points=points) == 0.0
    assert score("key_points", "within 145 days", points=[["45 days"]]) == 0.0  # whole words
    assert score("key_points", "it costs 1,000 dollars", points=["1000 dollars"]) == 1.0
    assert "at least 1" in args_error("key_points", points=[])
    assert "empty once normalised" in args_error("key_points", points=[["ok", "..."]])


points_st = st.lists(
    st.lists(st.text(alphabet=string.ascii_lowercase + " ", min_size=1, max_size=8), min_size=1),
    min_size=1,
    max_size=4,
).filter(lambda ps: all(normalize(v) for p in ps for v in p))


@given(ascii_text, ascii_text, points_st)
def test_key_points_is_a_share_and_grows_with_text(a: str, b: str, points: list[list[str]]) -> None:
    alone = score("key_points", a, points=points)
    assert alone * len(points) == pytest.approx(round(alone * len(points)))
    assert score("key_points", f"{a} {b}", points=points) >= alone
    stated = " . ".join(p[0] for p in points)
    assert score("key_points", stated, points=points) == 1.0


# --- rouge_l, bleu, chrf ----------------------------------------------------------------


def test_overlap_examples() -> None:
    # LCS of "the cat sat on the mat" / "the cat is on the mat" is 5 of 6 tokens: P=R=F=5/6.
    out, ref = "the cat sat on the mat", "the cat is on the mat"
    assert score("rouge_l", out, reference=ref, stemmer=False) == pytest.approx(5 / 6)
    # chrF and BLEU as sacrebleu reports them for this pair (0-100), rescaled.
    assert score("bleu", out, reference=ref) == pytest.approx(0.3799, abs=1e-4)
    assert score("chrf", out, reference=ref) == pytest.approx(0.6458, abs=1e-4)
    assert score("bleu", "totally different words", reference=ref) == 0.0
    assert score("rouge_l", "cats running", text=["dogs", "cat runs"]) == 1.0  # stemmed, best


words = st.lists(
    st.sampled_from(["the", "cat", "sat", "on", "mat", "dog", "ran", "big"]),
    min_size=1,
    max_size=12,
)


@settings(max_examples=50)
@given(words, words)
def test_overlap_ranges_identity_and_rouge_symmetry(a: list[str], b: list[str]) -> None:
    x, y = " ".join(a), " ".join(b)
    for name in ("rouge_l", "bleu", "chrf"):
        assert 0.0 <= score(name, x, reference=y) <= 1.0
        assert score(name, x, reference=x) == pytest.approx(1.0)
    assert score("rouge_l", x, reference=y) == pytest.approx(score("rouge_l", y, reference=x))


# --- readability, sentiment -------------------------------------------------------------


def test_readability_examples() -> None:
    # Flesch-Kincaid: 0.39*(6/1) + 11.8*(6/6) - 15.59 = -1.45 for "The cat sat on the mat."
    assert score("readability", "The cat sat on the mat.", max_grade=0) == 1.0
    assert score("readability", "The cat sat on the mat.", max_grade=-2) == 0.0
    assert score("readability", "The cat sat on the mat.", min_grade=0) == 0.0
    hard = (
        "Notwithstanding contractual indemnification stipulations, organizational "
        "accountability necessitates comprehensive institutional reconsideration."
    )
    assert score("readability", hard) == 0.0
    assert score("readability", "") == 1.0
    assert "above max_grade" in args_error("readability", min_grade=9, max_grade=8)


def test_sentiment_examples() -> None:
    # compound = x / sqrt(x^2 + 15): love 3.2 + great 3.1 + 0.292 for "!" = 6.592 -> 0.8622;
    # terrible -2.1 -> -0.4767.
    assert score("sentiment", "I love this, it is great!") == pytest.approx(0.8622, abs=1e-4)
    assert score("sentiment", "This is terrible.") == pytest.approx(-0.4767, abs=1e-4)
    assert score("sentiment", "") == 0.0


@settings(max_examples=50)
@given(st.text(max_size=200))
def test_tone_metrics_stay_in_range(text: str) -> None:
    assert score("readability", text) in (0.0, 1.0)
    assert -1.0 <= score("sentiment", text) <= 1.0


# --- json_valid, json_schema ------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "pattern": "^[A-Z]"}, "age": {"type": "integer"}},
    "required": ["name"],
}


def test_json_examples() -> None:
    assert score("json_valid", ' {"a": [1, 2]} \n') == 1.0
    assert score("json_valid", "{'a': 1}") == 0.0
    assert score("json_valid", "[NaN]") == 0.0
    assert score("json_valid", '```json\n{"a": 1}\n```') == 0.0
    assert score("json_valid", '```json\n{"a": 1}\n```', code_fence=True) == 1.0
    assert score("json_schema", '{"name": "Ada", "age": 36}', schema=SCHEMA) == 1.0
    assert score("json_schema", '{"name": "ada"}', schema=SCHEMA) == 0.0
    assert score("json_schema", '{"age": 36}', schema=SCHEMA) == 0.0
    assert score("json_schema", '{"name": "Ada", "age": "36"}', schema=SCHEMA) == 0.0
    assert score("json_schema", "not json", schema=SCHEMA) == 0.0


def test_json_schema_is_checked_at_load() -> None:
    assert "invalid JSON Schema" in args_error("json_schema", schema={"type": "nope"})
    assert "regex" in args_error("json_schema", schema={"pattern": "("})
    assert "schema" in args_error("json_schema")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=50)
@given(json_values)
def test_any_json_dump_is_valid_and_fits_the_empty_schema(value: object) -> None:
    text = json.dumps(value)
    assert score("json_valid", text) == 1.0
    assert score("json_schema", text, schema={}) == 1.0


# --- refusal ----------------------------------------------------------------------------


def test_refusal_examples() -> None:
    assert score("refusal", "I\u2019m sorry, but I can\u2019t help with that.") == 1.0
    assert score("refusal", "I'm unable to   provide that information.") == 1.0
    assert score("refusal", "Sure! Paris is the capital of France.") == 0.0
    assert score("refusal", "x" * 500 + " I cannot help with that") == 0.0  # past the window
    assert score("refusal", "Nope, not doing it.", extra_phrases=["not doing it"]) == 1.0
    assert score("refusal", "Paris.", negate=True) == 1.0
    assert score("refusal", "I cannot help with that.", negate=True) == 0.0


@given(st.text(max_size=300))
def test_refusal_negate_is_the_complement(text: str) -> None:
    assert score("refusal", text) + score("refusal", text, negate=True) == 1.0


# --- untrusted output -------------------------------------------------------------------

HOSTILE = [
    "",
    "\x00\x01\x1b[31m\x1b]0;title\x07" * 2000,
    "\ud800 lone surrogate \udfff",
    "a" * 3_000_000,
    "word " * 400_000,
    "[" * 100_000 + "]" * 100_000,
    "1" * 10_000,
]

CHEAP = {
    "normalized_match": {"text": "x"},
    "key_points": {"points": [["x"]]},
    "rouge_l": {"text": "the cat"},
    "bleu": {"text": "the cat"},
    "chrf": {"text": "the cat"},
    "readability": {},
    "sentiment": {},
    "json_valid": {},
    "json_schema": {"schema": SCHEMA},
    "refusal": {},
}


@pytest.mark.parametrize("output", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("name", sorted(CHEAP))
def test_hostile_outputs_score_in_bounded_time_or_raise_metric_error(
    name: str, output: str
) -> None:
    start = time.monotonic()
    with contextlib.suppress(MetricError):
        score(name, output, **CHEAP[name])
    assert time.monotonic() - start < 10


def test_json_schema_pattern_has_a_timeout() -> None:
    evil = {"type": "string", "pattern": "^(a|aa)+$"}
    start = time.monotonic()
    with pytest.raises(MetricError, match="took over"):
        score("json_schema", '"' + "a" * 5000 + 'b"', schema=evil)
    assert time.monotonic() - start < 10
