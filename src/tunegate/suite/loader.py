"""Load suite files: YAML -> validated SuiteSpec -> expanded, resolved Cases.

Every problem becomes a SuiteError that names file:line:column and the fix.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import SourceLocation, SuiteError
from ..metrics.choice import BbqAnswer, BbqAnswerArgs
from ..metrics.pair_choice import PairChoice, PairChoiceArgs
from .bias_scopes import check_bias_scopes
from .case_ids import collision_message, differing, expanded_id, value_path
from .cases import Case, ResolvedCheck, Suite, SuiteWarning
from .checks import NON_EMPTY, CheckResolver, CheckSource
from .expansion import CaseBudget, var_combinations
from .files import WalkBudget, is_skipped_path
from .format import BbqSpec, BiasSpec, CaseSpec, PairSpec, SuiteSpec
from .group_lists import resolve_group_lists
from .lint import case_warnings
from .templating import UnknownVariable, render
from .validation_errors import did_you_mean, suite_error_from
from .yaml_source import DataPath, YamlDocument, load_yaml

__all__ = ["discover_suite_files", "load_suite", "load_suites"]

SUITE_SUFFIXES = (".yaml", ".yml")


def discover_suite_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders searched recursively for *.yaml / *.yml (tunegate.yaml aside),
    within the bounds of `files.WalkBudget`.

    This is the one answer to "which files are suites": `tunegate run` and the pytest plugin
    both use it, so the two doors always see the same set. Inside a folder, symbolic links
    are followed, to files and to folders, and a file is listed by its path under the folder
    as given (`suites/shared/strict.yaml`), never by where a link leads: a link is part of
    the suite folder the user wrote. A link to a folder already on the way down (the folder
    searched, or one above it) would loop and is skipped. A link to nothing is listed, so
    loading it fails and says so. The same path named twice is listed once.
    """
    found: dict[Path, None] = {}  # ordered, without repeats
    for path in paths:
        if path.is_dir():
            inside = _suite_files_in(path)
            if not inside:
                raise SuiteError(
                    SourceLocation(path), "no suite files (*.yaml, *.yml) in this folder"
                )
        elif path.exists():
            inside = [path]
        else:
            raise SuiteError(SourceLocation(path), "no such file or directory")
        found.update(dict.fromkeys(inside))
    return list(found)


def _suite_files_in(folder: Path) -> list[Path]:
    real = folder.resolve()
    found: list[Path] = []
    _walk(folder, frozenset({real, *real.parents}), WalkBudget(folder), found)
    return found


