"""`vars`: how many cases a template makes, and the combinations themselves.

The count is a product of list lengths, known before anything is built, so a suite
that would make a million cases is refused in microseconds, not after a gigabyte.
"""

from __future__ import annotations

import itertools
import math
import re

from ..errors import SuiteError
from .format import MAX_CASES_LIMIT, CaseSpec
from .templating import is_field_name
from .yaml_source import DataPath, YamlDocument

__all__ = ["CaseBudget", "var_combinations"]


class CaseBudget:
    """Counts a suite's cases against its `max_cases` before each template expands."""

    def __init__(self, limit: int, doc: YamlDocument) -> None:
        self.limit = limit
        self.used = 0
        self._doc = doc

    def take(self, case: CaseSpec, here: DataPath) -> None:
        count, sizes = _count(case, self._doc, here)
        if self.used + count > self.limit:
            total = self.used + count
            made = f"{count:,} cases ({' × '.join(str(n) for n in sizes)})" if sizes else "1 case"
            if total <= MAX_CASES_LIMIT:
                fix = f"or raise the limit with `max_cases: {total}` at the top of the suite"
            else:
                fix = f"or split it: a suite may have at most {MAX_CASES_LIMIT:,} cases"
            where = (*here, "vars") if case.vars is not None else here
            raise SuiteError(
                self._doc.locate(where),
                f"case '{case.id}' makes {made}, which brings the suite to {total:,}, over its "
                f"limit of {self.limit:,} (max_cases); use fewer values, {fix}",
            )
        self.used += count


def _count(case: CaseSpec, doc: YamlDocument, here: DataPath) -> tuple[int, list[int]]:
    """Cases the template makes, and the factors of that number."""
    if case.vars is None:
        return 1, []
    _check_names(case, doc, here)
    if isinstance(case.vars, dict):
        for name, values in case.vars.items():
            if not values:
                raise SuiteError(
                    doc.locate((*here, "vars", name)), f"vars.{name} has no values; give a list"
                )
        sizes = [len(values) for values in case.vars.values()]
        return math.prod(sizes), sizes
    if not case.vars:
        raise SuiteError(doc.locate((*here, "vars")), "vars is an empty list")
    keys = set(case.vars[0])
    for i, row in enumerate(case.vars):
        if set(row) != keys:
            raise SuiteError(
                doc.locate((*here, "vars", i)),
                f"every entry of vars needs the same keys ({', '.join(sorted(keys))})",
            )
    return len(case.vars), [len(case.vars)]


def _check_names(case: CaseSpec, doc: YamlDocument, here: DataPath) -> None:
    """A variable is used as `{name}`, so its name must be a field name: `{a b}` and
    `{g.x}` are sent as written, never substituted."""
    rows: list[list[str]] = (
        [list(case.vars)] if isinstance(case.vars, dict) else [list(r) for r in case.vars or []]
    )
    for i, row in enumerate(rows):
        for name in row:
            if is_field_name(name):
                continue
            where = (
                (*here, "vars", name) if isinstance(case.vars, dict) else (*here, "vars", i, name)
            )
            fixed = re.sub(r"\W+", "_", name).strip("_")
            fixed = fixed if fixed and is_field_name(fixed) else f"v_{fixed}".rstrip("_")
            raise SuiteError(
                doc.locate(where, key=True),
                f"variable name {name!r} cannot be a template field; variable names are "
                f"letters, digits and _, not starting with a digit (e.g. {fixed}, used as "
                f"{{{fixed}}})",
            )


def var_combinations(case: CaseSpec) -> list[dict[str, str]]:
    """Every combination of the case's vars; call CaseBudget.take first."""
    if case.vars is None:
        return [{}]
    if isinstance(case.vars, dict):
        names = list(case.vars)
        return [
            dict(zip(names, combo, strict=True)) for combo in itertools.product(*case.vars.values())
        ]
    return [dict(row) for row in case.vars]
