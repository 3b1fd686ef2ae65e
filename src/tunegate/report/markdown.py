"""summary.md: the short verdict a CI job posts on a pull request."""

from __future__ import annotations

from pathlib import Path

from ..paths import display_path
from ..results import Results
from ..safe_text import for_markdown
from .compare import compare_cases, error_lines, summarize_suites

__all__ = ["render_summary", "write_summary"]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _cell(text: str) -> str:
    # Names, labels, errors and outputs come from outside: shown as inert text, never markup.
    return for_markdown(text)


def render_summary(results: Results, report_path: Path | None = None) -> str:
    verdict = "PASSED" if results.gate_passed else "FAILED"
    roles = {t.role: t.name for t in results.targets}
    # A verdict on a selection must not read as the project's verdict on a pull request.
    partial = [f"**{results.coverage}.**", ""] if results.coverage else []
    lines = [
        f"## tunegate: gate {verdict}" + (" (partial run)" if results.partial else ""),
        "",
        *partial,
        f"Run `{results.run_id}`"
        + (f" ({_cell(results.label)})" if results.label else "")
        + f": base {_cell(roles.get('base', '–'))}, "
        f"candidate {_cell(roles.get('candidate', '–'))}; "
        f"{results.stats.calls} model calls, {results.stats.cached} from the store.",
        "",
        "| suite | cases | base | candidate | regressed | improved | gate |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for s in summarize_suites(results):
        gate = "–" if s.gate_passed is None else ("pass" if s.gate_passed else "**FAIL**")
        lines.append(
            f"| {_cell(s.suite)} | {s.cases} | {_pct(s.base_pass_rate)} | "
            f"{_pct(s.candidate_pass_rate)} | {s.regressed} | {s.improved} | {gate} |"
        )
    regressed = [c for c in compare_cases(results) if c.status == "regressed"]
    if regressed:
        lines += ["", "Regressed cases:"]
        lines += [
            f"- {_cell(c.suite + '::' + c.case_id)} failing {_cell(', '.join(c.failing_checks))}"
            for c in regressed[:30]
        ]
        if len(regressed) > 30:
            lines.append(f"- … and {len(regressed) - 30} more")
    errors = error_lines(results)
    if errors:
        lines += ["", "Errors:"] + [f"- {_cell(e)}" for e in errors]
    if report_path is not None:
        lines += ["", f"Report: {_cell(display_path(report_path))}"]
    return "\n".join(lines) + "\n"


def write_summary(results: Results, folder: Path, report_path: Path | None = None) -> Path:
    path = folder / "summary.md"
    path.write_text(render_summary(results, report_path), encoding="utf-8")
    return path
