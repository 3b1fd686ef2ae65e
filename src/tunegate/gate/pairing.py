"""Records -> one value per case per side, the input of every paired comparison.

The case is the unit of analysis: its samples (repeats) are averaged into one pass share
or mean score, so N repeats never count as N independent cases. A sample that errored is
neither a pass nor a fail: it is left out of its case's average, and a case with no usable
sample on either side is left out of the pairing and counted in `excluded`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ..results import Record
from ..suite.checks import NON_EMPTY

__all__ = [
    "CONTAMINATED",
    "DEFAULT_MAX_EXCLUDED",
    "PASS_RATE",
    "FlakyCase",
    "PairedCases",
    "flaky_cases",
    "judged_only_and_skipped",
    "pair_cases",
]

# The metric name of "did the sample pass every check".
PASS_RATE = "pass_rate"
# Largest share of a rule's cases (or a probe's templates) that may be left out for an
# error before the rule is inconclusive: an outage is not evidence.
DEFAULT_MAX_EXCLUDED = 0.1
# The tag `tunegate contamination` gives cases that appear in the training data.
CONTAMINATED = "contaminated"


@dataclass(frozen=True)
class PairedCases:
    suite: str
    metric: str
    case_ids: list[str]
    base: NDArray[np.float64]
    candidate: NDArray[np.float64]
    # Cases in scope that could not be paired: an error (or no value) on either side.
    excluded: list[str] = field(default_factory=list)
    # Cases tagged `contaminated` (found in the training data), left out of the verdict.
    contaminated: list[str] = field(default_factory=list)
    # Samples of the paired cases that gave no evidence (errors inside a case), of all.
    samples_excluded: int = 0
    samples: int = 0
    # Every usable sample value was 0 or 1 (pass/fail, or a pass/fail check): per-case
    # values are then pass shares.
    binary_samples: bool = True

    @property
    def n(self) -> int:
        return len(self.case_ids)

    @property
    def in_scope(self) -> int:
        return self.n + len(self.excluded)

    @property
    def excluded_share(self) -> float:
        """The larger of the shares of cases and of samples that gave no evidence: errors
        inside a case count too, since the failing samples may be the ones that errored."""
        cases = len(self.excluded) / self.in_scope if self.in_scope else 0.0
        samples = self.samples_excluded / self.samples if self.samples else 0.0
        return max(cases, samples)


def judged_only_and_skipped(record: Record) -> bool:
    """Every check that speaks to the answer is a judged one no judge scored: the built-in
    non_empty alone is no evidence that the answer is right, so the sample is none."""
    return any(s.skipped for s in record.scores.values()) and all(
        name == NON_EMPTY for name, s in record.scores.items() if s.gating
    )


def _sample_value(record: Record, metric: str) -> float | None:
    """The value of one sample for `metric`, or None when it gives no evidence: the
    generation failed, or a check could not score it (a metric error, a regex timeout, a
    judge outage), which says nothing about the model."""
    if record.error is not None:
        return None
    if metric == PASS_RATE:
        # Report-only checks are not part of pass/fail; a judged check skipped for want of
        # a judge is no evidence either way.
        gating = [s for s in record.scores.values() if s.gating]
        # A check that definitely failed fails the sample, whatever another could not score.
        if any(s.value is not None and not s.passed for s in gating):
            return 0.0
        if any(s.value is None for s in gating):
            return None
        if judged_only_and_skipped(record):
            return None
        return 1.0 if record.passed else 0.0
    score = record.scores.get(metric)
    if score is None or score.value is None:
        return None
    return float(score.value)


def _case_values(
    records: Iterable[Record], metric: str
) -> dict[tuple[str, str], list[float | None]]:
    values: dict[tuple[str, str], list[float | None]] = defaultdict(list)
    for r in records:
        values[(r.case_id, r.role)].append(_sample_value(r, metric))
    return values


def pair_cases(
    records: Sequence[Record],
    *,
    suite: str,
    metric: str = PASS_RATE,
    tags: Sequence[str] = (),
) -> PairedCases:
    """Pair base and candidate per case of `suite` (restricted to cases with every tag in
    `tags`, and for a check, to cases that have it), each side's value the mean over that
    case's usable samples."""
    mine = [r for r in records if r.suite == suite and set(tags) <= set(r.tags)]
    # A case found in the training data measures memory, not knowledge: out of the verdict.
    contaminated = list(dict.fromkeys(r.case_id for r in mine if CONTAMINATED in r.tags))
    mine = [r for r in mine if CONTAMINATED not in r.tags]
    if metric != PASS_RATE:
        # A case without this check is outside the rule, not an error: only cases where some
        # sample scored it, or where every sample failed (which hides whether it has it).
        has_check = {r.case_id for r in mine if metric in r.scores}
        all_failed = {r.case_id for r in mine} - {r.case_id for r in mine if r.error is None}
        kept = has_check | all_failed
        mine = [r for r in mine if r.case_id in kept]
    values = _case_values(mine, metric)
    case_ids = list(dict.fromkeys(r.case_id for r in mine))
    paired_ids: list[str] = []
    base: list[float] = []
    cand: list[float] = []
    excluded: list[str] = []
    samples = samples_excluded = 0
    binary = True
    for case_id in case_ids:
        sides = []
        for role in ("base", "candidate"):
            every = values.get((case_id, role), [])
            usable = [v for v in every if v is not None]
            samples += len(every)
            samples_excluded += len(every) - len(usable)
            binary = binary and all(v in (0.0, 1.0) for v in usable)
            sides.append(sum(usable) / len(usable) if usable else None)
        b, c = sides
        if b is None or c is None:
            excluded.append(case_id)
            continue
        paired_ids.append(case_id)
        base.append(b)
        cand.append(c)
    return PairedCases(
        suite=suite,
        metric=metric,
        case_ids=paired_ids,
        base=np.asarray(base, dtype=np.float64),
        candidate=np.asarray(cand, dtype=np.float64),
        excluded=excluded,
        contaminated=contaminated,
        samples_excluded=samples_excluded,
        samples=samples,
        binary_samples=binary,
    )


@dataclass(frozen=True)
class FlakyCase:
    suite: str
    case_id: str
    target: str
    role: str
    passed: int
    samples: int

    @property
    def pass_probability(self) -> float:
        return self.passed / self.samples


def flaky_cases(records: Sequence[Record]) -> list[FlakyCase]:
    """Cases whose repeats both passed and failed on one target (errors left out)."""
    groups: dict[tuple[str, str, str, str], list[bool]] = defaultdict(list)
    for r in records:
        if r.error is None:
            groups[(r.suite, r.case_id, r.target, r.role)].append(r.passed)
    return [
        FlakyCase(suite, case_id, target, role, sum(outcomes), len(outcomes))
        for (suite, case_id, target, role), outcomes in groups.items()
        if 0 < sum(outcomes) < len(outcomes)
    ]
