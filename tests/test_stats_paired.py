"""The paired statistics, cross-checked against scipy, statsmodels and direct computation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from tunegate.stats import BootstrapSettings, paired_difference, wilson_interval, z_for
from tunegate.stats.intervals import newcombe_paired_interval


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (17, 40), (1, 1)])
def test_wilson_is_statsmodels(k: int, n: int) -> None:
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-12)


def _tables(n: int) -> list[tuple[int, int, int, int]]:
    return [
        (a, b, c, n - a - b - c)
        for a in range(n + 1)
        for b in range(n + 1 - a)
        for c in range(n + 1 - a - b)
    ]


def test_newcombe_without_correlation_is_statsmodels_newcombe() -> None:
    # When Newcombe's phi is 0 the paired interval is the unpaired hybrid score interval
    # of the two marginal rates, which statsmodels has.
    checked = 0
    for both, first_only, second_only, neither in _tables(12):
        n = both + first_only + second_only + neither
        b = both * neither - first_only * second_only
        if not 0 <= b <= n / 2:
            continue
        low, high = newcombe_paired_interval(both, first_only, second_only, neither, z=z_for(0.95))
        ref = confint_proportions_2indep(
            both + first_only, n, both + second_only, n, method="newcomb", compare="diff"
        )
        assert (low, high) == pytest.approx((float(ref[0]), float(ref[1])), abs=1e-9)
        checked += 1
    assert checked > 50


def _newcombe_by_hand(r: int, s: int, t: int, u: int, z: float) -> tuple[float, float]:
    """Newcombe (1998) method 10, written out independently from the paper's formulas."""
    n = r + s + t + u
    p1, p2 = (r + s) / n, (r + t) / n

    def wilson(x: int) -> tuple[float, float]:
        p = x / n
        root = z * math.sqrt(z * z + 4 * n * p * (1 - p))
        return (2 * n * p + z * z - root) / (2 * (n + z * z)), (2 * n * p + z * z + root) / (
            2 * (n + z * z)
        )

    l1, u1 = wilson(r + s)
    l2, u2 = wilson(r + t)
    big_b = r * u - s * t
    big_c = big_b - n / 2 if big_b > n / 2 else (big_b if big_b < 0 else 0)
    phi = big_c / math.sqrt((r + s) * (t + u) * (r + t) * (s + u))
    d = p1 - p2
    dl = math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    du = math.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    return d - dl, d + du


@pytest.mark.parametrize("table", [(14, 5, 0, 22), (12, 9, 2, 21), (30, 2, 8, 10), (5, 1, 1, 40)])
def test_newcombe_with_correlation_matches_the_formulas(table: tuple[int, int, int, int]) -> None:
    z = z_for(0.95)
    assert newcombe_paired_interval(*table, z=z) == pytest.approx(
        _newcombe_by_hand(*table, z=z), abs=1e-12
    )


def test_exact_mcnemar_is_the_binomial_test_on_discordant_cases() -> None:
    base = [1] * 10 + [1] * 7 + [0] * 2 + [0] * 5
    cand = [1] * 10 + [0] * 7 + [1] * 2 + [0] * 5
    pd = paired_difference(base, cand)
    assert pd.method == "newcombe-mcnemar"
    assert pd.table == (10, 7, 2, 5)
    assert pd.p_value() == pytest.approx(stats.binomtest(2, 9, 0.5).pvalue, abs=1e-12)
    assert pd.estimate == pytest.approx(-5 / 24)
    low, high = pd.interval(0.95)
    assert (low, high) == pytest.approx(
        newcombe_paired_interval(10, 2, 7, 5, z=z_for(0.95)), abs=1e-15
    )


def test_bootstrap_is_the_direct_resampling_of_cases() -> None:
    rng = np.random.default_rng(3)
    base = rng.random(25)
    cand = base + rng.normal(0.02, 0.1, 25)
    settings = BootstrapSettings(resamples=2000, seed=11)
    pd = paired_difference(base, cand, settings=settings)
    assert pd.method == "bootstrap-permutation"
    d = cand - base
    index = np.random.default_rng(11).integers(0, 25, size=(2000, 25))
    direct = d[index].mean(axis=1)
    # Hesterberg's expanded percentile interval, written out.
    widen = math.sqrt(25 / 24)
    tail = stats.norm.cdf(widen * stats.t.ppf(0.025, 24))
    low, high = np.quantile(direct, [tail, 1 - tail])
    assert pd.interval(0.95) == pytest.approx((low, high), abs=1e-12)
    share = np.mean(direct <= -0.05)
    expected_p = stats.t.cdf(stats.norm.ppf(share) / widen, 24)
    assert pd.p_greater(-0.05) == pytest.approx(expected_p, abs=1e-12)


def test_sign_flip_permutation_is_exact_enumeration() -> None:
    base = np.array([0.2, 0.5, 0.9, 0.4, 0.6, 0.1, 0.3, 0.8])
    cand = np.array([0.5, 0.4, 1.0, 0.7, 0.9, 0.1, 0.6, 0.7])
    pd = paired_difference(base, cand)
    d = cand - base
    observed = abs(d.mean())
    flips = [
        abs(np.mean(d * np.array(signs))) for signs in itertools.product((1, -1), repeat=d.size)
    ]
    direct = np.mean([f >= observed - 1e-12 for f in flips])
    assert pd.p_value() == pytest.approx(direct, abs=1e-12)


def test_one_sided_p_values_invert_the_interval() -> None:
    for base, cand in [
        ([1] * 20 + [0] * 10, [1] * 18 + [0] * 12),
        (list(np.linspace(0, 1, 30)), list(np.linspace(0, 1, 30) - 0.03)),
    ]:
        pd = paired_difference(base, cand, settings=BootstrapSettings(resamples=4000))
        for confidence in (0.8, 0.9, 0.95):
            low, high = pd.interval(confidence)
            alpha = (1 - confidence) / 2
            assert pd.p_greater(low - 1e-6) <= alpha + 1e-3
            assert pd.p_greater(low + 1e-6) >= alpha - 1e-3
            assert 1 - pd.p_greater(high + 1e-6) <= alpha + 1e-3


def test_no_cases_gives_no_evidence() -> None:
    pd = paired_difference([], [])
    assert pd.interval(0.95) == (-1.0, 1.0)
    assert pd.p_value() == 1.0 and pd.p_greater(-0.05) == 1.0


def test_one_case_or_no_spread_gives_no_false_confidence() -> None:
    one = paired_difference([0.2], [0.7])
    assert one.interval(0.95) == pytest.approx((0.5, 0.5)) and one.p_value() == 1.0
    assert one.p_greater(0.4) == 0.0 and one.p_greater(0.6) == 1.0
    flat = paired_difference([0.2, 0.4, 0.6], [0.3, 0.5, 0.7])
    assert flat.interval(0.95) == pytest.approx((0.1, 0.1))
