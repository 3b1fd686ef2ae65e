"""The verdict in words, the same on the console, in pytest and in the summary."""

from __future__ import annotations

from ..results import GateResult, Results

__all__ = ["gate_line", "headline", "verdict_of"]


def verdict_of(results: Results) -> str:
    """passed / failed / inconclusive; files before 1.2 know only gate_passed."""
    if results.verdict is not None:
        return results.verdict
    return "passed" if results.gate_passed else "failed"


def headline(results: Results) -> str:
    """`gate PASSED`, `gate FAILED`, `gate INCONCLUSIVE (fails the gate)` or `(warning)`."""
    verdict = verdict_of(results)
    if verdict != "inconclusive":
        return f"gate {verdict.upper()}"
    return "gate INCONCLUSIVE " + ("(warning only)" if results.gate_passed else "(fails the gate)")


def gate_line(g: GateResult) -> str:
    """`domain no_regression: INCONCLUSIVE: 12 case(s) cannot rule out …`."""
    status = g.status.upper()
    if not g.gating:
        status = "REPORTS ONLY"  # counts neither towards the verdict nor gate_passed
    elif g.status == "inconclusive" and g.on_inconclusive == "warn":
        status += " (warn)"
    holm = ""
    if g.adjusted_p_value is not None and g.p_value is not None:
        if abs(g.adjusted_p_value - g.p_value) > 1e-12:
            holm = f"; Holm-adjusted p {g.adjusted_p_value:.3g} (raw {g.p_value:.3g})"
        else:
            holm = f"; p {g.p_value:.3g}"
    return f"{g.suite} {g.id or g.rule}: {status}: {g.detail}{holm}"
