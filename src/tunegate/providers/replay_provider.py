"""Recorded outputs from a JSONL file: `{"case_id": ..., "output": ..., "sample": 0}` a line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from ..errors import ConfigError, ProviderError
from .base import Generation, GenerationRequest, ProviderContext, ProviderOptions

__all__ = ["ReplayOptions", "ReplayProvider", "create_replay"]


class ReplayOptions(ProviderOptions):
    path: str = Field(description="JSONL file of recorded outputs, relative to the config file.")


class ReplayProvider:
    default_concurrency: ClassVar[int] = 16

    def __init__(self, target: str, path: Path) -> None:
        self.target = target
        self.path = path
        raw = path.read_bytes()
        self._digest = hashlib.sha256(raw).hexdigest()
        self._outputs: dict[tuple[str | None, str, int], str] = {}
        for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            self._add(number, line)

    def _add(self, number: int, line: str) -> None:
        where = f"{self.path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc.msg}); one object a line") from None
        if not isinstance(record, dict) or "case_id" not in record or "output" not in record:
            raise ConfigError(f'{where}: each line needs "case_id" and "output"')
        if not isinstance(record["output"], str):
            raise ConfigError(f'{where}: "output" must be a string')
        sample = record.get("sample", 0)
        if not isinstance(sample, int) or sample < 0:
            raise ConfigError(f'{where}: "sample" must be a whole number >= 0')
        key = (record.get("suite"), str(record["case_id"]), sample)
        if key in self._outputs:
            raise ConfigError(f"{where}: a second output for case {key[1]!r} sample {sample}")
        self._outputs[key] = record["output"]

    def fingerprint(self) -> Mapping[str, Any]:
        return {"provider": "replay", "sha256": self._digest}

    async def generate(self, request: GenerationRequest) -> Generation:
        for key in (
            (request.suite, request.case_id, request.sample),
            (None, request.case_id, request.sample),
        ):
            if key in self._outputs:
                return Generation(text=self._outputs[key], finish_reason="replay")
        raise ProviderError(
            f"{self.path.name} has no recorded output for case '{request.case_id}' "
            f"sample {request.sample}"
        )

    async def aclose(self) -> None:
        return None


def create_replay(options: ReplayOptions, context: ProviderContext) -> ReplayProvider:
    path = Path(options.path).expanduser()
    if not path.is_absolute():
        path = context.config_dir / path
    if not path.is_file():
        raise ConfigError(f"target '{context.target}': replay file not found at {path}")
    return ReplayProvider(context.target, path)


create_replay.options_model = ReplayOptions  # type: ignore[attr-defined]
