"""The non-inferiority verdict validated by simulation: at the margin it passes no more
often than alpha; at a true effect its power matches the analytic figure.

A small version runs here; benchmarks/stats_simulation.py runs a larger one
(figures in docs/benchmarks.md).
"""

from __future__ import annotations

import math

import numpy as np

from tunegate.stats import BootstrapSettings, paired_difference
from tunegate.stats.power import power_at

CONFIDENCE = 0.95
ALPHA = (1 - CONFIDENCE) / 2  # the one-sided level a two-sided 95% interval carries
MARGIN = 0.05


def _binary_suite(rng: np.random.Generator, n: int, cells: tuple[float, float, float, float]):
    """Paired pass/fail per case: (both, base only, candidate only, neither) probabilities."""
    kind = rng.choice(4, size=n, p=cells)
    base = np.isin(kind, (0, 1)).astype(float)
    cand = np.isin(kind, (0, 2)).astype(float)
    return base, cand


def _passes(base: np.ndarray, cand: np.ndarray, resamples: int = 1000) -> bool:
    pd = paired_difference(base, cand, settings=BootstrapSettings(resamples=resamples))
    return pd.interval(CONFIDENCE)[0] > -MARGIN


def _bound(rate: float, sims: int) -> float:
    return rate + 3 * math.sqrt(rate * (1 - rate) / sims)


def test_pass_fail_at_the_margin_passes_at_most_alpha() -> None:
    rng = np.random.default_rng(1)
    sims = 1500
    # The candidate's pass rate is exactly 5 points below the base's.
    cells = (0.70, 0.10, 0.05, 0.15)
    passed = sum(_passes(*_binary_suite(rng, 80, cells)) for _ in range(sims))
    assert passed / sims <= _bound(ALPHA, sims)


def test_scores_at_the_margin_pass_at_most_alpha() -> None:
    rng = np.random.default_rng(2)
    sims = 600
    passed = 0
    for _ in range(sims):
        base = rng.random(40)
        cand = base - MARGIN + rng.normal(0, 0.15, 40)
        passed += _passes(base, cand)
    assert passed / sims <= _bound(ALPHA, sims)


def test_power_at_no_true_difference_matches_the_analytic_figure() -> None:
    rng = np.random.default_rng(3)
    sims, n, sd = 600, 60, 0.12
    passed = 0
    for _ in range(sims):
        base = rng.random(n)
        cand = base + rng.normal(0, sd, n)  # truly no worse: the margin is 5 points away
        passed += _passes(base, cand)
    analytic = power_at(n, sd, MARGIN, CONFIDENCE)
    assert abs(passed / sims - analytic) < 0.07, (passed / sims, analytic)


def test_pass_fail_power_matches_the_analytic_figure() -> None:
    rng = np.random.default_rng(4)
    sims, n = 800, 200
    cells = (0.75, 0.05, 0.05, 0.15)  # no true difference; 10% of cases discordant
    passed = sum(_passes(*_binary_suite(rng, n, cells)) for _ in range(sims))
    analytic = power_at(n, math.sqrt(0.10), MARGIN, CONFIDENCE)
    assert abs(passed / sims - analytic) < 0.07, (passed / sims, analytic)
