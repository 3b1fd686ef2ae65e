"""`tunegate watch DIR`: gate each new adapter or checkpoint that appears in a folder.

For trainers tunegate does not control (an Axolotl or Unsloth run, an OpenAI fine-tuning
job). It recognises, as they appear:

- `*.gguf`: a llama.cpp LoRA adapter, served by the template target;
- a folder holding `adapter_config.json`: a PEFT adapter (a trainer's `checkpoint-N/`),
  converted to GGUF first;
- `*.target.yaml`: a whole target, e.g. `{provider: openai, model: "ft:…:ckpt-step-300"}`
  for a hosted fine-tune's checkpoint.

An item is gated once it has stopped changing (same size and mtime on two polls), in the
order it appeared; each run is recorded in the store as `iteration-N`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import LoadedConfig
from ..errors import InputError
from ..suite import load_yaml
from .adapter_targets import with_adapter_target, with_target
from .iterations import IterationResult, gate_iteration, template_model_path
from .lora_gguf import convert_peft_to_gguf

__all__ = ["Watcher"]


def _signature(path: Path) -> tuple[int, int]:
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        return sum(p.stat().st_size for p in files), max(
            (p.stat().st_mtime_ns for p in files), default=0
        )
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _kind(path: Path) -> str | None:
    if path.is_dir() and (path / "adapter_config.json").is_file():
        return "peft"
    if path.is_file() and path.name.endswith(".target.yaml"):
        return "target"
    if path.is_file() and path.suffix == ".gguf" and not path.name.startswith("."):
        return "gguf"
    return None


@dataclass
class Watcher:
    folder: Path
    loaded: LoadedConfig
    template: str | None
    suites: list[Path] | None = None
    base: str | None = None
    out: Path | None = None
    converted_dir: Path | None = None
    on_result: Callable[[Path, IterationResult], None] | None = None
    history: list[tuple[Path, IterationResult]] = field(default_factory=list)
    _seen: set[Path] = field(default_factory=set)
    _pending: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.folder.is_dir():
            raise InputError(f"{self.folder}: no such folder to watch")

    def _candidates(self) -> Iterator[Path]:
        items = [p for p in self.folder.iterdir() if _kind(p) is not None]
        yield from sorted(items, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def ready(self) -> list[Path]:
        """Items that stopped changing since the last poll and were not gated yet."""
        ready: list[Path] = []
        for path in self._candidates():
            if path in self._seen:
                continue
            try:
                signature = _signature(path)
            except OSError:
                continue  # vanished or unreadable while being written
            if self._pending.get(path) == signature:
                ready.append(path)
                del self._pending[path]
            else:
                self._pending[path] = signature
        return ready

    def gate(self, path: Path) -> IterationResult:
        self._seen.add(path)
        number = len(self.history) + 1
        name = f"iteration-{number}"
        loaded = self._with_candidate(path, name)
        result = gate_iteration(
            loaded, number=number, candidate=name, suites=self.suites, base=self.base, out=self.out
        )
        self.history.append((path, result))
        if self.on_result is not None:
            self.on_result(path, result)
        return result

    def _with_candidate(self, path: Path, name: str) -> LoadedConfig:
        kind = _kind(path)
        if kind == "target":
            spec = _read_target(path)
            return with_target(self.loaded, name, spec)
        if self.template is None:
            raise InputError(
                f"{path}: an adapter needs a llama-cpp target to serve it; pass --template NAME"
            )
        adapter = path
        if kind == "peft":
            folder = self.converted_dir or (self.folder / ".tunegate-gguf")
            adapter = convert_peft_to_gguf(
                path,
                base=template_model_path(self.loaded, self.template),
                out=folder / f"{path.name}.gguf",
            ).path
        return with_adapter_target(self.loaded, template=self.template, name=name, adapter=adapter)

    def run(
        self,
        *,
        interval: float = 5.0,
        max_items: int | None = None,
        once: bool = False,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> list[tuple[Path, IterationResult]]:
        """Poll until `max_items` were gated (or, with `once`, until what is there now is)."""
        if once:
            self.ready()  # first sighting
            sleep(min(interval, 1.0))
        while True:
            for path in self.ready():
                self.gate(path)
                if max_items is not None and len(self.history) >= max_items:
                    return self.history
            if once and not self._pending:
                return self.history
            sleep(interval)


def _read_target(path: Path) -> dict[str, Any]:
    spec = load_yaml(path).data  # safe YAML with positions, like every input file
    if not isinstance(spec, dict) or "provider" not in spec:
        raise InputError(f"{path}: a target file holds a mapping with at least 'provider'")
    return spec
