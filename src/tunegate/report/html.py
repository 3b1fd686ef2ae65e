"""report.html: one self-contained file (inline CSS, no scripts from elsewhere), autoescaped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ..results import Results
from ..safe_text import for_terminal
from .bias import bias_view
from .compare import compare_cases, error_lines, summarize_suites
from .judging import judge_lines
from .plots import SHARE_RULES, interval_svg
from .verdict import verdict_of

__all__ = ["render_report", "write_report"]

_STATUS_ORDER = {
    "regressed": 0,
    "failing": 1,
    "errored": 2,
    "improved": 3,
    "passing": 4,
    "contaminated": 5,
    "base-only": 6,
}


# The finding word's colour: flagged red, reduced green, the base's own bias amber.
_FINDING_CLASS = {
    "added": "failing",
    "grew": "failing",
    "reduced": "passing",
    "pre-existing": "inconclusive",
    "insufficient": "skipped",
    "none": "skipped",
    "no base": "skipped",
}


def _shown(value: Any) -> Any:
    # Outside text in a page: control characters become visible escapes (a browser would
    # hide an ESC or BEL, which then travel on in every copy and paste). Markup we built
    # ourselves (the interval plots) passes through.
    if isinstance(value, str) and not isinstance(value, Markup):
        return for_terminal(value)
    return value


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("tunegate", "report/templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.0%}"
    env.filters["capitalize_first"] = lambda v: v[:1].upper() + v[1:]
    return env


def _banner(results: Results) -> str:
    verdict = verdict_of(results)
    if verdict != "inconclusive":
        return f"Gate {verdict}"
    return "Gate inconclusive " + ("(warning only)" if results.gate_passed else "(fails the gate)")


def render_report(results: Results) -> str:
    cases = sorted(compare_cases(results), key=lambda c: (_STATUS_ORDER[c.status], c.suite))
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            results=results,
            suites=summarize_suites(results),
            cases=cases,
            targets={t.role: t for t in results.targets},
            errors=error_lines(results),
            judge=judge_lines(results),
            bias=bias_view(results),
            finding_class=_FINDING_CLASS,
            verdict=verdict_of(results),
            banner=_banner(results),
            interval_svg=interval_svg,
            share_rules=SHARE_RULES,
        )
    )


def write_report(results: Results, folder: Path) -> Path:
    path = folder / "report.html"
    path.write_text(render_report(results), encoding="utf-8")
    return path
