"""Load suite files: YAML -> validated SuiteSpec -> expanded, resolved Cases.

Every problem becomes a SuiteError that names file:line:column and the fix.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import SourceLocation, SuiteError
from ..metrics import get_metric, metric_names
from .cases import Case, ResolvedCheck, Suite
from .format import CaseSpec, CheckSpec, SuiteSpec
from .templating import UnknownVariable, render
from .validation_errors import did_you_mean, suite_error_from
from .yaml_source import DataPath, YamlDocument, load_yaml

__all__ = ["discover_suite_files", "load_suite", "load_suites"]

SUITE_SUFFIXES = (".yaml", ".yml")


def discover_suite_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories are searched recursively for *.yaml / *.yml."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.suffix in SUITE_SUFFIXES)
            if not inside:
                raise SuiteError(
                    SourceLocation(path), "no suite files (*.yaml, *.yml) in this folder"
                )
            found.extend(inside)
        elif path.exists():
            found.append(path)
        else:
            raise SuiteError(SourceLocation(path), "no such file or directory")
    return found


def load_suites(paths: Iterable[Path]) -> list[Suite]:
    suites = [load_suite(p) for p in discover_suite_files(paths)]
    seen: dict[str, Path] = {}
    for suite in suites:
        if suite.name in seen:
            raise SuiteError(
                SourceLocation(suite.path),
                f"suite name '{suite.name}' is also used by {seen[suite.name]}; "
                "give each suite a unique name",
            )
        seen[suite.name] = suite.path
    return suites


def load_suite(path: Path) -> Suite:
    doc = load_yaml(path)
    if doc.data is None:
        raise SuiteError(
            SourceLocation(path, 1, 1), "empty file; a suite needs at least 'name' and 'cases'"
        )
    if not isinstance(doc.data, dict):
        raise SuiteError(
            doc.locate(()), "a suite must be a mapping with keys such as 'name' and 'cases'"
        )
    try:
        spec = SuiteSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise suite_error_from(exc, doc, SuiteSpec) from None
    return _expand(spec, doc)


def _expand(spec: SuiteSpec, doc: YamlDocument) -> Suite:
    default_checks = [
        _resolve_check(c, doc, ("defaults", "checks", i))
        for i, c in enumerate(spec.defaults.checks)
    ]
    cases: list[Case] = []
    first_seen: dict[str, SourceLocation] = {}
    for index, case_spec in enumerate(spec.cases):
        here: DataPath = ("cases", index)
        template_checks = [
            _resolve_check(c, doc, (*here, "checks", i)) for i, c in enumerate(case_spec.checks)
        ]
        for values in _var_combinations(case_spec, doc, here):
            case = _build_case(spec, case_spec, values, template_checks, default_checks, doc, here)
            if case.id in first_seen:
                raise SuiteError(
                    doc.locate((*here, "id")),
                    f"duplicate case id '{case.id}' (first used at line "
                    f"{first_seen[case.id].line}); case ids must be unique in a suite",
                )
            first_seen[case.id] = case.location
            cases.append(case)
    return Suite(
        name=spec.name,
        path=doc.path,
        gate=spec.gate,
        cases=tuple(cases),
        description=spec.description,
    )


def _var_combinations(case: CaseSpec, doc: YamlDocument, here: DataPath) -> list[dict[str, str]]:
    if case.vars is None:
        return [{}]
    if isinstance(case.vars, dict):
        for name, values in case.vars.items():
            if not values:
                raise SuiteError(
                    doc.locate((*here, "vars", name)), f"vars.{name} has no values; give a list"
                )
        names = list(case.vars)
        return [
            dict(zip(names, combo, strict=False))
            for combo in itertools.product(*case.vars.values())
        ]
    if not case.vars:
        raise SuiteError(doc.locate((*here, "vars")), "vars is an empty list")
    keys = set(case.vars[0])
    for i, row in enumerate(case.vars):
        if set(row) != keys:
            raise SuiteError(
                doc.locate((*here, "vars", i)),
                f"every entry of vars needs the same keys ({', '.join(sorted(keys))})",
            )
    return [dict(row) for row in case.vars]


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", value).strip("-").lower() or "_"


def _build_case(
    spec: SuiteSpec,
    case: CaseSpec,
    values: Mapping[str, str],
    template_checks: list[ResolvedCheck],
    default_checks: list[ResolvedCheck],
    doc: YamlDocument,
    here: DataPath,
) -> Case:
    def fill(text: str | None, field: DataPath) -> str | None:
        if text is None or not values:
            return text
        try:
            return render(text, values)
        except UnknownVariable as exc:
            raise SuiteError(
                doc.locate((*here, *field)),
                f"unknown template variable '{{{exc.name}}}'{did_you_mean(exc.name, list(values))}"
                f"; this case defines: {', '.join(values)} (write {{{{ for a literal brace)",
            ) from None

    prompt = fill(case.prompt, ("prompt",))
    context = fill(case.context, ("context",))
    system = fill(case.system if case.system is not None else spec.defaults.system, ("system",))
    messages: list[tuple[str, str]] = [("system", system)] if system else []
    if case.messages is not None:
        for i, m in enumerate(case.messages):
            messages.append((m.role, fill(m.content, ("messages", i, "content")) or ""))
        prompt = next(content for role, content in reversed(messages) if role == "user")
    else:
        fields = {"prompt": prompt or "", "context": context or "", **values}
        try:
            user = render(spec.defaults.template, fields)
        except UnknownVariable as exc:
            raise SuiteError(
                doc.locate(("defaults", "template")),
                f"unknown template field '{{{exc.name}}}' for case '{case.id}'; "
                f"available: {', '.join(fields)}",
            ) from None
        messages.append(("user", user))

    case_id = case.id
    if values:
        case_id = f"{case.id}[{'/'.join(_slug(v) for v in values.values())}]"
    params = spec.defaults.params
    if case.params is not None:
        params = params.model_copy(update=case.params.model_dump(exclude_none=True))
    checks = _name_checks([*template_checks, *default_checks])
    if values:
        checks = [_fill_check(c, values) for c in checks]
    return Case(
        suite=spec.name,
        id=case_id,
        template_id=case.id,
        messages=tuple(messages),
        prompt=prompt or "",
        location=doc.locate(here),
        params=params,
        repeats=case.repeats or spec.defaults.repeats,
        context=context,
        reference=fill(case.reference, ("reference",)),
        tags=tuple(case.tags),
        vars=dict(values),
        checks=tuple(checks),
    )


def _resolve_check(check: CheckSpec, doc: YamlDocument, here: DataPath) -> ResolvedCheck:
    metric = get_metric(check.metric)
    if metric is None:
        raise SuiteError(
            doc.locate((*here, "metric")),
            f"unknown metric '{check.metric}'{did_you_mean(check.metric, metric_names())}; "
            f"available: {', '.join(metric_names())}",
        )
    try:
        args = metric.args_model.model_validate(check.args)
    except ValidationError as exc:
        raise suite_error_from(exc, doc, metric.args_model, prefix=(*here, "args")) from None
    threshold = metric.default_threshold if check.threshold is None else check.threshold
    return ResolvedCheck(
        name=check.name or check.metric,
        metric=check.metric,
        args=args,
        threshold=threshold,
        weight=check.weight,
    )


def _name_checks(checks: list[ResolvedCheck]) -> list[ResolvedCheck]:
    seen: dict[str, int] = {}
    named: list[ResolvedCheck] = []
    for check in checks:
        count = seen.get(check.name, 0) + 1
        seen[check.name] = count
        if count > 1:
            check = ResolvedCheck(
                f"{check.name}#{count}", check.metric, check.args, check.threshold, check.weight
            )
        named.append(check)
    return named


def _fill_check(check: ResolvedCheck, values: Mapping[str, str]) -> ResolvedCheck:
    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return render(value, values, strict=False)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    args = type(check.args).model_validate(walk(check.args.model_dump()))
    return ResolvedCheck(check.name, check.metric, args, check.threshold, check.weight)