def _walk(folder: Path, on_the_way: frozenset[Path], budget: WalkBudget, found: list[Path]) -> None:
    """Depth first in name order, as pytest walks a folder, so both doors list alike."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as exc:
        raise SuiteError(
            SourceLocation(folder), f"cannot read this folder ({exc.strerror or exc})"
        ) from None
    budget.entries(len(entries))
    for entry in entries:
        path = folder / entry.name
        if _is_folder(entry):
            real = path.resolve()
            if real not in on_the_way:
                _walk(path, on_the_way | {real}, budget, found)
        elif (
            path.suffix in SUITE_SUFFIXES
            and not is_skipped_path(path)  # tunegate.yaml, group lists in groups/
            and (entry.is_file() or _leads_nowhere(entry, path))
        ):
            budget.suite_file()
            found.append(path)


def _leads_nowhere(entry: os.DirEntry[str], path: Path) -> bool:
    # Listed so that loading it fails loudly. Other non-files (a FIFO) are left out, as
    # pytest leaves them: reading one would hang.
    return entry.is_symlink() and not path.exists()


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows links
    except OSError:  # e.g. a link that loops on itself: listed as a file, and fails to load
        return False


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
    _refuse_non_finite(doc.data, (), doc)
    resolve_group_lists(doc)
    try:
        spec = SuiteSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise suite_error_from(exc, doc, SuiteSpec) from None
    return _expand(spec, doc)


def _refuse_non_finite(value: Any, here: DataPath, doc: YamlDocument) -> None:
    """NaN or infinity anywhere in a suite (.nan, .inf, 1e999) means nothing; say where."""
    if isinstance(value, float) and not math.isfinite(value):
        shown = ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
        raise SuiteError(
            doc.locate(here),
            f"{shown} is not a usable number here (NaN and infinity, or a number too large "
            "for a float, such as 1e999); write a finite number",
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_non_finite(item, (*here, key), doc)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_non_finite(item, (*here, i), doc)


def _expand(spec: SuiteSpec, doc: YamlDocument) -> Suite:
    resolver = CheckResolver(doc)
    budget = CaseBudget(spec.max_cases, doc)
    default_checks = [
        CheckSource(c, ("defaults", "checks", i)) for i, c in enumerate(spec.defaults.checks)
    ]
    cases: list[Case] = []
    warnings: dict[tuple[SourceLocation, str], SuiteWarning] = {}
    first_seen: dict[str, SourceLocation] = {}
    for index, case_spec in enumerate(spec.cases):
        here: DataPath = ("cases", index)
        for warning in case_warnings(spec, case_spec, doc, here):
            warnings.setdefault((warning.location, warning.message), warning)
        budget.take(case_spec, here)
        sources = [
            *(CheckSource(c, (*here, "checks", i)) for i, c in enumerate(case_spec.checks)),
            *default_checks,
        ]
        made: dict[str, tuple[int, dict[str, str]]] = {}  # id -> the expansion that made it
        for n, values in enumerate(var_combinations(case_spec)):
            case = _build_case(spec, case_spec, values, sources, resolver, doc, here)
            if case.id in made:
                raise _collision(case_spec, case.id, made[case.id], (n, values), doc, here)
            if case.id in first_seen:
                raise SuiteError(
                    doc.locate((*here, "id")),
                    f"duplicate case id '{case.id}' (first used at line "
                    f"{first_seen[case.id].line}); case ids must be unique in a suite",
                )
            first_seen[case.id] = case.location
            made[case.id] = (n, values)
            cases.append(case)
    _check_rule_scopes(spec, cases, doc)
    check_bias_scopes(spec, cases, doc)
    return Suite(
        name=spec.name,
        path=doc.path,
        gate=spec.gate,
        cases=tuple(cases),
        description=spec.description,
        warnings=tuple(sorted(warnings.values(), key=_file_order)),
        bias=spec.bias or BiasSpec(),
    )


def _collision(
    case: CaseSpec,
    case_id: str,
    first: tuple[int, dict[str, str]],
    second: tuple[int, dict[str, str]],
    doc: YamlDocument,
    here: DataPath,
) -> SuiteError:
    """Two expansions of one template with the same id: at the second value, naming both."""
    (i, a), (j, b) = first, second
    names = differing(a, b)
    if not names:
        # `vars: [{}, {}]` or the same mapping listed twice: one case, written twice.
        return SuiteError(
            doc.locate((*here, "vars", j) if isinstance(case.vars, list) else (*here, "vars")),
            f"vars lists the same values twice (entries {i + 1} and {j + 1}), so both make "
            f"case '{case_id}'; remove the repeated entry",
        )
    name = names[0]
    line = doc.locate((*here, *value_path(case.vars, i, name))).line
    return SuiteError(
        doc.locate((*here, *value_path(case.vars, j, name))),
        collision_message(case_id, a, b, line),
    )


def _check_rule_scopes(spec: SuiteSpec, cases: list[Case], doc: YamlDocument) -> None:
    """A gate rule must name a metric some case checks and tags some case carries:
    otherwise it would judge nothing, and say so only at run time."""
    checks = sorted({c.name for case in cases for c in case.checks})
    tags = sorted({t for case in cases for t in case.tags})
    for kind in ("no_regression", "improves"):
        for rule, here in spec.gate.written(kind):
            if rule.metric != "pass_rate" and rule.metric not in checks:
                raise SuiteError(
                    doc.locate((*here, "metric")),
                    f"no case has a check named '{rule.metric}'"
                    f"{did_you_mean(rule.metric, ['pass_rate', *checks])}; a rule compares "
                    f"pass_rate or one of this suite's checks: {', '.join(checks) or 'none'}",
                )
            for t, tag in enumerate(rule.tags):
                if tag not in tags:
                    raise SuiteError(
                        doc.locate((*here, "tags", t)),
                        f"no case has the tag '{tag}'{did_you_mean(tag, tags)}; "
                        f"tags in this suite: {', '.join(tags) or 'none'}",
                    )
            if not any(_in_scope(case, rule.metric, rule.tags) for case in cases):
                check = f" and the check '{rule.metric}'" if rule.metric != "pass_rate" else ""
                raise SuiteError(
                    doc.locate(here),
                    f"no case has all of the tags {', '.join(rule.tags)}{check} together: "
                    "this rule would judge nothing; fix its tags or metric",
                )


def _in_scope(case: Case, metric: str, tags: Sequence[str]) -> bool:
    has_check = metric == "pass_rate" or any(c.name == metric for c in case.checks)
    return has_check and set(tags) <= set(case.tags)


def _file_order(warning: SuiteWarning) -> tuple[int, int]:
    return warning.location.line or 0, warning.location.column or 0


def _build_case(
    spec: SuiteSpec,
    case: CaseSpec,
    values: Mapping[str, str],
    sources: list[CheckSource],
    resolver: CheckResolver,
    doc: YamlDocument,
    here: DataPath,
) -> Case:
    def fill(text: str | None, field: DataPath) -> str | None:
        # Without vars, unknown fields stay as written (lint warns) and {{ }} still
        # mean single braces, as in the template and in cases with vars.
        if text is None:
            return None
        try:
            return render(text, values, strict=bool(values))
        except UnknownVariable as exc:
            raise SuiteError(
                doc.locate((*here, *field)),
                f"unknown template variable '{{{exc.name}}}'{did_you_mean(exc.name, list(values))}"
                f"; this case defines: {', '.join(values)} (write {{{{ for a literal brace)",
            ) from None

    prompt = fill(case.prompt, ("prompt",))
    context = fill(case.context, ("context",))
    system = fill(case.system if case.system is not None else spec.defaults.system, ("system",))
    reference = fill(case.reference, ("reference",))
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

    if case.pair is not None:
        _pair_order_shown(case.pair, messages, doc, here)
    case_id = expanded_id(case.id, values) if values else case.id
    params = spec.defaults.params
    if case.params is not None:
        params = params.model_copy(update=case.params.model_dump(exclude_none=True))
    checks: list[ResolvedCheck] = []
    for source in sources:
        check = resolver.resolve(source, values)
        resolver.require_inputs(source, check, case_id, reference, context)
        checks.append(check)
    if case.bbq is not None:
        checks.append(bbq_check(case.bbq))
    if case.pair is not None:
        checks.append(pair_check(case.pair))
    allow_empty = case.allow_empty_output
    if allow_empty is None:
        allow_empty = spec.defaults.allow_empty_output
    if not allow_empty and not any(c.metric == NON_EMPTY for c in checks):
        checks.append(resolver.non_empty())
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
        reference=reference,
        tags=tuple(case.tags),
        vars=dict(values),
        checks=tuple(_name_checks(checks)),
        bbq=case.bbq,
        pair=case.pair,
        pair_method=spec.bias.pair_method if spec.bias is not None else "auto",
    )


# An option line of a forced-choice prompt: "A. text", "(b) text", "A: text".
_OPTION_LINE = re.compile(r"^[ \t]*\(?([AaBb])[.):][ \t]*(.*?)[ \t]*$", re.MULTILINE)


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _pair_order_shown(
    pair: PairSpec, messages: list[tuple[str, str]], doc: YamlDocument, here: DataPath
) -> None:
    """The output's letter is read by `a_is_more`: a prompt whose A and B lines show the
    sentences the other way round would turn every choice around. Checked on the messages
    as sent (templates filled in); a prompt without such lines is not checked."""
    shown: dict[str, str] = {}
    for role, content in messages:
        if role != "user":
            continue
        for letter, text in _OPTION_LINE.findall(content):
            for name, sentence in (("more", pair.more), ("less", pair.less)):
                if _same_text(text, sentence):
                    shown.setdefault(letter.upper(), name)
    if shown.get("A") is None or shown.get("B") is None or shown["A"] == shown["B"]:
        return
    if (shown["A"] == "more") != pair.a_is_more:
        raise SuiteError(
            doc.locate((*here, "pair", "a_is_more")),
            f"pair.a_is_more is {str(pair.a_is_more).lower()}, but the prompt shows "
            f"`{shown['A']}` as option A; fix a_is_more or the prompt's order",
        )


def bbq_check(item: BbqSpec) -> ResolvedCheck:
    """The check every BBQ item gets: did the output choose the correct option."""
    args = BbqAnswerArgs(options=list(item.options), label=item.label, unknown=item.unknown)
    return ResolvedCheck(name="bbq", metric=BbqAnswer.name, args=args, threshold=1.0, weight=1.0)


def pair_check(pair: PairSpec) -> ResolvedCheck:
    """The check every pair case gets: did the output choose the more stereotyping
    sentence. Report-only (a pair has no right answer) and of weight 0 (not part of the
    record's score); the bias audit reads it as stereotype rates."""
    args = PairChoiceArgs(options=pair.options(), more=pair.more_index)
    return ResolvedCheck(
        name="crows",
        metric=PairChoice.name,
        args=args,
        threshold=1.0,
        weight=0.0,
        report_only=True,
    )


def _name_checks(checks: list[ResolvedCheck]) -> list[ResolvedCheck]:
    seen: dict[str, int] = {}
    named: list[ResolvedCheck] = []
    for check in checks:
        count = seen.get(check.name, 0) + 1
        seen[check.name] = count
        if count > 1:
            check = ResolvedCheck(
                f"{check.name}#{count}",
                check.metric,
                check.args,
                check.threshold,
                check.weight,
                check.report_only,
            )
        named.append(check)
    return named
