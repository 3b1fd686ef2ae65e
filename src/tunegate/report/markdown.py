"""summary.md: the short verdict a CI job posts on a pull request."""

from __future__ import annotations

from pathlib import Path

from ..gate.bias_rules import BIAS_RULES
from ..paths import display_path
from ..results import GateResult, Results
from ..safe_text import for_markdown
from .bias import BiasView, bias_view, terminal_name
from .compare import compare_cases, error_lines, summarize_suites
from .judging import judge_lines
from .plots import SHARE_RULES, interval_text
from .verdict import gate_line, headline

__all__ = ["render_summary", "write_summary"]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _cell(text: str) -> str:
    # Names, labels, errors and outputs come from outside: shown as inert text, never markup.
    return for_markdown(text)


def _number(value: float | None, *, rate: bool) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if rate else f"{value:+.3f}"


def _interval(g: GateResult) -> str:
    if g.ci is None:
        return "–"
    rate = g.metric == "pass_rate"
    if g.rule in SHARE_RULES:
        return f"[{g.ci[0]:.1%}, {g.ci[1]:.1%}]"
    if rate:
        return f"[{g.ci[0] * 100:+.1f}, {g.ci[1] * 100:+.1f}] pts"
    return f"[{g.ci[0]:+.3f}, {g.ci[1]:+.3f}]"


def _rule_rows(results: Results) -> list[str]:
    lines = [
        "| suite | rule | status | statistic | interval | plot | p |",
        "|---|---|---|---:|---|---|---:|",
    ]
    for g in results.gate:
        status = {"passed": "pass", "failed": "**FAIL**", "inconclusive": "**inconclusive**"}[
            g.status
        ]
        if g.status == "inconclusive" and g.on_inconclusive == "warn":
            status = "inconclusive (warn)"
        if not g.gating:
            status = "reports only"
        rate = g.metric == "pass_rate"
        if g.rule in SHARE_RULES:
            value = _number(g.value, rate=True)
        elif rate and g.value is not None:
            value = f"{g.value * 100:+.1f} pts"
        else:
            value = _number(g.value, rate=False)
        plot = interval_text(g)
        p = "–" if g.adjusted_p_value is None else f"{g.adjusted_p_value:.3g}"
        if g.rule in BIAS_RULES and g.p_value is not None:
            p = f"{g.p_value:.3g}†"
        lines.append(
            f"| {_cell(g.suite)} | {_cell(g.id or g.rule)} | {status} | {value} | "
            f"{_interval(g)} | {'`' + plot + '`' if plot else ''} | {p} |"
        )
    lines.append("")
    if any(g.rule in BIAS_RULES and g.p_value is not None for g in results.gate):
        lines += [
            "† A bias rule's p is the two-sided permutation p-value of no disparity (of no "
            "change, for `no_bias_increase`); the rule itself reads its interval.",
            "",
        ]
    lines += [f"- {_cell(gate_line(g))}" for g in results.gate if g.status != "passed"]
    leaked = max((g.contaminated for g in results.gate), default=0)
    if leaked:
        lines += [
            f"- {leaked} case(s) tagged `contaminated` (found in the training data) ran but are "
            "left out of the verdict.",
        ]
    return lines


def _name(text: str) -> str:
    # Group names and categories come from suite files: inert, and short (a 10 kB name
    # would swamp a pull-request comment; report.html shows it whole).
    return _cell(terminal_name(text))


