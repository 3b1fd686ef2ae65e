"""Agreement of two raters: raw agreement with its Wilson interval, Cohen's kappa, Spearman.

Pure functions of labels and numbers. tunegate uses them to compare an LLM judge with the
people who reviewed its verdicts (docs/review.md).

- **Raw agreement**: the share of items both raters labelled the same, with the Wilson
  interval of that share (`wilson_interval`, statsmodels).
- **Cohen's kappa**: (p_o - p_e) / (1 - p_e), where p_o is the raw agreement and p_e the
  agreement expected by chance from each rater's label frequencies. It is undefined (None,
  never NaN) when there is nothing to compare (n = 0) and when p_e = 1: both raters gave
  one and the same label to every item, so chance alone explains all the agreement and the
  formula is 0/0. Raters who each use a single label but different ones have p_o = p_e = 0
  and kappa 0. Computed by `sklearn.metrics.cohen_kappa_score`; only the undefined case is
  decided here, exactly, before scikit-learn would warn and return NaN.
- **Spearman's rho** of two score lists (`scipy.stats.spearmanr`): None with fewer than
  3 pairs (two points always correlate perfectly) and when either list is constant (the
  rank correlation is 0/0).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from .intervals import wilson_interval

__all__ = [
    "MIN_SPEARMAN_PAIRS",
    "LabelAgreement",
    "cohen_kappa",
    "kappa_undefined_reason",
    "label_agreement",
    "spearman",
    "spearman_undefined_reason",
]

MIN_SPEARMAN_PAIRS = 3


@dataclass(frozen=True)
class LabelAgreement:
    """Two raters' labels on the same n items, compared."""

    n: int
    agreed: int
    raw: float | None  # agreed / n; None when n == 0
    raw_ci: tuple[float, float] | None  # Wilson interval of `raw` at `confidence`
    kappa: float | None  # None when undefined: see `kappa_why`
    kappa_why: str | None  # why kappa is undefined, else None
    confidence: float = 0.95


def _check_lengths(first: Sequence[object], second: Sequence[object]) -> None:
    if len(first) != len(second):
        raise ValueError(
            f"the two raters labelled a different number of items ({len(first)} and "
            f"{len(second)}); agreement compares the same items"
        )


def kappa_undefined_reason(first: Sequence[Hashable], second: Sequence[Hashable]) -> str | None:
    """Why Cohen's kappa of these labels is undefined, or None when it is defined."""
    _check_lengths(first, second)
    if not first:
        return "no item was rated by both"
    if len(set(first)) == 1 and set(first) == set(second):
        return (
            "both raters gave every item the same single label, so chance explains all "
            "the agreement (kappa is 0/0)"
        )
    return None


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """Cohen's (unweighted) kappa of two raters' labels on the same items; None when it
    is undefined (`kappa_undefined_reason` says why). Symmetric in the two raters."""
    if kappa_undefined_reason(first, second) is not None:
        return None
    from sklearn.metrics import cohen_kappa_score

    # Labels of mixed types (a bool and a str) would not sort inside scikit-learn.
    names = {label: i for i, label in enumerate(dict.fromkeys([*first, *second]))}
    return float(cohen_kappa_score([names[x] for x in first], [names[x] for x in second]))


def label_agreement(
    first: Sequence[Hashable], second: Sequence[Hashable], confidence: float = 0.95
) -> LabelAgreement:
    """Raw agreement (with its Wilson interval) and Cohen's kappa of two raters."""
    _check_lengths(first, second)
    n = len(first)
    agreed = sum(a == b for a, b in zip(first, second, strict=True))
    return LabelAgreement(
        n=n,
        agreed=agreed,
        raw=agreed / n if n else None,
        raw_ci=wilson_interval(agreed, n, confidence) if n else None,
        kappa=cohen_kappa(first, second),
        kappa_why=kappa_undefined_reason(first, second),
        confidence=confidence,
    )


def spearman_undefined_reason(first: Sequence[float], second: Sequence[float]) -> str | None:
    """Why Spearman's rho of these scores is undefined, or None when it is defined.
    Raises ValueError on a score that is not a finite number."""
    _check_lengths(first, second)
    if any(not math.isfinite(v) for v in (*first, *second)):
        raise ValueError("a score is not a finite number; rank correlation needs numbers")
    if len(first) < MIN_SPEARMAN_PAIRS:
        return f"{len(first)} scored item(s): rank correlation needs at least {MIN_SPEARMAN_PAIRS}"
    if len(set(first)) == 1 or len(set(second)) == 1:
        return "one rater gave every item the same score, so there is no ranking to compare"
    return None


def spearman(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Spearman's rank correlation (scipy) of two raters' scores on the same items; None
    when it is undefined (`spearman_undefined_reason` says why)."""
    if spearman_undefined_reason(first, second) is not None:
        return None
    from scipy.stats import spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input is excluded above
        rho = float(spearmanr(list(first), list(second)).statistic)
    return None if math.isnan(rho) else max(-1.0, min(1.0, rho))
