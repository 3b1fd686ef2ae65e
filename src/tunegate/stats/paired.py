"""Paired comparison of candidate against base, with the case as the unit of analysis.

Each case contributes one value per side: its pass share (or mean score) over its samples,
so repeats form a cluster and never count as independent evidence.

- When every case's value is 0 or 1 on both sides (one sample per case, or repeats that
  agree), the data are a paired 2x2 table: Newcombe's method-10 interval for the
  difference of the two pass rates, and the exact McNemar test (a two-sided binomial test
  on the discordant cases, from statsmodels).
- Pass shares of repeated samples (`shares=True`): the same interval on the case-level
  table of expected cells. A case whose base passes a share b of its samples and whose
  candidate passes a share c contributes b*c to "both pass", c*(1-b) to "only the
  candidate", b*(1-c) to "only the base" and (1-b)*(1-c) to "neither" (its samples
  independent given the case). The table still sums to the number of cases, so repeats
  add no cases; it equals the 2x2 table when every share is 0 or 1, so a suite's interval
  does not jump when repeats are added; and a case whose repeats disagree counts as partly
  discordant, so repeats that split evenly on both sides give an honest, wide interval
  (a bootstrap of identical per-case differences would give a zero-width one). The
  two-sided p-value is the sign-flip permutation test below.
- Otherwise (scores): a seeded bootstrap of the mean per-case difference
  (scipy's resampling; Hesterberg's expanded percentile interval, so every level comes from
  one set of resamples and small suites are not overconfident) and a sign-flip permutation
  test (scipy, exact when 2^n is within the resample budget).

One-sided p-values for "difference <= threshold" (what a non-inferiority or superiority rule
tests) come from inverting the same interval, so a rule's p-value, interval and verdict
always agree.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar

from .intervals import newcombe_paired_interval, z_for

__all__ = ["BootstrapSettings", "PairedDifference", "paired_difference"]

Method = Literal["newcombe-mcnemar", "newcombe-permutation", "bootstrap-permutation"]
# Resamples are drawn in batches so memory stays bounded: about this many values at once.
_BATCH_VALUES = 2_000_000


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = 9999
    seed: int = 20240613


@dataclass(frozen=True)
class PairedDifference:
    """candidate - base over n paired cases."""

    base: NDArray[np.float64]
    candidate: NDArray[np.float64]
    method: Method
    settings: BootstrapSettings = field(default_factory=BootstrapSettings)

    @property
    def n(self) -> int:
        return int(self.base.size)

    @property
    def differences(self) -> NDArray[np.float64]:
        return self.candidate - self.base

    @property
    def base_mean(self) -> float:
        return float(self.base.mean()) if self.n else float("nan")

    @property
    def candidate_mean(self) -> float:
        return float(self.candidate.mean()) if self.n else float("nan")

    @property
    def estimate(self) -> float:
        return float(self.differences.mean()) if self.n else float("nan")

    @property
    def table(self) -> tuple[int, int, int, int]:
        """(both pass, only base passes, only candidate passes, neither) for 0/1 data."""
        b, c = self.base.astype(bool), self.candidate.astype(bool)
        return (
            int(np.sum(b & c)),
            int(np.sum(b & ~c)),
            int(np.sum(~b & c)),
            int(np.sum(~b & ~c)),
        )

    @property
    def expected_table(self) -> tuple[float, float, float, float]:
        """The case-level table of expected cells for pass shares (see the module doc)."""
        b, c = self.base, self.candidate
        return (
            float(np.sum(b * c)),
            float(np.sum(b * (1 - c))),
            float(np.sum((1 - b) * c)),
            float(np.sum((1 - b) * (1 - c))),
        )

    # -- intervals ---------------------------------------------------------------

    def interval(self, confidence: float) -> tuple[float, float]:
        """Two-sided interval of the difference at `confidence`."""
        if self.n == 0:
            return -1.0, 1.0
        if self.method != "bootstrap-permutation":
            cells = self.table if self.method == "newcombe-mcnemar" else self.expected_table
            both, base_only, cand_only, neither = cells
            # Newcombe's p1 - p2 with p1 = the candidate's rate.
            return newcombe_paired_interval(
                both, cand_only, base_only, neither, z=z_for(confidence)
            )
        return self._bootstrap_interval(confidence)

    def p_greater(self, threshold: float) -> float:
        """One-sided p-value for H0: difference <= threshold (H1: it is greater).

        The smallest one-sided alpha at which the interval's lower bound clears the
        threshold: the interval inverted, so `p < alpha` exactly when the lower bound of the
        (1 - 2 alpha) interval is above the threshold."""
        if self.n == 0:
            return 1.0
        if self.method == "bootstrap-permutation":
            replicates = self._replicates()
            # Percentile inversion: the share of bootstrap means at or below the threshold
            # is the expanded level; map it back to the nominal one.
            share = float(np.clip(np.mean(replicates <= threshold), 0.0, 1.0))
            return _nominal_alpha(share, self.n)
        estimate = self.estimate
        if threshold == estimate:
            return 0.5
        if threshold < estimate:
            # The smallest alpha whose (1 - 2 alpha) lower bound still clears the threshold.
            return _smallest_alpha(lambda a: self.interval(1 - 2 * a)[0] > threshold)
        # The threshold lies above the estimate: p is 1 minus the mirror-image p-value.
        return 1.0 - _smallest_alpha(lambda a: self.interval(1 - 2 * a)[1] < threshold)

    # -- the two-sided test of no difference ---------------------------------------

    def p_value(self) -> float:
        """Two-sided p-value of 'no difference': exact McNemar, or sign-flip permutation."""
        if self.n == 0:
            return 1.0
        if self.method == "newcombe-mcnemar":
            _, base_only, cand_only, _ = self.table
            if base_only + cand_only == 0:
                return 1.0
            result = mcnemar([[0, base_only], [cand_only, 0]], exact=True)
            return float(result.pvalue)
        d = self.differences
        if np.all(d == 0) or d.size < 2:
            return 1.0  # one case cannot tell a difference from chance
        result = stats.permutation_test(
            (self.candidate, self.base),
            _mean_difference,
            permutation_type="samples",
            vectorized=True,
            n_resamples=self.settings.resamples,
            batch=_batch(d.size),
            alternative="two-sided",
            rng=np.random.default_rng(self.settings.seed),
        )
        return float(min(result.pvalue, 1.0))

    # -- bootstrap -----------------------------------------------------------------

    def _replicates(self) -> NDArray[np.float64]:
        """Bootstrap means of the per-case differences (resampling cases), drawn once."""
        cached: NDArray[np.float64] | None = getattr(self, "_cache", None)
        if cached is None and np.all(self.differences == self.differences[0]):
            cached = np.full(self.settings.resamples, float(self.differences[0]))
            object.__setattr__(self, "_cache", cached)
        if cached is None:
            result = stats.bootstrap(
                (self.differences,),
                np.mean,
                n_resamples=self.settings.resamples,
                method="percentile",
                vectorized=True,
                batch=_batch(self.differences.size),
                rng=np.random.default_rng(self.settings.seed),
            )
            cached = np.asarray(result.bootstrap_distribution, dtype=np.float64)
            object.__setattr__(self, "_cache", cached)
        return cached

    def _bootstrap_interval(self, confidence: float) -> tuple[float, float]:
        d = self.differences
        if np.all(d == d[0]):
            return float(d[0]), float(d[0])  # no spread: every resample is the same
        replicates = self._replicates()
        tail = _expanded_alpha((1 - confidence) / 2, d.size)
        low, high = np.quantile(replicates, [tail, 1 - tail])
        return float(low), float(high)


# The percentile bootstrap is too narrow for small n (it uses the plug-in variance and normal
# tails). Hesterberg's expanded percentile interval (2015, "What teachers should know about
# the bootstrap", The American Statistician 69:4) reads the resamples at a wider level:
# z_(alpha') = sqrt(n / (n - 1)) * t_(alpha, n - 1). Both directions of that map are here.


def _expanded_alpha(alpha: float, n: int) -> float:
    if n < 2:
        return alpha
    return float(stats.norm.cdf(math.sqrt(n / (n - 1)) * stats.t.ppf(alpha, n - 1)))


def _nominal_alpha(expanded: float, n: int) -> float:
    if n < 2 or expanded in (0.0, 1.0):
        return expanded
    return float(stats.t.cdf(stats.norm.ppf(expanded) / math.sqrt(n / (n - 1)), n - 1))


def _smallest_alpha(holds: Callable[[float], bool]) -> float:
    """The smallest one-sided alpha in (0, 0.5) at which `holds` is true (it is monotone:
    once true for an alpha, true for every larger one); 0.5 when it never holds."""
    lo, hi = 1e-15, 0.5 - 1e-12
    if holds(lo):
        return 0.0
    if not holds(hi):
        return 0.5
    while hi - lo > 1e-12:
        mid = (lo + hi) / 2
        if holds(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _batch(n: int) -> int:
    return max(1, _BATCH_VALUES // max(n, 1))


def _mean_difference(
    candidate: NDArray[np.float64], base: NDArray[np.float64], axis: int = -1
) -> NDArray[np.float64]:
    return np.mean(candidate - base, axis=axis)  # type: ignore[no-any-return]


def paired_difference(
    base: Sequence[float] | NDArray[np.float64],
    candidate: Sequence[float] | NDArray[np.float64],
    *,
    shares: bool = False,
    settings: BootstrapSettings | None = None,
) -> PairedDifference:
    """Compare per-case values (already one per case); picks the method the data allow.
    `shares`: the values are pass shares (of a case's samples), not scores."""
    b = np.asarray(base, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    if b.shape != c.shape or b.ndim != 1:
        raise ValueError("base and candidate need one value per case, in the same order")
    binary = bool(np.all(np.isin(b, (0.0, 1.0))) and np.all(np.isin(c, (0.0, 1.0))))
    if shares and not (np.all((b >= 0) & (b <= 1)) and np.all((c >= 0) & (c <= 1))):
        raise ValueError("pass shares lie between 0 and 1")
    method: Method = (
        "newcombe-mcnemar"
        if binary
        else "newcombe-permutation"
        if shares
        else "bootstrap-permutation"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return PairedDifference(b, c, method, settings or BootstrapSettings())
