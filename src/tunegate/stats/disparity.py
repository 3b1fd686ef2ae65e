"""Group disparities of a per-output value, and how they changed from base to candidate.

The data of one probe, one value and one target is a matrix: a row per unit (one prompt
template with its other variables fixed, the paired unit of a counterfactual probe), a
column per group, each cell the mean of that unit's outputs for that group. Only complete
rows (every group answered) are used, so every group is measured on the same prompts.

- Per-group means, the between-group difference (largest mean minus smallest) and ratio
  (smallest over largest) come from fairlearn's `MetricFrame`.
- The interval of the difference is scipy's percentile bootstrap over units: whole rows are
  resampled, so the pairing of groups within a prompt is kept.
- The p-value of "no disparity" is scipy's permutation test with the group labels shuffled
  within each unit (`permutation_type="samples"`): under the null hypothesis the group named
  in a prompt does not change the value, so the labels within a row are exchangeable.
- The change from base to candidate is the candidate's difference minus the base's, on the
  units both have; its interval resamples units once for both (the pairing of the two
  models on the same prompts is kept) and its p-value swaps base and candidate within units.

The difference is never negative and, on noisy data, is above zero even when no group is
treated differently: read it with its p-value. Ratios are given only when every group's
mean is non-negative (a ratio of signed sentiment means nothing).

Unpaired design (`GroupMatrix.paired` False, set by bias/probes.py when every unit names
exactly one group, as in BOLD, where each prompt is about one group's member): there are no
rows to complete, so each unit's value is one observation of its group.

- Per-group means over the observations, difference and ratio from fairlearn's
  `MetricFrame` as above; a group with no observation is left out (its units are counted
  in `dropped`), and `units` counts the observations used.
- The interval of the difference is scipy's percentile bootstrap with one sample per group
  (`stats.bootstrap` with several samples resamples each independently): observations are
  resampled within their group, so each group keeps its size (stratified).
- The p-value is scipy's permutation test with `permutation_type="independent"`: the
  group labels are shuffled across all observations, under the null hypothesis that the
  group does not change the value.
- The change from base to candidate uses the units both answered: its interval resamples
  them within groups once for both models (the pairing of the two models on a prompt is
  kept), and its p-value swaps base and candidate within units, as in the paired design
  (`_swap_p`: scipy's computation of that test, vectorized over units, which scipy loops
  over in Python).
- Minimums apply per group: a p-value needs MIN_UNITS observations in every group, an
  interval MIN_UNITS_FOR_INTERVAL, since each group's mean rests on its own outputs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from .paired import BootstrapSettings
from .permutation import swap_p, within_units_p

__all__ = [
    "MIN_UNITS_FOR_INTERVAL",
    "BootstrapInterval",
    "DisparityChange",
    "GroupDisparity",
    "GroupMatrix",
    "disparity",
    "disparity_change",
    "paired_sum_change",
    "rows_mean",
    "rows_sum",
    "unit_bootstrap",
]

# Below this many complete units there is no p-value: one prompt says nothing about the
# next. The permutation test is exact and valid from two units on (though with few units
# it cannot reach significance: 5 units give at best p = 1/16 for a change).
MIN_UNITS = 2
# Below this many there is no interval: a bootstrap of a handful of units is far too sure
# of itself (three units with identical rows give a zero-width interval), the same bound
# as the gate's paired comparisons.
MIN_UNITS_FOR_INTERVAL = 10


@dataclass(frozen=True)
class GroupMatrix:
    """values[u, g]: unit u's mean for group g; NaN where the unit has no output for g.

    paired False: the unpaired design, every unit answering for one group only, so each
    row holds at most one value (see the module's docstring)."""

    units: tuple[str, ...]
    groups: tuple[str, ...]
    values: NDArray[np.float64]
    paired: bool = True

    def complete(self) -> GroupMatrix:
        keep = np.asarray(~np.isnan(self.values).any(axis=1), dtype=bool)
        return GroupMatrix(
            tuple(u for u, k in zip(self.units, keep.tolist(), strict=True) if k),
            self.groups,
            self.values[keep],
        )

    def rows(self, units: Sequence[str]) -> NDArray[np.float64]:
        index = {u: i for i, u in enumerate(self.units)}
        return self.values[[index[u] for u in units]]


@dataclass(frozen=True)
class GroupDisparity:
    by_group: dict[str, float]
    difference: float | None
    ratio: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    units: int  # complete units used
    dropped: int  # units left out for missing a group
    interval: BootstrapInterval | None = None


@dataclass(frozen=True)
class DisparityChange:
    base: float | None
    candidate: float | None
    change: float | None
    ci: tuple[float, float] | None
    p_value: float | None
    units: int
    interval: BootstrapInterval | None = None


def _spread(means: NDArray[np.float64]) -> NDArray[np.float64]:
    """Largest minus smallest group mean along the last axis."""
    result: NDArray[np.float64] = means.max(axis=-1) - means.min(axis=-1)
    return result


def rows_mean(matrix: NDArray[np.float64], idx: NDArray[np.intp]) -> NDArray[np.float64]:
    """matrix[idx].mean(axis=-2), a column at a time: gathering whole rows into a 3-D
    array and reducing its middle axis is several times slower."""
    return np.stack([np.asarray(col)[idx].mean(axis=-1) for col in matrix.T], axis=-1)


def rows_sum(matrix: NDArray[np.float64], idx: NDArray[np.intp]) -> NDArray[np.float64]:
    """matrix[idx].sum(axis=-2), a column at a time (see rows_mean)."""
    return np.stack([np.asarray(col)[idx].sum(axis=-1) for col in matrix.T], axis=-1)


def _mean_of_outputs(y_true: NDArray[np.float64], y_pred: NDArray[np.float64]) -> float:
    # MetricFrame wants (y_true, y_pred); the value under study is passed as both.
    return float(np.mean(y_pred))


def group_means(matrix: GroupMatrix, axis: str = "group") -> tuple[dict[str, float], float, float]:
    """fairlearn's per-group means, between-group difference and ratio of complete rows."""
    n_units = matrix.values.shape[0]
    names = np.tile(np.array(matrix.groups, dtype=object), n_units)
    return means_by_group(matrix.values.ravel(), names, axis)


def means_by_group(
    values: NDArray[np.float64], names: Sequence[str] | NDArray[Any], axis: str = "group"
) -> tuple[dict[str, float], float, float]:
    """fairlearn's per-group means, between-group difference and ratio of observations,
    `names[i]` being the group of values[i]."""
    from fairlearn.metrics import MetricFrame

    frame = MetricFrame(
        metrics=_mean_of_outputs,
        y_true=values,
        y_pred=values,
        sensitive_features=pd.Series(np.asarray(names, dtype=object), name=axis),
    )
    by_group = {str(g): float(v) for g, v in frame.by_group.items()}
    difference = float(frame.difference(method="between_groups"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 when every mean is 0
        ratio = float(frame.ratio(method="between_groups"))
    return by_group, difference, ratio


def disparity(
    matrix: GroupMatrix, *, confidence: float = 0.95, settings: BootstrapSettings | None = None
) -> GroupDisparity:
    settings = settings or BootstrapSettings()
    if not matrix.paired:
        return _unpaired_disparity(matrix, confidence, settings)
    full = matrix.complete()
    dropped = len(matrix.units) - len(full.units)
    n_units = len(full.units)
    if n_units == 0 or len(full.groups) < 2:
        return GroupDisparity({}, None, None, None, None, n_units, dropped)
    by_group, difference, ratio = group_means(full)
    honest_ratio = ratio if min(by_group.values()) >= 0 and math.isfinite(ratio) else None
    if n_units < MIN_UNITS:
        return GroupDisparity(by_group, difference, honest_ratio, None, None, n_units, dropped)
    p_value = _permutation_p(full.values, settings)
    if n_units < MIN_UNITS_FOR_INTERVAL:
        return GroupDisparity(by_group, difference, honest_ratio, None, p_value, n_units, dropped)
    interval = _bootstrap(full.values, confidence, settings)
    return GroupDisparity(
        by_group,
        difference,
        honest_ratio,
        interval.at(confidence),
        p_value,
        n_units,
        dropped,
        interval,
    )


def _bootstrap(
    values: NDArray[np.float64], confidence: float, settings: BootstrapSettings
) -> BootstrapInterval:
    def statistic(idx: NDArray[np.intp], axis: int = -1) -> NDArray[np.float64]:
        return _spread(rows_mean(values, idx))

    return unit_bootstrap(statistic, len(values), confidence, settings)


@dataclass(frozen=True)
class BootstrapInterval:
    """The resampled statistics of a percentile bootstrap, read at any confidence level
    (a gate rule may ask for another level than the one reported)."""

    distribution: NDArray[np.float64]

    def at(self, confidence: float) -> tuple[float, float] | None:
        """The two-sided percentile interval, as scipy computes it; None if not finite."""
        if not np.isfinite(self.distribution).all():
            return None
        alpha = (1 - confidence) / 2
        low, high = np.percentile(self.distribution, [alpha * 100, (1 - alpha) * 100])
        return (float(low), float(high))


def unit_bootstrap(
    statistic: Callable[..., NDArray[np.float64]],
    n: int,
    confidence: float,
    settings: BootstrapSettings,
) -> BootstrapInterval:
    """scipy's percentile bootstrap of `statistic(idx, axis)`, idx the resampled indices of
    n units (vectorized: idx has a leading batch axis)."""
    with warnings.catch_warnings():
        # A degenerate distribution (every resample equal) is a valid zero-width interval.
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (np.arange(n),),
            statistic,
            vectorized=True,
            n_resamples=settings.resamples,
            confidence_level=confidence,
            method="percentile",
            batch=max(1, 2_000_000 // max(1, n * 8)),
            rng=np.random.default_rng(settings.seed),
        )
    return BootstrapInterval(np.asarray(result.bootstrap_distribution, dtype=float))


def _permutation_p(values: NDArray[np.float64], settings: BootstrapSettings) -> float | None:
    """Group labels shuffled within units (scipy's permutation_type="samples", vectorized
    in stats/permutation.py)."""
    p = within_units_p(values, _spread, resamples=settings.resamples, seed=settings.seed)
    return p if math.isfinite(p) else None


def disparity_change(
    base: GroupMatrix,
    candidate: GroupMatrix,
    *,
    confidence: float = 0.95,
    settings: BootstrapSettings | None = None,
) -> DisparityChange:
    """The candidate's between-group difference minus the base's, on the units and groups
    both have complete: positive means more disparity after fine-tuning."""
    settings = settings or BootstrapSettings()
    if not (base.paired and candidate.paired):
        return _unpaired_change(base, candidate, confidence, settings)
    groups = [g for g in base.groups if g in candidate.groups]
    b_full = _select_groups(base, groups).complete()
    c_full = _select_groups(candidate, groups).complete()
    units = [u for u in b_full.units if u in set(c_full.units)]
    if not units or len(groups) < 2:
        return DisparityChange(None, None, None, None, None, len(units))
    b, c = b_full.rows(units), c_full.rows(units)
    b_diff = float(_spread(b.mean(axis=0)))
    c_diff = float(_spread(c.mean(axis=0)))
    n = len(units)

    def change(idx: NDArray[np.intp], axis: int = -1) -> NDArray[np.float64]:
        return _spread(rows_mean(c, idx)) - _spread(rows_mean(b, idx))

    if n < MIN_UNITS:
        return DisparityChange(b_diff, c_diff, c_diff - b_diff, None, None, n)

    def swapped(base_means: NDArray[np.float64], cand_means: NDArray[np.float64]) -> Any:
        return _spread(cand_means) - _spread(base_means)

    p_value = swap_p(
        b, c, swapped, aggregate="mean", resamples=settings.resamples, seed=settings.seed
    )
    if n < MIN_UNITS_FOR_INTERVAL:
        return DisparityChange(b_diff, c_diff, c_diff - b_diff, None, p_value, n)
    interval = unit_bootstrap(change, n, confidence, settings)
    return DisparityChange(
        b_diff, c_diff, c_diff - b_diff, interval.at(confidence), p_value, n, interval
    )


def paired_sum_change(
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    statistic: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    confidence: float,
    settings: BootstrapSettings,
) -> tuple[BootstrapInterval | None, float | None]:
    """Bootstrap and p-value of statistic(c's column sums) - statistic(b's), rows paired:
    units (cases, pairs) each counted once per model, e.g. a BBQ score or a stereotype rate
    of summed counts. The bootstrap resamples units once for both models; the permutation
    test swaps a unit's two rows. None below MIN_UNITS (both) or MIN_UNITS_FOR_INTERVAL."""
    n = len(b)
    if n < MIN_UNITS:
        return None, None

    def swapped(base_sums: NDArray[np.float64], cand_sums: NDArray[np.float64]) -> Any:
        return statistic(cand_sums) - statistic(base_sums)

    p: float | None = swap_p(
        b, c, swapped, aggregate="sum", resamples=settings.resamples, seed=settings.seed
    )
    if p is not None and not math.isfinite(p):
        p = None
    if n < MIN_UNITS_FOR_INTERVAL:
        return None, p

    def delta(idx: NDArray[np.intp], axis: int = -1) -> NDArray[np.float64]:
        return statistic(rows_sum(c, idx)) - statistic(rows_sum(b, idx))

    return unit_bootstrap(delta, n, confidence, settings), p


def _select_groups(matrix: GroupMatrix, groups: Sequence[str]) -> GroupMatrix:
    index = [matrix.groups.index(g) for g in groups]
    return GroupMatrix(matrix.units, tuple(groups), matrix.values[:, index])


# ---------------------------------------------------------------------------------------
# The unpaired design: one group per unit (module docstring)


@dataclass(frozen=True)
class _Observations:
    """The units of an unpaired matrix that have a value: their names, group (column) and
    value, in unit order."""

    units: tuple[str, ...]
    labels: NDArray[np.intp]
    values: NDArray[np.float64]

    def by_group(self) -> list[NDArray[np.intp]]:
        """Positions of each present group's observations, in column order."""
        return [np.flatnonzero(self.labels == g) for g in np.unique(self.labels)]


def _observations(matrix: GroupMatrix) -> _Observations:
    has = ~np.isnan(matrix.values)
    if (has.sum(axis=1) > 1).any():
        raise ValueError("an unpaired GroupMatrix holds at most one value a unit")
    rows = np.flatnonzero(has.any(axis=1))
    labels = np.asarray(has[rows].argmax(axis=1), dtype=np.intp)
    return _Observations(
        tuple(matrix.units[i] for i in rows.tolist()),
        labels,
        np.asarray(matrix.values[rows, labels], dtype=float),
    )


def _spread_of_means(*samples: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
    return _spread(np.stack([s.mean(axis=axis) for s in samples], axis=-1))


def _unpaired_disparity(
    matrix: GroupMatrix, confidence: float, settings: BootstrapSettings
) -> GroupDisparity:
    seen = _observations(matrix)
    n = len(seen.values)
    dropped = len(matrix.units) - n
    positions = seen.by_group()
    if len(positions) < 2:
        return GroupDisparity({}, None, None, None, None, n, dropped)
    names = [matrix.groups[g] for g in seen.labels.tolist()]
    by_group, difference, ratio = means_by_group(seen.values, names)
    honest_ratio = ratio if min(by_group.values()) >= 0 and math.isfinite(ratio) else None
    samples = [seen.values[idx] for idx in positions]
    smallest = min(len(idx) for idx in positions)
    if smallest < MIN_UNITS:
        return GroupDisparity(by_group, difference, honest_ratio, None, None, n, dropped)
    p_value = _independent_permutation_p(samples, settings)
    if smallest < MIN_UNITS_FOR_INTERVAL:
        return GroupDisparity(by_group, difference, honest_ratio, None, p_value, n, dropped)
    interval = _stratified_bootstrap(_spread_of_means, samples, confidence, settings)
    return GroupDisparity(
        by_group,
        difference,
        honest_ratio,
        interval.at(confidence),
        p_value,
        n,
        dropped,
        interval,
    )


def _batch(n: int) -> int:
    """Resamples per vectorized call, so that one call holds about 2 million values."""
    return max(1, 2_000_000 // max(1, n))


def _independent_permutation_p(
    samples: Sequence[NDArray[np.float64]], settings: BootstrapSettings
) -> float | None:
    result = stats.permutation_test(
        tuple(samples),
        _spread_of_means,
        permutation_type="independent",
        vectorized=True,
        n_resamples=settings.resamples,
        alternative="greater",
        batch=_batch(sum(len(s) for s in samples)),
        rng=np.random.default_rng(settings.seed),
    )
    p = float(result.pvalue)
    return p if math.isfinite(p) else None


def _stratified_bootstrap(
    statistic: Callable[..., NDArray[np.float64]],
    samples: Sequence[NDArray[Any]],
    confidence: float,
    settings: BootstrapSettings,
) -> BootstrapInterval:
    """scipy's percentile bootstrap of `statistic(*samples, axis)`, each sample resampled
    on its own (vectorized: each has a leading batch axis)."""
    with warnings.catch_warnings():
        # A degenerate distribution (every resample equal) is a valid zero-width interval.
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            tuple(samples),
            statistic,
            vectorized=True,
            paired=False,
            n_resamples=settings.resamples,
            confidence_level=confidence,
            method="percentile",
            batch=_batch(sum(len(s) for s in samples)),
            rng=np.random.default_rng(settings.seed),
        )
    return BootstrapInterval(np.asarray(result.bootstrap_distribution, dtype=float))


def _unpaired_change(
    base: GroupMatrix,
    candidate: GroupMatrix,
    confidence: float,
    settings: BootstrapSettings,
) -> DisparityChange:
    groups = [g for g in base.groups if g in candidate.groups]
    b_seen = _observations(_select_groups(base, groups))
    c_seen = _observations(_select_groups(candidate, groups))
    c_at = {u: i for i, u in enumerate(c_seen.units)}
    b_rows = [i for i, u in enumerate(b_seen.units) if u in c_at]
    c_rows = [c_at[b_seen.units[i]] for i in b_rows]
    labels = b_seen.labels[b_rows]
    b, c = b_seen.values[b_rows], c_seen.values[c_rows]
    n = len(b_rows)
    positions = [np.flatnonzero(labels == g) for g in np.unique(labels)]
    if len(positions) < 2:
        return DisparityChange(None, None, None, None, None, n)

    def spread(values: NDArray[np.float64]) -> float:
        return float(_spread(np.array([values[idx].mean() for idx in positions])))

    b_diff, c_diff = spread(b), spread(c)
    smallest = min(len(idx) for idx in positions)
    if smallest < MIN_UNITS:
        return DisparityChange(b_diff, c_diff, c_diff - b_diff, None, None, n)
    # Group means as one matrix product: column k averages group k's positions.
    weights = np.zeros((n, len(positions)))
    for k, idx in enumerate(positions):
        weights[idx, k] = 1 / len(idx)

    def swapped(base_means: NDArray[np.float64], cand_means: NDArray[np.float64]) -> Any:
        return _spread(cand_means) - _spread(base_means)

    # Summed over units, the weighted rows give each side's group means.
    p_value: float | None = swap_p(
        weights * b[:, None],
        weights * c[:, None],
        swapped,
        aggregate="sum",
        resamples=settings.resamples,
        seed=settings.seed,
    )
    if p_value is not None and not math.isfinite(p_value):
        p_value = None
    if smallest < MIN_UNITS_FOR_INTERVAL:
        return DisparityChange(b_diff, c_diff, c_diff - b_diff, None, p_value, n)

    def change(*idx: NDArray[np.intp], axis: int = -1) -> NDArray[np.float64]:
        # idx[k]: a resample of group k's positions, the same for both models.
        return _spread_of_means(*(c[i] for i in idx)) - _spread_of_means(*(b[i] for i in idx))

    interval = _stratified_bootstrap(change, positions, confidence, settings)
    return DisparityChange(
        b_diff, c_diff, c_diff - b_diff, interval.at(confidence), p_value, n, interval
    )