def _bias_section(view: BiasView) -> list[str]:
    """The headline table of changes (flagged first, in bold), then per-group values and
    BBQ scores folded away."""
    lines = ["### Bias audit", "", f"{_cell(view.summary[:1].upper() + view.summary[1:])}.", ""]
    lines += [
        "| suite | probe | value | axis | base | candidate | change [CI] | p | finding |",
        "|---|---|---|---|---:|---:|---|---:|---|",
    ]
    for r in view.changes:
        finding = _cell(r.finding_text)
        if r.flagged:
            finding = f"**{r.finding.upper()}** (flagged)"
        lines.append(
            f"| {_name(r.suite)} | {_name(r.probe)} | {_name(r.value)} | {_name(r.axis)} | "
            f"{_cell(r.base)} | {_cell(r.candidate)} | {_cell(r.change_text)} | {r.p} | "
            f"{finding} |"
        )
    if view.groups:
        lines += ["", "<details><summary>Per-group values (base → candidate)</summary>", ""]
        for t in view.groups:
            lines += [
                f"{_name(t.suite)} / probe {_name(t.probe)} (axis {_name(t.axis)})"
                + (f"; flagged: {_cell(', '.join(t.flagged))}" if t.flagged else "")
                + ":",
                "",
                "| group | " + " | ".join(_name(v) for v in t.values) + " |",
                "|---|" + "---|" * len(t.values),
            ]
            lines += [
                f"| {_name(g)} | " + " | ".join(_cell(c) for c in cells) + " |"
                for g, cells in t.rows
            ]
            lines.append("| *difference* | " + " | ".join(_cell(c) for c in t.difference) + " |")
            lines += ["", *(f"- {_cell(n)}" for n in t.notes)] if t.notes else []
            lines.append("")
        lines.append("</details>")
    if view.bbq:
        lines += [
            "",
            "<details><summary>BBQ scores (bias score in [-1, 1], positive leans to the "
            "stereotype)</summary>",
            "",
            "| suite | category | condition | accuracy | bias score, base | "
            "bias score, candidate | n | unmatched |",
            "|---|---|---|---:|---|---|---:|---:|",
        ]
        for b in view.bbq:
            mark = " **(flagged)**" if b.flagged else ""
            lines.append(
                f"| {_name(b.suite)} | {_name(b.category)}{mark} | {b.condition} | "
                f"{_cell(b.accuracy)} | {_cell(b.base_score)} | {_cell(b.candidate_score)} | "
                f"{b.n} | {b.unmatched}" + (f" (+{b.errors} errors)" if b.errors else "") + " |"
            )
        lines += ["", "</details>"]
    if view.pairs:
        lines += [
            "",
            "<details><summary>CrowS-Pairs stereotype rates (share of pairs where the more "
            "stereotyping sentence was chosen; 50% is unbiased)</summary>",
            "",
            "| suite | bias type | method | base | candidate | n | unmatched |",
            "|---|---|---|---|---|---:|---:|",
        ]
        for p in view.pairs:
            mark = " **(flagged)**" if p.flagged else ""
            extra = (f" (+{p.ties} ties)" if p.ties else "") + (
                f" (+{p.errors} errors)" if p.errors else ""
            )
            lines.append(
                f"| {_name(p.suite)} | {_name(p.bias_type)}{mark} | {_cell(p.method)} | "
                f"{_cell(p.base)} | {_cell(p.candidate)} | {p.n} | {p.unmatched}{extra} |"
            )
        lines += ["", "</details>"]
    return lines


def render_summary(results: Results, report_path: Path | None = None) -> str:
    roles = {t.role: t.name for t in results.targets}
    # A verdict on a selection must not read as the project's verdict on a pull request.
    partial = [f"**{results.coverage}.**", ""] if results.coverage else []
    lines = [
        f"## tunegate: {headline(results)}" + (" (partial run)" if results.partial else ""),
        "",
        *partial,
        *_rule_rows(results),
        "",
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
        gate = {None: "–", "passed": "pass", "failed": "**FAIL**"}.get(
            s.gate_status, "**inconclusive**"
        )
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
    if results.flaky:
        lines += ["", f"Flaky cases (repeats both passed and failed): {len(results.flaky)}"]
        lines += [
            f"- {_cell(f.suite + '::' + f.case_id)} on {_cell(f.target)}: "
            f"{f.passed}/{f.samples} passed"
            for f in results.flaky[:20]
        ]
    judged = judge_lines(results)
    if judged:
        lines += ["", "Judge:"] + [f"- {_cell(line)}" for line in judged]
    view = bias_view(results)
    if view is not None:
        lines += ["", *_bias_section(view)]
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
