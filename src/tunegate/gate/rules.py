"""The gate: rules over the candidate's records that decide the verdict (and exit code)."""

from __future__ import annotations

from collections.abc import Sequence

from ..results import GateResult, Record
from ..suite import Suite

__all__ = ["evaluate_gate"]


def evaluate_gate(suites: Sequence[Suite], records: Sequence[Record]) -> list[GateResult]:
    results: list[GateResult] = []
    for suite in suites:
        rule = suite.gate.min_pass_rate
        mine = [r for r in records if r.suite == suite.name and r.role == "candidate"]
        if not mine:
            continue
        passed = sum(r.passed for r in mine)
        rate = passed / len(mine)
        results.append(
            GateResult(
                suite=suite.name,
                rule="min_pass_rate",
                target=mine[0].target,
                value=rate,
                threshold=rule,
                passed=rate >= rule,
                detail=f"candidate passed {passed}/{len(mine)} samples ({rate:.0%}); "
                f"the suite requires {rule:.0%}",
            )
        )
    return results
