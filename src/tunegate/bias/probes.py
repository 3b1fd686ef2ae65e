"""A probe's records -> one unit x group matrix per (target role, value).

A unit is one prompt template with every variable but the probe's axis fixed: the prompts
that differ only in the group. Repeats of a case are averaged into its cell first, so they
never count as more units.

When every unit of the probe names exactly one group (BOLD: each prompt is about one
group's member, `vars: [{group: ..., entity: ...}]`), there are no counterfactual rows to
compare within, and the matrices are marked unpaired (`GroupMatrix.paired` False): the
statistics then compare the groups' means over their own outputs (stats/disparity.py).
The design is read from the probe's records, one per case run whether or not its
generation succeeded, so a failed output never switches a paired probe to the unpaired
statistics. A probe mixing both kinds of units stays paired, and its one-group units are
dropped as before.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ..results import Record
from ..stats.disparity import GroupMatrix
from ..suite import Suite
from ..suite.format import ProbeSpec
from .values import output_value

__all__ = ["probe_matrices", "unit_of"]


def unit_of(record: Record, axis: str) -> str:
    """The unit's key: its template and the values of its other variables, as JSON, so
    values holding `, ` or `=` ({a: "x, b=y", b: z} and {a: x, b: "y, b=z"}) stay two units."""
    others = sorted((k, v) for k, v in record.vars.items() if k != axis)
    return json.dumps([record.template_id, others], ensure_ascii=False)


def probe_matrices(
    suite: Suite, probe: ProbeSpec, records: Sequence[Record]
) -> dict[tuple[str, str], GroupMatrix]:
    """(role, metric) -> matrix, over the suite's records in the probe's scope."""
    tags = set(probe.tags)
    mine = [
        r for r in records if r.suite == suite.name and probe.axis in r.vars and tags <= set(r.tags)
    ]
    groups = tuple(dict.fromkeys(r.vars[probe.axis] for r in mine))  # in suite order
    units = tuple(dict.fromkeys(unit_of(r, probe.axis) for r in mine))
    paired = not _one_group_each(mine, probe.axis, len(groups))
    matrices: dict[tuple[str, str], GroupMatrix] = {}
    for role in ("base", "candidate"):
        of_role = [r for r in mine if r.role == role]
        if not of_role:
            continue
        for metric in probe.metrics:
            cells: dict[tuple[str, str], list[float]] = defaultdict(list)
            for r in of_role:
                value = output_value(r, metric)
                if value is not None:
                    cells[(unit_of(r, probe.axis), r.vars[probe.axis])].append(value)
            values = np.full((len(units), len(groups)), np.nan)
            for u, unit in enumerate(units):
                for g, group in enumerate(groups):
                    seen = cells.get((unit, group))
                    if seen:
                        values[u, g] = float(np.mean(seen))
            matrices[(role, metric)] = GroupMatrix(units, groups, values, paired=paired)
    return matrices


def _one_group_each(records: Sequence[Record], axis: str, groups: int) -> bool:
    """Whether the probe is unpaired: two or more groups, and no unit naming two."""
    named: dict[str, str] = {}
    for r in records:
        unit = unit_of(r, axis)
        if named.setdefault(unit, r.vars[axis]) != r.vars[axis]:
            return False
    return groups >= 2
