"""Intervals for one proportion and for the difference of two paired proportions.

Wilson's interval comes from statsmodels. Newcombe's method 10 for paired proportions is
not in the released statsmodels (0.15 has no paired interval), so it is written here from
Newcombe (1998), "Improved confidence intervals for the difference between binomial
proportions based on paired data", Stat. Med. 17:2635-2650, and tested against the
Wilson intervals it is built from and the paper's worked example.
"""

from __future__ import annotations

import math

from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

__all__ = ["newcombe_paired_interval", "wilson_at", "wilson_interval"]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of `successes / n`; (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def wilson_at(successes: float, n: float, z: float) -> tuple[float, float]:
    """Wilson's interval at `z` for a share that may be fractional (ties counted as half)."""
    return _wilson_z(successes, n, z)


def _wilson_z(successes: float, n: float, z: float) -> tuple[float, float]:
    # The closed form, so the interval can be evaluated at any z (test inversion needs it).
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return (centre - half) / denominator, (centre + half) / denominator


def newcombe_paired_interval(
    both: float, first_only: float, second_only: float, neither: float, *, z: float
) -> tuple[float, float]:
    """Newcombe's method 10 for p1 - p2 with paired binary outcomes, at normal quantile z.

    `first_only` counts units where only the first classification succeeded, `second_only`
    those where only the second did: p1 = (both + first_only) / n, p2 = (both + second_only) / n.
    The counts may be expected (fractional) cells: the formula is the same.
    """
    n = both + first_only + second_only + neither
    if n == 0:
        return -1.0, 1.0
    first, second = both + first_only, both + second_only
    p1, p2 = first / n, second / n
    l1, u1 = _wilson_z(first, n, z)
    l2, u2 = _wilson_z(second, n, z)
    # phi: the correlation of the two classifications, with Newcombe's continuity rule.
    phi = 0.0
    a = (first * (n - first)) * (second * (n - second))
    if a > 0:
        b = both * neither - first_only * second_only
        c = b - n / 2 if b > n / 2 else (b if b < 0 else 0.0)
        phi = c / math.sqrt(a)
    d = p1 - p2
    low = d - math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0))
    high = d + math.sqrt(max((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2, 0))
    return max(low, -1.0), min(high, 1.0)


def z_for(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level."""
    return float(norm.ppf(1 - (1 - confidence) / 2))
