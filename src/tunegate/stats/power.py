"""How small a drop a suite can detect, and how many cases a margin would need.

A non-inferiority rule asks whether the mean per-case difference (candidate - base) is
above -margin. With n cases whose differences have standard deviation sd, that is a
one-sample, one-sided test; statsmodels' `TTestPower` gives its power, the detectable
effect for a given n, and the n for a given effect. For pass/fail data under "no true
difference", the variance of a per-case difference is the discordance rate (the share of
cases where exactly one side passes), so sd = sqrt(discordance). The observed rate is
smoothed, (discordant + 1) / (n + 2), so a small suite with no discordant case is not
credited with perfect precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from statsmodels.stats.power import TTestPower

__all__ = ["PowerEstimate", "power_for_margin"]

POWER = 0.8
# No suite needs more than this; beyond it the answer is "far more cases than you have".
_MAX_CASES = 10_000_000


@dataclass(frozen=True)
class PowerEstimate:
    n: int
    sd: float
    detectable: float  # the smallest drop detectable at 80% power with n cases
    cases_needed: int | None  # cases for the margin asked, at 80% power; None if unbounded


def per_case_sd(differences: NDArray[np.float64], *, binary: bool) -> float:
    n = differences.size
    if binary:
        discordant = int(np.sum(differences != 0))
        return math.sqrt((discordant + 1) / (n + 2))
    sd = float(np.std(differences, ddof=1)) if n > 1 else 0.0
    # A floor for suites whose differences happen to be identical: some spread is assumed.
    return max(sd, 1.0 / math.sqrt(n + 2))


def power_for_margin(
    differences: NDArray[np.float64], *, binary: bool, margin: float, confidence: float
) -> PowerEstimate:
    n = int(differences.size)
    sd = per_case_sd(differences, binary=binary)
    alpha = (1 - confidence) / 2  # one-sided, as the two-sided interval is read
    analysis = TTestPower()
    if n >= 2:
        effect = analysis.solve_power(
            nobs=n, alpha=alpha, power=POWER, alternative="larger", effect_size=None
        )
        detectable = float(effect) * sd
    else:
        detectable = float("inf")
    needed: int | None = None
    if margin > 0:
        try:
            raw = analysis.solve_power(
                effect_size=margin / sd, alpha=alpha, power=POWER, alternative="larger"
            )
            needed = min(math.ceil(float(raw)), _MAX_CASES) if math.isfinite(raw) else None
        except (ValueError, RuntimeError):  # the solver found no n
            needed = None
    return PowerEstimate(n=n, sd=sd, detectable=detectable, cases_needed=needed)


def power_at(n: int, sd: float, shift: float, confidence: float) -> float:
    """Power of the one-sided test to clear a margin when the true difference sits `shift`
    above -margin (for checking the simulation against the analytic figure)."""
    alpha = (1 - confidence) / 2
    return float(
        TTestPower().power(effect_size=shift / sd, nobs=n, alpha=alpha, alternative="larger")
    )
