"""The vectorized permutation tests against scipy's permutation_test, which they replace
only for speed: exact cases must agree exactly, random ones within Monte Carlo error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tunegate.stats.permutation import swap_p, within_units_p


def spread(means: np.ndarray) -> np.ndarray:
    return means.max(axis=-1) - means.min(axis=-1)


def scipy_within(values: np.ndarray, resamples: int) -> float:
    def statistic(*columns: np.ndarray, axis: int = -1) -> np.ndarray:
        return spread(np.stack([c.mean(axis=axis) for c in columns], axis=-1))

    columns = [values[:, g] for g in range(values.shape[1])]
    return float(
        stats.permutation_test(
            columns,
            statistic,
            permutation_type="samples",
            vectorized=True,
            n_resamples=resamples,
            alternative="greater",
            rng=np.random.default_rng(3),
        ).pvalue
    )


def scipy_swap(b: np.ndarray, c: np.ndarray, resamples: int) -> float:
    stacked = np.concatenate([b, c])
    n = len(b)

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return spread(stacked[y].mean(axis=-2)) - spread(stacked[x].mean(axis=-2))

    return float(
        stats.permutation_test(
            (np.arange(n), np.arange(n) + n),
            statistic,
            permutation_type="samples",
            vectorized=True,
            n_resamples=resamples,
            alternative="two-sided",
            rng=np.random.default_rng(3),
        ).pvalue
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_within_units_equals_scipy(seed: int) -> None:
    values = np.random.default_rng(seed).integers(0, 3, (7, 2)).astype(float)
    ours = within_units_p(values, spread, resamples=9999, seed=0)  # 2^7 arrangements: exact
    assert ours == pytest.approx(scipy_within(values, 9999), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_swap_equals_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b, c = rng.random((9, 3)), rng.random((9, 3)) + 0.2 * (seed - 1)
    ours = swap_p(
        b, c, lambda bm, cm: spread(cm) - spread(bm), aggregate="mean", resamples=9999, seed=0
    )
    assert ours == pytest.approx(scipy_swap(b, c, 9999), abs=1e-12)


def test_random_tests_agree_with_scipy_within_monte_carlo_error() -> None:
    rng = np.random.default_rng(7)
    values = rng.random((40, 3))
    values[:, 0] += 0.08  # a small disparity: p well inside (0, 1)
    b, c = rng.random((40, 3)), rng.random((40, 3))
    c[:, 1] += 0.1
    resamples = 20_000
    ours = within_units_p(values, spread, resamples=resamples, seed=1)
    theirs = scipy_within(values, resamples)
    # Two independent estimates of one p: each has standard error <= 0.5/sqrt(20000).
    assert abs(ours - theirs) < 5 * np.sqrt(2) * 0.5 / np.sqrt(resamples)
    assert 0.001 < ours < 0.999
    ours = swap_p(
        b, c, lambda bm, cm: spread(cm) - spread(bm), aggregate="mean", resamples=resamples, seed=1
    )
    theirs = scipy_swap(b, c, resamples)
    assert abs(ours - theirs) < 5 * np.sqrt(2) * 0.5 / np.sqrt(resamples)


def test_sums_and_means_give_the_same_test_for_a_scale_free_statistic() -> None:
    rng = np.random.default_rng(4)
    b, c = rng.random((30, 2)), rng.random((30, 2))

    def ratio(bm: np.ndarray, cm: np.ndarray) -> np.ndarray:
        return cm[..., 0] / cm[..., 1] - bm[..., 0] / bm[..., 1]

    by_mean = swap_p(b, c, ratio, aggregate="mean", resamples=4000, seed=2)
    by_sum = swap_p(b, c, ratio, aggregate="sum", resamples=4000, seed=2)
    assert by_mean == pytest.approx(by_sum)
