"""Recorded outputs from a JSONL file: `{"case_id": ..., "output": ..., "sample": 0}` a line.

`"suite"` (optional) tells apart cases with the same id in different suites; a line with it
serves only that suite, one without serves any suite with the case.

The file comes from elsewhere (another tool, a colleague, a hand edit): every way it can be
wrong is a ConfigError naming its line and what to write instead, never an internal error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from ..errors import ConfigError, ProviderError, SourceLocation
from ..paths import display_path
from ..safe_text import shorten
from ..suite import did_you_mean
from .base import (
    Generation,
    GenerationRequest,
    Loglikelihood,
    LoglikelihoodRequest,
    LoglikelihoodUnsupported,
    OutputLimitOptions,
    ProviderContext,
)

__all__ = ["ReplayOptions", "ReplayProvider", "create_replay"]

EXAMPLE = '{"case_id": "refund-window", "output": "45 days", "sample": 0}'
# Samples are counted from 0 up to a suite's `repeats`; beyond this a number is a mistake.
MAX_SAMPLE = 1_000_000
KEYS = ("case_id", "output", "sample", "suite")


@dataclass(frozen=True)
class _TooLong:
    """A recorded output over max_output_chars: an error on its generation, not kept."""

    where: SourceLocation
    length: int


class ReplayOptions(OutputLimitOptions):
    path: str = Field(description="JSONL file of recorded outputs, relative to the config file.")


class ReplayProvider:
    default_concurrency: ClassVar[int] = 16
    # Outputs are looked up by case, not computed from the prompt: the case joins the key.
    keyed_by_case: ClassVar[bool] = True

    def __init__(self, target: str, path: Path, options: ReplayOptions | None = None) -> None:
        self.target = target
        self.path = path
        self.options = options or ReplayOptions(path=str(path))
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{display_path(path)}: cannot read the replay file ({exc.strerror or exc}); "
                "check its permissions"
            ) from None
        self._digest = hashlib.sha256(raw).hexdigest()
        self._outputs: dict[tuple[str | None, str, int], str | _TooLong] = {}
        # Split on "\n" only: str.splitlines() also splits at U+2028 and other separators,
        # which JSON allows raw inside a string.
        for number, line in enumerate(self._text(raw).split("\n"), start=1):
            if line.strip():
                self._add(number, line.rstrip("\r"))  # CRLF files (Windows editors) work
        if not self._outputs:
            raise ConfigError(
                f"{display_path(path)}: the replay file holds no outputs; write one JSON object "
                f"a line, e.g. {EXAMPLE}"
            )

    def _text(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8-sig")  # a leading BOM (Windows editors) is fine
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            raise ConfigError(
                f"{SourceLocation(self.path, line, column)}: not UTF-8 (byte "
                f"0x{raw[exc.start]:02X}); save the replay file as UTF-8"
            ) from None

    def _add(self, number: int, line: str) -> None:
        where = SourceLocation(self.path, number)
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = (
                "; the file looks like one JSON document: write one object a line (JSONL)"
                if number == 1 and line.strip() in ("[", "{")
                else f"; write one JSON object a line, e.g. {EXAMPLE}"
            )
            raise ConfigError(f"{where}: not valid JSON ({exc.msg}){hint}") from None
        except (ValueError, RecursionError) as exc:  # a 5000-digit number, absurd nesting
            raise ConfigError(
                f"{where}: a number too long or nesting too deep to read "
                f"({type(exc).__name__}); write one plain object a line, e.g. {EXAMPLE}"
            ) from None
        if not isinstance(record, dict):
            raise ConfigError(
                f"{where}: the line is {_json_kind(record)}, not a JSON object; "
                f"write one object a line, e.g. {EXAMPLE}"
            )
        unknown = [k for k in record if k not in KEYS]
        if unknown:
            allowed = ", ".join(f'"{k}"' for k in KEYS)
            shown = json.dumps(shorten(unknown[0], 60))  # the file's text: quoted, short
            raise ConfigError(
                f"{where}: unknown key {shown}{did_you_mean(unknown[0], list(KEYS))}; "
                f"a line holds only {allowed}"
            )
        if "case_id" not in record or "output" not in record:
            raise ConfigError(f'{where}: each line needs "case_id" and "output", e.g. {EXAMPLE}')
        case_id, output = record["case_id"], record["output"]
        if isinstance(case_id, int) and not isinstance(case_id, bool):
            case_id = str(case_id)  # `id: 7` in a suite is the case "7"
        if not isinstance(case_id, str) or not case_id:
            raise ConfigError(
                f'{where}: "case_id" must be the id of a case in a suite, not '
                f"{_json_kind(case_id) if case_id != '' else 'empty'}"
            )
        if not isinstance(output, str):
            raise ConfigError(
                f'{where}: "output" must be text, not {_json_kind(output)}; '
                "leave out a case that has no recorded output"
            )
        suite = record.get("suite")
        if suite is not None and not isinstance(suite, str):
            raise ConfigError(f'{where}: "suite" must be a suite name as text, or left out')
        sample = record.get("sample", 0)
        # bool is an int in Python; `"sample": true` is a mistake, not sample 1.
        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
            raise ConfigError(f'{where}: "sample" must be a whole number >= 0, or left out')
        if sample > MAX_SAMPLE:
            raise ConfigError(
                f'{where}: "sample" {sample} is beyond any suite\'s repeats; samples count '
                "from 0 for each case"
            )
        key = (suite, case_id, sample)
        if key in self._outputs:
            raise ConfigError(
                f"{where}: a second output for case {case_id!r} sample {sample}; "
                "keep one line per case and sample"
            )
        too_long = len(output) > self.options.max_output_chars
        self._outputs[key] = _TooLong(where, len(output)) if too_long else output

    def fingerprint(self) -> Mapping[str, Any]:
        return {"provider": "replay", "sha256": self._digest}

    async def generate(self, request: GenerationRequest) -> Generation:
        for key in (
            (request.suite, request.case_id, request.sample),
            (None, request.case_id, request.sample),
        ):
            found = self._outputs.get(key)
            if isinstance(found, _TooLong):
                raise ProviderError(
                    f"{found.where}: the recorded output is {found.length:,} characters, over "
                    f"max_output_chars ({self.options.max_output_chars:,}); shorten it, or "
                    f"raise targets.{self.target}.max_output_chars"
                )
            if found is not None:
                return Generation(text=found, finish_reason="replay")
        raise ProviderError(
            f"{self.path.name} has no recorded output for case '{request.case_id}' "
            f"sample {request.sample}"
        )

    def cannot_score(self) -> LoglikelihoodUnsupported:
        return LoglikelihoodUnsupported(
            self.target, "provider replay", "a recorded output holds no probabilities"
        )

    async def loglikelihood(self, request: LoglikelihoodRequest) -> Loglikelihood:
        raise self.cannot_score()

    async def aclose(self) -> None:
        return None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def create_replay(options: ReplayOptions, context: ProviderContext) -> ReplayProvider:
    path = Path(options.path).expanduser()
    if not path.is_absolute():
        path = context.config_dir / path
    if path.is_dir():
        raise ConfigError(
            f"{context.where('path')}: replay path {display_path(path)} is a folder; "
            "set path to a .jsonl file"
        )
    if not path.is_file():
        raise ConfigError(
            f"{context.where('path')}: replay file {display_path(path)} not found; "
            "fix path (relative to the config file), or create the file"
        )
    return ReplayProvider(context.target, path, options)


create_replay.options_model = ReplayOptions  # type: ignore[attr-defined]
