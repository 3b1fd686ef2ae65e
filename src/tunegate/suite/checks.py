"""Checks: a suite's `checks` entries -> ResolvedChecks for one expanded case.

Arguments are validated after the case's vars are substituted, so a value that breaks
them (`pattern: '{s}'` with `s: '('`) is a load error at the check, naming the values.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import SuiteError
from ..metrics import Metric, get_metric, metric_names, value_range
from .cases import ResolvedCheck
from .format import CheckSpec
from .templating import fields_in, render, whole_field
from .validation_errors import did_you_mean, suite_error_from
from .yaml_source import DataPath, YamlDocument, plain_scalar

__all__ = ["NON_EMPTY", "CheckResolver", "CheckSource"]

NON_EMPTY = "non_empty"


@dataclass(frozen=True)
class CheckSource:
    """A check as written, and where: `defaults.checks[i]` or `cases[j].checks[i]`."""

    spec: CheckSpec
    path: DataPath

    @property
    def from_defaults(self) -> bool:
        return self.path[:1] == ("defaults",)


class CheckResolver:
    """Resolves checks for one suite file; identical resolutions are made once."""

    def __init__(self, doc: YamlDocument) -> None:
        self._doc = doc
        self._done: dict[tuple[DataPath, str], ResolvedCheck] = {}

    def resolve(self, source: CheckSource, values: Mapping[str, str]) -> ResolvedCheck:
        spec = source.spec
        metric = self._metric(source)
        args_data: Any = spec.args
        if values:
            args_data = _typed(metric.args_model, spec.args, _fill(spec.args, values))
        key = (source.path, repr(args_data))
        if key in self._done:
            return self._done[key]
        try:
            args = metric.args_model.model_validate(args_data)
        except ValidationError as exc:
            err = suite_error_from(exc, self._doc, metric.args_model, prefix=(*source.path, "args"))
            used = {n: values[n] for n in sorted(_fields(spec.args)) if n in values}
            if used:
                shown = ", ".join(f"{n}={v!r}" for n, v in used.items())
                err = SuiteError(err.location, f"{err.message} (with vars {shown})")
            raise err from None
        resolved = ResolvedCheck(
            name=spec.name or spec.metric,
            metric=spec.metric,
            args=args,
            threshold=self._threshold(source, metric),
            weight=spec.weight,
            report_only=spec.report_only,
        )
        self._done[key] = resolved
        return resolved

    def require_inputs(
        self,
        source: CheckSource,
        check: ResolvedCheck,
        case_id: str,
        reference: str | None,
        context: str | None = None,
    ) -> None:
        """A check that would fail every sample of this case (no text, no reference, no
        context)."""
        problem = _missing_input(check.args, reference=reference, context=context)
        if problem:
            whose = f"; case '{case_id}' has none" if source.from_defaults else ""
            raise SuiteError(
                self._doc.locate(source.path),
                f"{problem}{whose} (as written, it fails every sample)",
            )

    def non_empty(self) -> ResolvedCheck:
        """The built-in check every case gets unless empty output is allowed.

        Weight 0: it decides pass or fail but leaves the weighted score as the suite's
        own checks make it.
        """
        metric = get_metric(NON_EMPTY)
        assert metric is not None  # registered by tunegate.metrics.text
        return ResolvedCheck(
            name=NON_EMPTY,
            metric=NON_EMPTY,
            args=metric.args_model.model_validate({}),
            threshold=metric.default_threshold,
            weight=0.0,
        )

    def _metric(self, source: CheckSource) -> Metric:
        name = source.spec.metric
        metric = get_metric(name)
        if metric is None:
            names = metric_names()
            raise SuiteError(
                self._doc.locate((*source.path, "metric")),
                f"unknown metric '{name}'{did_you_mean(name, names)}; "
                f"available: {', '.join(names)}",
            )
        return metric

    def _threshold(self, source: CheckSource, metric: Metric) -> float:
        given = source.spec.threshold
        if given is None:
            return metric.default_threshold
        # A pairwise metric scores no output (execution.scoring.is_pairwise): nothing to hold
        # a threshold against, so one written there would silently do nothing.
        if getattr(metric, "pairwise", False):
            raise SuiteError(
                self._doc.locate((*source.path, "threshold")),
                f"{source.spec.metric} gives no value per output, so a threshold has nothing "
                "to compare with (its verdicts and win rate are in results.json's pairwise "
                "and pairwise_summary); remove the threshold",
            )
        low, high = value_range(metric)
        if not low <= given <= high:
            raise SuiteError(
                self._doc.locate((*source.path, "threshold")),
                f"threshold {given:g} lies outside the values {source.spec.metric} gives "
                f"({low:g} to {high:g}), so the check would pass or fail every output; "
                f"use a threshold from {low:g} to {high:g}",
            )
        return given


def _missing_input(args: object, *, reference: str | None, context: str | None) -> str | None:
    """What `args.missing_input` says of this case. The context goes only to an override
    that declares it: one written for the reference alone (a plugin's) would fail on it."""
    method = getattr(args, "missing_input", None)
    if not callable(method):
        return None
    takes = _TAKES_CONTEXT.get(type(args))
    if takes is None:  # read once per args class: a suite may expand to many cases
        takes = _TAKES_CONTEXT[type(args)] = _takes_context(method)
    problem = method(reference=reference, context=context) if takes else method(reference=reference)
    return problem if isinstance(problem, str) else None


_TAKES_CONTEXT: dict[type, bool] = {}


def _takes_context(method: Callable[..., object]) -> bool:
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): reference only
        return False
    return any(
        p.name == "context" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    # Unknown {fields} stay as written: a regex such as \p{L} is not a variable.
    if isinstance(value, str):
        return render(value, values, strict=False)
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def _typed(model: type[BaseModel], written: dict[str, Any], filled: Any) -> Any:
    """Vars are text, but `max: "{n}"` with `n: [5, 10]` means numbers: an argument that
    takes only numbers or booleans and is written as exactly one field gets its value read
    as YAML 1.2 reads it unquoted. Anything else stays text, and strict validation says so
    (with the vars), so `ignore_case: "{x}"` with x = yes is still refused."""
    if not isinstance(filled, dict):
        return filled
    typed = dict(filled)
    for key, original in written.items():
        field = model.model_fields.get(key)
        value = filled.get(key)
        if (
            field is not None
            and isinstance(original, str)
            and whole_field(original) is not None
            and isinstance(value, str)
            and _takes_no_text(field.annotation)
        ):
            typed[key] = plain_scalar(value)
    return typed


def _takes_no_text(annotation: Any) -> bool:
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = [
        a for a in (typing.get_args(annotation) if union else (annotation,)) if a is not type(None)
    ]
    return bool(members) and all(m in (int, float, bool) for m in members)


def _fields(value: Any) -> set[str]:
    if isinstance(value, str):
        return fields_in(value)
    if isinstance(value, list):
        return set().union(*(_fields(v) for v in value))
    if isinstance(value, dict):
        return set().union(*(_fields(v) for v in value.values()))
    return set()
