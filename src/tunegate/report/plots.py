"""Small interval plots of gate rules: inline SVG for the report, text for Markdown.

Drawn from numbers only (no outside text enters the SVG), so the markup is safe to inline.
"""

from __future__ import annotations

import math

from markupsafe import Markup

from ..results import GateResult

__all__ = ["interval_svg", "interval_text"]

_COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "inconclusive": "#9a6700"}
# Rules whose statistic is a share (shown as a percentage, with no "no difference" line).
SHARE_RULES = ("min_pass_rate", "max_stereotype_rate")
WIDTH, HEIGHT, PAD = 240, 26, 10


def _domain(g: GateResult) -> tuple[float, float] | None:
    if g.ci is None or g.value is None:
        return None
    points = [g.ci[0], g.ci[1], g.value]
    if g.rule not in SHARE_RULES:
        points.append(0.0)  # "no difference" is part of every comparative picture
    if g.threshold is not None:
        points.append(g.threshold)
    lo, hi = min(points), max(points)
    span = max(hi - lo, 0.02)
    lo, hi = lo - 0.12 * span, hi + 0.12 * span
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return lo, hi


def interval_svg(g: GateResult) -> Markup:
    """The rule's interval (coloured by status), its estimate, 0 (grey) and its bar (red
    dashed: -margin, 0 or the threshold)."""
    domain = _domain(g)
    if domain is None or g.ci is None or g.value is None:
        return Markup("")
    lo, hi = domain

    def x(v: float) -> float:
        return round(PAD + (v - lo) / (hi - lo) * (WIDTH - 2 * PAD), 2)

    colour = _COLOURS.get(g.status, "#57606a")
    mid = HEIGHT / 2
    parts = [
        f'<svg class="interval" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}"'
        ' role="img">',
        f"<title>{g.value:+.3f} [{g.ci[0]:+.3f}, {g.ci[1]:+.3f}]</title>",
        f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{mid}" y2="{mid}" stroke="#d0d7de"/>',
    ]
    if g.rule not in SHARE_RULES:
        parts.append(
            f'<line class="zero" x1="{x(0)}" x2="{x(0)}" y1="3" y2="{HEIGHT - 3}" '
            'stroke="#8c959f"/>'
        )
    if g.threshold is not None:
        parts.append(
            f'<line class="bar" x1="{x(g.threshold)}" x2="{x(g.threshold)}" y1="2" '
            f'y2="{HEIGHT - 2}" stroke="#cf222e" stroke-dasharray="3,2"/>'
        )
    parts += [
        f'<line class="ci" x1="{x(g.ci[0])}" x2="{x(g.ci[1])}" y1="{mid}" y2="{mid}" '
        f'stroke="{colour}" stroke-width="4" stroke-linecap="round"/>',
        f'<circle class="estimate" cx="{x(g.value)}" cy="{mid}" r="4" fill="#fff" '
        f'stroke="{colour}" stroke-width="2"/>',
        "</svg>",
    ]
    return Markup("".join(parts))


def interval_text(g: GateResult, width: int = 25) -> str:
    """`|····[──●──]··┊····|`: the interval in brackets, ● the estimate, ┊ the bar."""
    domain = _domain(g)
    if domain is None or g.ci is None or g.value is None:
        return ""
    lo, hi = domain

    def col(v: float) -> int:
        return min(width - 1, max(0, round((v - lo) / (hi - lo) * (width - 1))))

    cells = ["·"] * width
    for c in range(col(g.ci[0]), col(g.ci[1]) + 1):
        cells[c] = "─"
    cells[col(g.ci[0])], cells[col(g.ci[1])] = "[", "]"
    if g.threshold is not None:
        cells[col(g.threshold)] = "┊"
    cells[col(g.value)] = "●"
    return "".join(cells)
