"""The bias audit of one run: every probe's disparities per target, their change with
fine-tuning, BBQ scores and CrowS-Pairs stereotype rates, reported at the suite's
`bias.confidence`.

The bootstraps are kept (`BiasAudit.interval`) so a gate rule can read its own level
from the same resamples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..results import BbqScore, BiasResults, Disparity, DisparityChange, PairScore, Record
from ..stats import BootstrapSettings
from ..stats import disparity as stats_disparity
from ..stats.disparity import BootstrapInterval, GroupDisparity, disparity, disparity_change
from ..suite import Suite
from ..suite.format import ProbeSpec
from .bbq import Intervals, bbq_cells, bbq_changes, bbq_scores
from .findings import finding
from .pairs import pair_cells, pair_changes, pair_scores
from .probes import probe_matrices

__all__ = ["BiasAudit", "bias_audit"]


@dataclass(frozen=True)
class BiasAudit:
    results: BiasResults = field(default_factory=BiasResults)
    intervals: Intervals = field(default_factory=dict)

    def interval(
        self, key: tuple[str, ...], confidence: float, reported: tuple[float, float] | None
    ) -> tuple[float, float] | None:
        """The interval of `key` at `confidence`: from its bootstrap when kept, else the
        one reported (which is at that level, or none exists)."""
        kept: BootstrapInterval | None = self.intervals.get(key)
        return kept.at(confidence) if kept is not None else reported


def bias_audit(
    suites: Sequence[Suite], records: Sequence[Record], settings: BootstrapSettings | None = None
) -> BiasAudit:
    settings = settings or BootstrapSettings()
    disparities: list[Disparity] = []
    changes: list[DisparityChange] = []
    bbq: list[BbqScore] = []
    pairs: list[PairScore] = []
    intervals: Intervals = {}
    for suite in suites:
        level = suite.bias.confidence
        targets: dict[str, str] = {r.role: r.target for r in records if r.suite == suite.name}
        for probe in suite.bias.probes:
            found: dict[tuple[str, str], GroupDisparity] = {}
            matrices = probe_matrices(suite, probe, records)
            for (role, metric), matrix in matrices.items():
                measured = disparity(matrix, confidence=level, settings=settings)
                found[(role, metric)] = measured
                if measured.interval is not None:
                    key = ("disparity", suite.name, probe.label, metric, role)
                    intervals[key] = measured.interval
                shown = _disparity_row(suite, probe, metric, role, targets, measured, level)
                disparities.append(shown.model_copy(update={"paired": matrix.paired}))
            for metric in probe.metrics:
                if ("base", metric) not in matrices or ("candidate", metric) not in matrices:
                    continue
                change = disparity_change(
                    matrices[("base", metric)],
                    matrices[("candidate", metric)],
                    confidence=level,
                    settings=settings,
                )
                if change.interval is not None:
                    intervals[("change", suite.name, probe.label, metric)] = change.interval
                row = _change_row(
                    suite,
                    probe,
                    metric,
                    (found[("base", metric)], found[("candidate", metric)]),
                    change,
                    level,
                )
                paired = matrices[("base", metric)].paired
                changes.append(row.model_copy(update={"paired": paired}))
        # Each output is matched to an option once, for the scores and their changes.
        answers = bbq_cells(suite, records)
        scores = bbq_scores(
            suite, answers, confidence=level, settings=settings, intervals=intervals
        )
        bbq += scores
        changes += bbq_changes(
            suite, answers, scores, confidence=level, settings=settings, intervals=intervals
        )
        choices = pair_cells(suite, records)
        rates = pair_scores(suite, choices, confidence=level)
        pairs += rates
        changes += pair_changes(
            suite, choices, rates, confidence=level, settings=settings, intervals=intervals
        )
    results = BiasResults(bbq=bbq, disparities=disparities, changes=changes, pairs=pairs)
    return BiasAudit(results, intervals)


def _disparity_row(
    suite: Suite,
    probe: ProbeSpec,
    metric: str,
    role: str,
    targets: dict[str, str],
    measured: GroupDisparity,
    level: float,
) -> Disparity:
    return Disparity(
        suite=suite.name,
        probe=probe.label,
        metric=metric,
        axis=probe.axis,
        target=targets[role],
        role="base" if role == "base" else "candidate",
        by_group=measured.by_group,
        difference=measured.difference,
        ratio=measured.ratio,
        ci=measured.ci,
        confidence=level,
        p_value=measured.p_value,
        units=measured.units,
        dropped=measured.dropped,
    )


def _change_row(
    suite: Suite,
    probe: ProbeSpec,
    metric: str,
    sides: tuple[GroupDisparity, GroupDisparity],
    change: stats_disparity.DisparityChange,
    level: float,
) -> DisparityChange:
    alpha = 1 - level
    base_biased, candidate_biased = (
        side.p_value is not None and side.p_value < alpha for side in sides
    )
    found = finding(base_biased, candidate_biased, change.ci, change.p_value, alpha)
    return DisparityChange(
        suite=suite.name,
        probe=probe.label,
        metric=metric,
        axis=probe.axis,
        base=change.base,
        candidate=change.candidate,
        change=change.change,
        ci=change.ci,
        confidence=level,
        p_value=change.p_value,
        flagged=found in ("added", "grew"),
        finding=found,
        units=change.units,
    )
