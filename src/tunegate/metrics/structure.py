"""Structure: `json_valid` and `json_schema` (jsonschema, schema given inline in args).

The output is parsed whole (JSON cannot be judged on a prefix), so outputs over
MAX_JSON_CHARS characters are errors, not scores. NaN and Infinity, which Python's parser
accepts, are not JSON and are refused.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import jsonschema
import regex
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from pydantic import Field, field_validator

from .base import MetricArgs, MetricError, MetricInput, MetricResult
from .bounded import MAX_JSON_CHARS, library_call
from .regex_limits import check_pattern
from .registry import register_metric

__all__ = ["JsonSchema", "JsonValid"]

# Seconds one schema `pattern` may take on one string of the output.
PATTERN_TIMEOUT = 1.0

_FENCE = re.compile(r"\A```[^\n]*\n(.*)\n```\Z", re.DOTALL)


class _NotJson(Exception):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not JSON")


def _parse(output: str, code_fence: bool, metric: str) -> tuple[Any, str | None]:
    """(value, None) for JSON output, else (None, why not)."""
    if len(output) > MAX_JSON_CHARS:
        raise MetricError(
            f"{metric}: the output has {len(output):,} characters, over the "
            f"{MAX_JSON_CHARS:,} this metric parses"
        )
    text = output.strip()
    fenced = _FENCE.match(text) if code_fence else None
    if fenced:
        text = fenced.group(1)
    try:
        return json.loads(text, parse_constant=_refuse_constant), None
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except _NotJson as exc:
        return None, f"not JSON: {exc}"
    except RecursionError:
        raise MetricError(f"{metric}: the output nests too deeply to parse") from None
    except ValueError as exc:  # e.g. an integer over Python's digit limit
        raise MetricError(f"{metric}: the output could not be parsed ({exc})") from None


class JsonValidArgs(MetricArgs):
    code_fence: bool = Field(
        False, description="Also accept JSON wrapped in one Markdown ``` code fence."
    )


class JsonValid:
    """1.0 when the output (surrounding whitespace stripped) is one JSON value, else 0.0.

    Range [0, 1]. Strict RFC 8259 JSON: no NaN, Infinity, comments or trailing commas.
    With `code_fence`, a single Markdown code fence around the JSON is removed first.
    """

    name: ClassVar[str] = "json_valid"
    args_model: ClassVar[type[MetricArgs]] = JsonValidArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "The output parses as JSON."

    def score(self, sample: MetricInput, args: JsonValidArgs) -> MetricResult:
        _, problem = _parse(sample.output, args.code_fence, self.name)
        return MetricResult(0.0, problem) if problem else MetricResult(1.0)


def _patterns(schema: Any) -> Iterator[str]:
    """Every regular expression a schema holds (`pattern`, `patternProperties` keys)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                yield node["pattern"]
            if isinstance(node.get("patternProperties"), dict):
                yield from node["patternProperties"]
            stack.extend(node.values())


def _bounded_pattern(
    validator: Validator, pattern: str, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    # jsonschema's own `pattern` uses re with no timeout; the string is untrusted output.
    if not validator.is_type(instance, "string"):
        return
    try:
        found = regex.search(pattern, instance, timeout=PATTERN_TIMEOUT)
    except TimeoutError:
        raise MetricError(
            f"json_schema: pattern /{pattern}/ took over {PATTERN_TIMEOUT:g} s on a string "
            "of this output; simplify it"
        ) from None
    if found is None:
        yield ValidationError(f"{instance[:100]!r} does not match {pattern!r}")


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str) -> Validator:
    schema = json.loads(schema_json)
    base = jsonschema.validators.validator_for(schema)
    cls = jsonschema.validators.extend(base, validators={"pattern": _bounded_pattern})
    return cls(schema)


def _canonical(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, allow_nan=False)


class JsonSchemaArgs(MetricArgs):
    schema_: dict[str, Any] = Field(
        alias="schema",
        description="A JSON Schema (draft from its $schema, else 2020-12), written inline.",
    )
    code_fence: bool = Field(
        False, description="Also accept JSON wrapped in one Markdown ``` code fence."
    )

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Checked at load, so a broken schema is an error at the check, not on every sample.
        try:
            base = jsonschema.validators.validator_for(value)
            base.check_schema(value)
            for pattern in _patterns(value):
                check_pattern(pattern)
                regex.compile(pattern, cache_pattern=False)
                re.compile(pattern)  # jsonschema matches patternProperties with re
            _validator(_canonical(value))
        except jsonschema.SchemaError as exc:
            raise ValueError(f"invalid JSON Schema: {exc.message}") from None
        except (regex.error, re.error) as exc:
            raise ValueError(f"invalid pattern in the schema: {exc}") from None
        except RecursionError:
            raise ValueError("the schema nests too deeply") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid JSON Schema: {exc}") from None
        return value


class JsonSchema:
    """1.0 when the output is JSON that conforms to `schema`, else 0.0.

    Range [0, 1]. Parsed as `json_valid` parses; validated with jsonschema under the
    schema's declared draft (2020-12 when it declares none). The schema is checked when
    the suite loads. Formats (`format: email`) are annotations, not checked; remote `$ref`s
    are not fetched (an unresolvable one is an error on the check). A `pattern` runs with a
    1 s timeout per string.
    """

    name: ClassVar[str] = "json_schema"
    args_model: ClassVar[type[MetricArgs]] = JsonSchemaArgs
    default_threshold: ClassVar[float] = 1.0
    description: ClassVar[str] = "The output is JSON that conforms to the inline `schema`."

    def score(self, sample: MetricInput, args: JsonSchemaArgs) -> MetricResult:
        value, problem = _parse(sample.output, args.code_fence, self.name)
        if problem:
            return MetricResult(0.0, problem)
        with library_call(self.name):
            error = jsonschema.exceptions.best_match(
                _validator(_canonical(args.schema_)).iter_errors(value)
            )
        if error is None:
            return MetricResult(1.0)
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return MetricResult(0.0, f"at {where}: {error.message[:300]}")


for _metric in (JsonValid(), JsonSchema()):
    register_metric(_metric)
