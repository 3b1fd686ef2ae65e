"""Agreement statistics: equal to scikit-learn's kappa and scipy's Spearman, Wilson's
interval from statsmodels, and None (never NaN) where they are undefined."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.proportion import proportion_confint

from tunegate.stats.agreement import (
    cohen_kappa,
    kappa_undefined_reason,
    label_agreement,
    spearman,
    spearman_undefined_reason,
)

JUDGE = ["pass", "pass", "fail", "pass", "fail", "fail", "pass", "pass", "fail", "pass"]
HUMAN = ["pass", "fail", "fail", "pass", "fail", "pass", "pass", "pass", "fail", "pass"]


def sklearn_kappa(a: list[str], b: list[str]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(a, b))


def test_kappa_equals_sklearn_on_a_fixed_table() -> None:
    assert cohen_kappa(JUDGE, HUMAN) == pytest.approx(sklearn_kappa(JUDGE, HUMAN), abs=1e-12)
    # By hand: p_o = 0.8, p_e = 0.6*0.6 + 0.4*0.4 = 0.52, kappa = 0.28 / 0.48.
    assert cohen_kappa(JUDGE, HUMAN) == pytest.approx(0.28 / 0.48)


def test_kappa_with_three_labels_equals_sklearn() -> None:
    a = ["base", "candidate", "tie", "candidate", "candidate", "base", "tie", "base"]
    b = ["base", "candidate", "candidate", "candidate", "tie", "base", "tie", "candidate"]
    assert cohen_kappa(a, b) == pytest.approx(sklearn_kappa(a, b), abs=1e-12)


def test_raw_agreement_and_its_wilson_interval() -> None:
    result = label_agreement(JUDGE, HUMAN)
    assert (result.n, result.agreed, result.raw) == (10, 8, 0.8)
    low, high = proportion_confint(8, 10, alpha=0.05, method="wilson")
    assert result.raw_ci == pytest.approx((low, high))
    assert result.kappa == pytest.approx(sklearn_kappa(JUDGE, HUMAN))
    assert result.kappa_why is None


def test_no_items_is_undefined_not_nan() -> None:
    result = label_agreement([], [])
    assert result.n == 0 and result.raw is None and result.raw_ci is None
    assert result.kappa is None
    assert result.kappa_why == "no item was rated by both"


def test_one_shared_label_throughout_leaves_kappa_undefined_and_says_why() -> None:
    result = label_agreement(["pass"] * 5, ["pass"] * 5)
    assert result.raw == 1.0 and result.kappa is None
    assert result.kappa_why is not None and "same single label" in result.kappa_why
    # scikit-learn gives NaN here; tunegate never writes NaN into results.
    assert math.isnan(sklearn_kappa(["pass"] * 5, ["pass"] * 5))


def test_constant_but_different_labels_give_kappa_zero_as_sklearn() -> None:
    assert cohen_kappa(["pass"] * 4, ["fail"] * 4) == 0.0
    assert sklearn_kappa(["pass"] * 4, ["fail"] * 4) == 0.0
    assert cohen_kappa(["pass"] * 4, ["pass", "fail", "pass", "pass"]) == pytest.approx(
        sklearn_kappa(["pass"] * 4, ["pass", "fail", "pass", "pass"])
    )


def test_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="different number of items"):
        cohen_kappa(["pass"], ["pass", "fail"])


def test_spearman_equals_scipy() -> None:
    judge = [0.1, 0.4, 0.35, 0.8, 0.95, 0.6]
    human = [1.0, 2.0, 3.0, 4.0, 5.0, 4.0]
    expected = float(spearmanr(judge, human).statistic)
    assert spearman(judge, human) == pytest.approx(expected, abs=1e-12)


def test_spearman_undefined_below_three_pairs_and_on_constant_scores() -> None:
    assert spearman([0.1, 0.9], [1.0, 2.0]) is None
    assert "at least 3" in (spearman_undefined_reason([0.1, 0.9], [1.0, 2.0]) or "")
    assert spearman([0.5, 0.5, 0.5], [1.0, 2.0, 3.0]) is None
    assert spearman([], []) is None
    with pytest.raises(ValueError, match="finite"):
        spearman([0.1, float("nan"), 0.3], [1.0, 2.0, 3.0])


labels = st.lists(st.sampled_from(["pass", "fail"]), min_size=1, max_size=40)
label_pairs = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from(["pass", "fail", "tie"]), min_size=n, max_size=n),
        st.lists(st.sampled_from(["pass", "fail", "tie"]), min_size=n, max_size=n),
    )
)


@given(labels)
def test_kappa_of_identical_labels_is_one_when_defined(a: list[str]) -> None:
    kappa = cohen_kappa(a, a)
    if len(set(a)) == 1:
        assert kappa is None and kappa_undefined_reason(a, a) is not None
    else:
        assert kappa == pytest.approx(1.0)


@given(label_pairs)
def test_kappa_is_symmetric_bounded_and_equals_sklearn(pair: tuple[list[str], list[str]]) -> None:
    a, b = pair
    kappa, swapped = cohen_kappa(a, b), cohen_kappa(b, a)
    assert (kappa is None) == (swapped is None)
    if kappa is not None:
        assert kappa == pytest.approx(swapped)
    expected = sklearn_kappa(a, b)
    if kappa is None:
        assert math.isnan(expected)
    else:
        assert -1.0 <= kappa <= 1.0
        assert kappa == pytest.approx(expected, abs=1e-9)


@given(label_pairs)
def test_raw_agreement_lies_in_its_interval(pair: tuple[list[str], list[str]]) -> None:
    result = label_agreement(*pair)
    assert result.raw is not None and result.raw_ci is not None
    assert result.raw_ci[0] - 1e-12 <= result.raw <= result.raw_ci[1] + 1e-12
    assert result.raw == pytest.approx(
        sum(x == y for x, y in zip(*pair, strict=True)) / len(pair[0])
    )


@given(label_pairs)
def test_relabelling_both_raters_alike_keeps_kappa(pair: tuple[list[str], list[str]]) -> None:
    rename = {"pass": "p", "fail": "f", "tie": "t"}
    a, b = pair
    assert cohen_kappa(a, b) == cohen_kappa([rename[x] for x in a], [rename[x] for x in b])


scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(st.tuples(scores, scores), min_size=0, max_size=30))
def test_spearman_is_none_or_equals_scipy_and_symmetric(pairs: list[tuple[float, float]]) -> None:
    x = [p[0] for p in pairs]
    y = [p[1] for p in pairs]
    rho = spearman(x, y)
    if len(pairs) < 3 or len(set(x)) == 1 or len(set(y)) == 1:
        assert rho is None
        return
    assert rho is not None and -1.0 <= rho <= 1.0
    assert rho == pytest.approx(spearman(y, x))
    assert rho == pytest.approx(float(spearmanr(x, y).statistic), abs=1e-9)


@given(st.lists(scores, min_size=3, max_size=30, unique=True))
def test_spearman_of_a_list_with_itself_is_one(x: list[float]) -> None:
    assume(len(set(x)) > 1)
    assert spearman(x, x) == pytest.approx(1.0)
