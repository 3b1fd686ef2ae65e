"""Every paired comparison a run reports: per suite, per tag and per check."""

from __future__ import annotations

from collections.abc import Sequence

from ..results import Comparison, Record
from ..stats import BootstrapSettings, paired_difference, wilson_interval
from .pairing import PairedCases, pair_cases

__all__ = ["compare_suite"]

CONFIDENCE = 0.95


def _comparison(paired: PairedCases, scope: str, settings: BootstrapSettings) -> Comparison:
    if paired.n == 0:
        return Comparison(
            suite=paired.suite,
            scope=scope,
            metric=paired.metric,
            n=0,
            excluded=len(paired.excluded),
            base=None,
            candidate=None,
            difference=None,
            ci=None,
            confidence=CONFIDENCE,
            p_value=None,
            test="none",
        )
    pd = paired_difference(
        paired.base, paired.candidate, shares=paired.binary_samples, settings=settings
    )
    binary = pd.method == "newcombe-mcnemar"
    table = pd.table if binary else None
    return Comparison(
        suite=paired.suite,
        scope=scope,
        metric=paired.metric,
        n=pd.n,
        excluded=len(paired.excluded),
        base=pd.base_mean,
        candidate=pd.candidate_mean,
        difference=pd.estimate,
        ci=pd.interval(CONFIDENCE),
        confidence=CONFIDENCE,
        p_value=pd.p_value(),
        test=pd.method,
        base_ci=wilson_interval(int(pd.base.sum()), pd.n, CONFIDENCE) if binary else None,
        candidate_ci=(
            wilson_interval(int(pd.candidate.sum()), pd.n, CONFIDENCE) if binary else None
        ),
        base_only=table[1] if table else None,
        candidate_only=table[2] if table else None,
    )


def compare_suite(
    suite: str, records: Sequence[Record], settings: BootstrapSettings
) -> list[Comparison]:
    """The suite's pass rate, the pass rate within each tag, and each check's values."""
    mine = [r for r in records if r.suite == suite]
    if not any(r.role == "base" for r in mine):
        return []  # nothing to compare against
    out = [_comparison(pair_cases(mine, suite=suite), "suite", settings)]
    for tag in sorted({t for r in mine for t in r.tags}):
        out.append(_comparison(pair_cases(mine, suite=suite, tags=[tag]), f"tag:{tag}", settings))
    for check in sorted({name for r in mine for name in r.scores}):
        paired = pair_cases(mine, suite=suite, metric=check)
        out.append(_comparison(paired, f"check:{check}", settings))
    return out
