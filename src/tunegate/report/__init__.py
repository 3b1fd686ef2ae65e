"""Human-facing outputs of a run: a self-contained report.html and a Markdown summary."""

from .bias import bias_lines
from .compare import (
    CaseComparison,
    SuiteSummary,
    compare_cases,
    error_lines,
    summarize_suites,
    unreachable_targets,
)
from .html import render_report, write_report
from .judging import judge_lines
from .markdown import render_summary, write_summary
from .verdict import gate_line, headline, verdict_of

__all__ = [
    "CaseComparison",
    "SuiteSummary",
    "bias_lines",
    "compare_cases",
    "error_lines",
    "gate_line",
    "headline",
    "judge_lines",
    "render_report",
    "render_summary",
    "summarize_suites",
    "unreachable_targets",
    "verdict_of",
    "write_report",
    "write_summary",
]
