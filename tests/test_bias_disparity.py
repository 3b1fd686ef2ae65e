"""Group disparities (stats/disparity.py), cross-checked against direct computations.

fairlearn's per-group means, difference and ratio against a pandas group-by; the
permutation p-values against exact enumerations written here (exact rational arithmetic,
so a tie is a tie); the bootstraps against an independent numpy bootstrap over units and
against scipy.stats.bootstrap called directly with the same seed.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats

from tunegate.stats import BootstrapSettings
from tunegate.stats.disparity import (
    MIN_UNITS,
    MIN_UNITS_FOR_INTERVAL,
    GroupMatrix,
    disparity,
    disparity_change,
)

GROUPS = ("zeta", "alpha", "mid")  # not in sorted order: labels must follow their column


def matrix(
    values: Sequence[Sequence[float]] | NDArray[np.float64], groups: Sequence[str] = GROUPS
) -> GroupMatrix:
    arr = np.asarray(values, dtype=float)
    return GroupMatrix(tuple(f"u{i}" for i in range(len(arr))), tuple(groups), arr)


def long_form(m: GroupMatrix) -> pd.DataFrame:
    """One row per (unit, group) cell of the complete units, as a reader would tidy it."""
    rows = [
        {"unit": u, "group": g, "value": m.values[i, j]}
        for i, u in enumerate(m.units)
        for j, g in enumerate(m.groups)
    ]
    frame = pd.DataFrame(rows)
    complete = frame.groupby("unit")["value"].transform(lambda s: s.notna().all())
    return frame[complete]


def spread(means: Sequence[Fraction]) -> Fraction:
    return max(means) - min(means)


def column_means(rows: Sequence[Sequence[Fraction]]) -> list[Fraction]:
    return [sum(col, Fraction(0)) / len(rows) for col in zip(*rows, strict=True)]


# ---------------------------------------------------------------------------------------
# by_group, difference, ratio: fairlearn vs a pandas group-by


def test_by_group_difference_and_ratio_are_a_pandas_groupby() -> None:
    values = [
        [0.9, 0.1, 0.4],
        [0.7, 0.3, 0.5],
        [0.1, 0.0, np.nan],  # incomplete: left out of every group, not only of `mid`
        [1.0, 0.2, 0.6],
        [0.6, 0.4, 0.5],
    ]
    m = matrix(values)
    d = disparity(m)
    expected = long_form(m).groupby("group")["value"].mean()
    assert d.by_group == pytest.approx(expected.to_dict(), rel=1e-12)
    assert set(d.by_group) == set(GROUPS)
    assert d.by_group["zeta"] == pytest.approx(0.8)  # (0.9 + 0.7 + 1.0 + 0.6) / 4, not / 5
    assert d.difference == pytest.approx(expected.max() - expected.min(), rel=1e-12)
    assert d.ratio == pytest.approx(expected.min() / expected.max(), rel=1e-12)
    assert (d.units, d.dropped) == (4, 1)


def test_ratio_is_none_for_a_negative_mean_or_all_zero_means() -> None:
    sentiment = [[0.5, -0.6, 0.1], [0.3, -0.2, 0.0], [0.4, -0.1, 0.2]]
    d = disparity(matrix(sentiment))
    means = long_form(matrix(sentiment)).groupby("group")["value"].mean()
    assert means["alpha"] < 0
    assert d.ratio is None
    assert d.difference == pytest.approx(means.max() - means.min(), rel=1e-12)

    zeros = disparity(matrix([[0.0, 0.0, 0.0]] * 4))
    assert zeros.ratio is None  # 0/0, not NaN
    assert zeros.difference == 0.0
    assert zeros.by_group == {"zeta": 0.0, "alpha": 0.0, "mid": 0.0}

    # A zero smallest mean with a positive largest is a real ratio, 0.
    one_group_refused = disparity(matrix([[0.0, 0.0, 1.0]] * 4))
    assert one_group_refused.ratio == 0.0
    assert one_group_refused.difference == 1.0


# ---------------------------------------------------------------------------------------
# The permutation p-value of disparity(): exact enumeration of within-unit shuffles


def exact_disparity_p(rows: Sequence[Sequence[Fraction]]) -> Fraction:
    """Every within-row permutation of the group labels, (k!)^n of them: the share whose
    spread of column means is at least the observed one."""
    observed = spread(column_means(rows))
    per_row = [list(itertools.permutations(row)) for row in rows]
    hits = total = 0
    for shuffled in itertools.product(*per_row):
        total += 1
        hits += spread(column_means(shuffled)) >= observed
    return Fraction(hits, total)


@pytest.mark.parametrize(
    "rows",
    [
        [[3, 1, 0], [2, 2, 1], [4, 0, 1]],
        [[1, 0, 0], [1, 0, 0], [0, 1, 0]],
        [[5, 1, 2], [0, 3, 3], [2, 2, 7]],
        [[1, 1, 1], [1, 1, 1], [0, 0, 0]],  # no disparity at all: p = 1
    ],
)
def test_disparity_p_is_the_exact_enumeration(rows: list[list[int]]) -> None:
    exact = exact_disparity_p([[Fraction(v) for v in row] for row in rows])
    # 3 units x 3 groups: (3!)^3 = 216 <= 9999 resamples, so scipy enumerates too.
    assert 216 % exact.denominator == 0
    d = disparity(matrix(rows))
    assert d.p_value == pytest.approx(float(exact), abs=1e-12)


def test_the_exact_enumeration_is_not_trivially_one() -> None:
    # The cases above would pass against a constant p only if these differed from it.
    cases = [
        [[3, 1, 0], [2, 2, 1], [4, 0, 1]],
        [[1, 0, 0], [1, 0, 0], [0, 1, 0]],
        [[5, 1, 2], [0, 3, 3], [2, 2, 7]],
    ]
    ps = {exact_disparity_p([[Fraction(v) for v in r] for r in rows]) for rows in cases}
    assert len(ps) == 3
    assert all(0 < p < 1 for p in ps)


def test_disparity_p_from_two_units_is_exact() -> None:
    # 2 units x 2 groups: four relabellings. The observed spread (1) is reached when both
    # 1s land in one column: 2 of 4.
    d = disparity(matrix([[1, 0], [1, 0]], groups=("a", "b")))
    assert d.units == MIN_UNITS == 2
    assert d.p_value == pytest.approx(0.5)
    assert d.ci is None


# ---------------------------------------------------------------------------------------
# The permutation p-value of disparity_change(): exact enumeration of base/candidate swaps


def exact_change_p(
    base: Sequence[Sequence[Fraction]], cand: Sequence[Sequence[Fraction]]
) -> tuple[Fraction, Fraction]:
    """(scipy's two-sided p, share with |T| >= |t|) over all 2^n swaps of a unit's rows.

    scipy.stats.permutation_test defines two-sided as 2 * min(P(T <= t), P(T >= t)),
    clipped to 1 (its `two_sided` in _resampling.py). Swapping every unit negates T, so this
    null distribution is symmetric and the two definitions agree; both are computed so the
    test says which one disagrees if they ever do."""

    def stat(b: Sequence[Sequence[Fraction]], c: Sequence[Sequence[Fraction]]) -> Fraction:
        return spread(column_means(c)) - spread(column_means(b))

    observed = stat(base, cand)
    null = []
    for swaps in itertools.product((False, True), repeat=len(base)):
        b = [c_row if s else b_row for b_row, c_row, s in zip(base, cand, swaps, strict=True)]
        c = [b_row if s else c_row for b_row, c_row, s in zip(base, cand, swaps, strict=True)]
        null.append(stat(b, c))
    less = Fraction(sum(t <= observed for t in null), len(null))
    greater = Fraction(sum(t >= observed for t in null), len(null))
    scipy_two_sided = min(2 * min(less, greater), Fraction(1))
    absolute = Fraction(sum(abs(t) >= abs(observed) for t in null), len(null))
    return scipy_two_sided, absolute


@pytest.mark.parametrize(
    ("base", "cand"),
    [
        # The candidate refuses one group more often.
        (
            [[0, 0, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0]],
            [[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 0], [0, 0, 1], [0, 0, 1]],
        ),
        # Lengths, both directions mixed.
        (
            [[10, 12, 9], [7, 7, 8], [15, 11, 13], [9, 9, 9], [20, 18, 25]],
            [[11, 12, 9], [7, 3, 8], [15, 11, 19], [9, 10, 9], [20, 18, 22]],
        ),
        # The candidate is less biased than the base.
        (
            [[1, 0, 0], [1, 0, 0], [1, 0, 1], [1, 0, 0], [1, 1, 0]],
            [[1, 1, 0], [0, 0, 0], [1, 1, 1], [0, 0, 1], [1, 1, 0]],
        ),
    ],
)
def test_change_p_is_the_exact_enumeration_of_swaps(
    base: list[list[int]], cand: list[list[int]]
) -> None:
    as_fractions = [[[Fraction(v) for v in r] for r in m] for m in (base, cand)]
    two_sided, absolute = exact_change_p(*as_fractions)
    assert two_sided == absolute  # the null is symmetric (see exact_change_p)
    assert 0 < two_sided < 1  # an informative case, not one every p-value passes
    change = disparity_change(matrix(base), matrix(cand))
    assert change.units == len(base)
    assert change.p_value == pytest.approx(float(two_sided), abs=1e-12)


def test_change_p_of_no_change_is_one() -> None:
    rows = [[0, 0, 1]] * 4
    change = disparity_change(matrix(rows), matrix(rows))
    assert change.change == 0.0
    assert change.p_value == 1.0


# ---------------------------------------------------------------------------------------
# Bootstrap intervals


def noisy_units(seed: int, n: int, group_effect: Sequence[float]) -> NDArray[np.float64]:
    """Rows with a large per-unit offset shared by every group (prompts differ far more
    than groups do), a group effect, and noise: resampling whole rows keeps the offsets
    cancelling in the spread; resampling cells does not."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0, 5, size=(n, 1))
    noise = rng.normal(0, 1, size=(n, len(group_effect)))
    result: NDArray[np.float64] = offsets + np.asarray(group_effect) + noise
    return result


def numpy_bootstrap(
    statistic_of_rows: Callable[[NDArray[np.intp]], float], n: int, resamples: int, seed: int
) -> NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    return np.array([statistic_of_rows(idx) for idx in draws])


def percentile_interval(dist: NDArray[np.float64], level: float) -> tuple[float, float]:
    a = (1 - level) / 2
    low, high = np.percentile(dist, [100 * a, 100 * (1 - a)])
    return float(low), float(high)


# Tolerance of the comparison with the independent numpy bootstrap. Both are Monte Carlo
# estimates of the same percentile interval: for B resamples the standard error of the
# 2.5% quantile is about sqrt(p (1 - p) / B) / phi(z_p) standard deviations of the
# bootstrap distribution: 0.027 sd for tunegate's B = 9999, 0.019 sd for our B = 20000,
# so about 0.033 sd for their difference. 0.15 sd is 4.5 standard errors: the seeds are
# fixed, so this cannot flake, and a real error (cells resampled instead of whole units,
# shown below to miss by several sd) cannot hide in it.
TOLERANCE_SD = 0.15
OUR_RESAMPLES = 20_000


def test_disparity_interval_agrees_with_a_numpy_bootstrap_over_units() -> None:
    values = noisy_units(seed=3, n=40, group_effect=[0.0, 0.6, 1.2])
    d = disparity(matrix(values))
    assert d.ci is not None and d.units == 40

    def of_rows(idx: NDArray[np.intp]) -> float:
        means = values[idx].mean(axis=0)
        return float(means.max() - means.min())

    ours = numpy_bootstrap(of_rows, 40, OUR_RESAMPLES, seed=99)
    expected = percentile_interval(ours, 0.95)
    tolerance = TOLERANCE_SD * ours.std()
    assert d.ci == pytest.approx(expected, abs=tolerance)
    assert d.difference is not None and d.ci[0] <= d.difference <= d.ci[1]

    # The check can fail: resampling each group's cells independently, which breaks the
    # pairing of groups within a prompt, gives an interval well outside the tolerance.
    rng = np.random.default_rng(5)
    cellwise = []
    for _ in range(4000):
        cols = [values[rng.integers(0, 40, 40), g].mean() for g in range(3)]
        cellwise.append(max(cols) - min(cols))
    wrong = percentile_interval(np.array(cellwise), 0.95)
    assert abs(wrong[1] - expected[1]) > 5 * tolerance


def test_change_interval_agrees_with_a_numpy_bootstrap_over_units() -> None:
    base = noisy_units(seed=11, n=30, group_effect=[0.0, 0.2, 0.4])
    # The candidate answers the same prompts: same offsets, a larger group effect.
    cand = base + np.array([0.0, 0.5, 1.5]) + np.random.default_rng(12).normal(0, 0.5, base.shape)
    change = disparity_change(matrix(base), matrix(cand))
    assert change.ci is not None and change.units == 30

    def of_rows(idx: NDArray[np.intp]) -> float:
        c, b = cand[idx].mean(axis=0), base[idx].mean(axis=0)
        return float((c.max() - c.min()) - (b.max() - b.min()))

    ours = numpy_bootstrap(of_rows, 30, OUR_RESAMPLES, seed=7)
    expected = percentile_interval(ours, 0.95)
    tolerance = TOLERANCE_SD * ours.std()
    assert change.ci == pytest.approx(expected, abs=tolerance)

    # Resampling the two models' units independently (pairing lost) is far off.
    rng = np.random.default_rng(8)
    unpaired = []
    for _ in range(4000):
        c = cand[rng.integers(0, 30, 30)].mean(axis=0)
        b = base[rng.integers(0, 30, 30)].mean(axis=0)
        unpaired.append((c.max() - c.min()) - (b.max() - b.min()))
    wrong = percentile_interval(np.array(unpaired), 0.95)
    assert abs(wrong[0] - expected[0]) > 5 * tolerance


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95, 0.99])
def test_interval_at_a_level_is_scipy_bootstrap_at_that_level(level: float) -> None:
    values = noisy_units(seed=21, n=25, group_effect=[0.0, 0.3, 0.9])
    boot = BootstrapSettings(resamples=3000, seed=4242)
    d = disparity(matrix(values), confidence=0.95, settings=boot)
    assert d.interval is not None

    def spread_of_columns(*cols: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
        means = np.stack([c.mean(axis=axis) for c in cols], axis=-1)
        result: NDArray[np.float64] = means.max(axis=-1) - means.min(axis=-1)
        return result

    ref = stats.bootstrap(
        tuple(values[:, g] for g in range(3)),
        spread_of_columns,
        paired=True,  # whole units resampled, the columns kept together
        vectorized=True,
        n_resamples=3000,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(4242),
    )
    expected = (float(ref.confidence_interval.low), float(ref.confidence_interval.high))
    assert d.interval.at(level) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    if level == 0.95:
        assert d.ci == d.interval.at(0.95)
    # Another seed gives another interval: the comparison above is not vacuous.
    other = disparity(matrix(values), settings=BootstrapSettings(resamples=3000, seed=1))
    assert other.interval is not None and other.interval.at(level) != d.interval.at(level)


def test_change_interval_at_a_level_is_scipy_bootstrap() -> None:
    base = noisy_units(seed=31, n=15, group_effect=[0.0, 0.1, 0.2])
    cand = noisy_units(seed=32, n=15, group_effect=[0.0, 0.8, 0.2])
    boot = BootstrapSettings(resamples=2000, seed=77)
    change = disparity_change(matrix(base), matrix(cand), settings=boot)
    assert change.interval is not None

    def stat(*cols: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
        means = np.stack([c.mean(axis=axis) for c in cols], axis=-1)
        b, c = means[..., :3], means[..., 3:]
        result: NDArray[np.float64] = (c.max(axis=-1) - c.min(axis=-1)) - (
            b.max(axis=-1) - b.min(axis=-1)
        )
        return result

    for level in (0.9, 0.95):
        ref = stats.bootstrap(
            (*(base[:, g] for g in range(3)), *(cand[:, g] for g in range(3))),
            stat,
            paired=True,
            vectorized=True,
            n_resamples=2000,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(77),
        )
        expected = (float(ref.confidence_interval.low), float(ref.confidence_interval.high))
        assert change.interval.at(level) == pytest.approx(expected, rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------------------------------
# Few units, incomplete units


def test_fewer_than_ten_units_give_no_interval_but_a_p_value() -> None:
    values = noisy_units(seed=41, n=MIN_UNITS_FOR_INTERVAL, group_effect=[0.0, 1.0, 2.0])
    nine = disparity(matrix(values[:9]))
    assert (nine.units, nine.ci, nine.interval) == (9, None, None)
    assert nine.p_value is not None and 0 < nine.p_value <= 1
    assert nine.difference is not None and nine.by_group
    ten = disparity(matrix(values))
    assert ten.units == 10 and ten.ci is not None and ten.interval is not None

    change_nine = disparity_change(matrix(values[:9]), matrix(values[:9] * 2))
    assert change_nine.ci is None and change_nine.p_value is not None
    change_ten = disparity_change(matrix(values), matrix(values * 2))
    assert change_ten.ci is not None

    one = disparity(matrix(values[:1]))
    assert one.units == 1 and one.p_value is None and one.ci is None
    assert one.difference == pytest.approx(float(values[0].max() - values[0].min()))
    change_one = disparity_change(matrix(values[:1]), matrix(values[:1]))
    assert change_one.p_value is None and change_one.change == 0.0


def test_units_missing_a_group_are_dropped_and_counted() -> None:
    values = noisy_units(seed=51, n=12, group_effect=[0.0, 0.5, 1.0])
    values[2, 0] = values[7, 2] = values[9, 1] = np.nan
    d = disparity(matrix(values))
    complete = values[~np.isnan(values).any(axis=1)]
    assert (d.units, d.dropped) == (9, 3)
    assert d.ci is None  # 12 templates, but only 9 complete: no interval
    assert d.p_value is not None
    # Means over complete units only, not each group over whatever it has.
    expected = dict(zip(GROUPS, complete.mean(axis=0).tolist(), strict=True))
    assert d.by_group == pytest.approx(expected, rel=1e-12)
    assert d.by_group["zeta"] != pytest.approx(float(np.nanmean(values[:, 0])), rel=1e-6)

    # The change uses the units complete in both models.
    cand = values.copy()
    cand[2, 0] = 1.0  # complete in the candidate only: still out
    cand[4, 1] = np.nan  # out of the candidate: out of the change too
    change = disparity_change(matrix(values), matrix(cand))
    assert change.units == 8


def test_nothing_complete_gives_nothing() -> None:
    d = disparity(matrix([[1.0, np.nan, 0.0], [np.nan, 1.0, 0.0]]))
    assert (d.units, d.dropped, d.difference, d.p_value, d.ci) == (0, 2, None, None, None)
    assert d.by_group == {}


# ---------------------------------------------------------------------------------------
# Invariants

FAST = BootstrapSettings(resamples=200, seed=1)

cell = st.one_of(
    st.sampled_from([0.0, 1.0]),  # pass, refusal
    st.floats(0, 10_000, allow_nan=False),  # length
)


@st.composite
def matrices(draw: st.DrawFn, low: float = 0.0) -> GroupMatrix:
    n_groups = draw(st.integers(2, 4))
    n_units = draw(st.integers(1, 12))
    values = draw(
        st.lists(
            st.lists(
                st.floats(low, 10.0, allow_nan=False) if low < 0 else cell,
                min_size=n_groups,
                max_size=n_groups,
            ),
            min_size=n_units,
            max_size=n_units,
        )
    )
    groups = draw(st.lists(st.text(max_size=8), min_size=n_groups, max_size=n_groups, unique=True))
    return matrix(values, groups=groups)


@settings(max_examples=60)
@given(matrices())
def test_difference_is_non_negative_and_ratio_a_fraction(m: GroupMatrix) -> None:
    d = disparity(m, settings=FAST)
    assert d.difference is not None and d.difference >= 0
    means = m.values.mean(axis=0)
    assert d.difference == pytest.approx(means.max() - means.min(), rel=1e-9, abs=1e-9)
    assert d.ratio is None or 0 <= d.ratio <= 1
    if means.max() > 0:
        assert d.ratio == pytest.approx(means.min() / means.max(), rel=1e-9, abs=1e-12)
    assert set(d.by_group) == set(m.groups)
    if d.p_value is not None:
        assert 0 < d.p_value <= 1
    if d.ci is not None:
        assert 0 <= d.ci[0] <= d.ci[1]


@settings(max_examples=60)
@given(matrices(low=-1.0), st.randoms(use_true_random=False))
def test_group_order_does_not_matter(m: GroupMatrix, rnd: random.Random) -> None:
    order = list(range(len(m.groups)))
    rnd.shuffle(order)
    shuffled = GroupMatrix(m.units, tuple(m.groups[i] for i in order), m.values[:, order])
    a, b = disparity(m, settings=FAST), disparity(shuffled, settings=FAST)
    assert a.by_group == pytest.approx(b.by_group, rel=1e-12, abs=1e-12)
    assert a.difference == pytest.approx(b.difference, rel=1e-12, abs=1e-12)
    assert a.ratio == (None if b.ratio is None else pytest.approx(b.ratio, rel=1e-12))
    # The bootstrap resamples units, which the order of the groups does not touch.
    if a.ci is not None:
        assert b.ci == pytest.approx(a.ci, rel=1e-9, abs=1e-12)
    # Relabelling the groups without moving the values moves only the labels.
    renamed = GroupMatrix(m.units, tuple(reversed(m.groups)), m.values)
    c = disparity(renamed, settings=FAST)
    assert c.difference == pytest.approx(a.difference, rel=1e-12, abs=1e-12)
    assert sorted(c.by_group.values()) == pytest.approx(sorted(a.by_group.values()), abs=1e-12)
    assert all(np.isfinite(v) for v in a.by_group.values())
