"""`tunegate watch DIR`: gate each new adapter or checkpoint that appears in a folder.

For trainers tunegate does not control (an Axolotl or Unsloth run, an OpenAI fine-tuning
job). It recognises, as they appear:

- `*.gguf`: a llama.cpp LoRA adapter, served by the template target;
- a folder holding `adapter_config.json`: a PEFT adapter (a trainer's `checkpoint-N/`),
  converted to GGUF first;
- `*.target.yaml`: a whole target, e.g. `{provider: openai, model: "ft:…:ckpt-step-300"}`
  for a hosted fine-tune's checkpoint.

An item is gated once it has stopped changing (same size and mtime on two polls), in the
order it appeared; each run is recorded in the store as `iteration-N`. An item that cannot
be gated (a half-written checkpoint, a corrupt adapter, a bad target file) is reported and
skipped, and tried again if it changes; one that vanishes (a trainer rotating checkpoints)
is forgotten. Neither stops the watch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import LoadedConfig
from ..errors import InputError, TunegateError
from ..suite import discover_suite_files, load_yaml
from .adapter_targets import require_target, with_adapter_target, with_target
from .iterations import IterationResult, gate_iteration, template_model_path
from .lora_gguf import convert_peft_to_gguf

__all__ = ["ItemError", "Watcher"]

Signature = tuple[int, int]


@dataclass(frozen=True)
class ItemError:
    """An item that could not be gated, and why; `exit_code` as the CLI would give it."""

    path: Path
    message: str
    exit_code: int


def _signature(path: Path) -> Signature:
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
    on_error: Callable[[ItemError], None] | None = None
    history: list[tuple[Path, IterationResult]] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
    # Each item with the signature it was gated (or failed) at: a change brings it back.
    _done: dict[Path, Signature] = field(default_factory=dict)
    _pending: dict[Path, Signature] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every option is checked now, not when the first checkpoint arrives."""
        if self.folder.is_file():
            raise InputError(f"{self.folder}: is a file; watch the folder the trainer writes to")
        if not self.folder.is_dir():
            raise InputError(f"{self.folder}: no such folder to watch")
        require_target(self.loaded, self.base, "--base")
        require_target(
            self.loaded,
            self.template,
            "--template",
            "name the llama-cpp target that serves the base model; ",
        )
        if self.template is not None:
            template_model_path(self.loaded, self.template)  # a llama-cpp target, model found
        if self.suites:
            discover_suite_files(self.suites)  # raises, naming a missing file or folder

    def _candidates(self) -> Iterator[tuple[Path, Signature]]:
        items: list[tuple[int, str, Path, Signature]] = []
        for path in self.folder.iterdir():
            try:
                if _kind(path) is None:
                    continue
                signature = _signature(path)
            except OSError:
                continue  # vanished (a rotated checkpoint) or unreadable while written
            items.append((signature[1], path.name, path, signature))
        for _, _, path, signature in sorted(items):
            yield path, signature

    def ready(self) -> list[Path]:
        """Items that stopped changing since the last poll and were not gated as they are."""
        ready: list[Path] = []
        present = set()
        for path, signature in self._candidates():
            present.add(path)
            if self._done.get(path) == signature:
                continue
            if self._pending.get(path) == signature:
                ready.append(path)
                del self._pending[path]
            else:
                self._pending[path] = signature
        for gone in set(self._pending) - present:
            del self._pending[gone]
        return ready

    def gate(self, path: Path) -> IterationResult:
        try:
            self._done[path] = _signature(path)
        except OSError:
            raise InputError(f"{path}: vanished before it could be gated") from None
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
            doc = load_yaml(path)  # safe YAML with positions, like every input file
            if not isinstance(doc.data, dict) or "provider" not in doc.data:
                raise InputError(f"{path}: a target file holds a mapping with at least 'provider'")
            return with_target(self.loaded, name, doc.data, doc)
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
        """Poll until `max_items` were gated (or, with `once`, until what is there now is).
        An item that cannot be gated is recorded in `errors` and the watch goes on."""
        if not (interval > 0 and interval < float("inf")):
            raise InputError(f"--interval must be a positive number of seconds (got {interval})")
        if once:
            self.ready()  # first sighting
            sleep(min(interval, 1.0))
        while True:
            for path in self.ready():
                try:
                    self.gate(path)
                except TunegateError as exc:
                    error = ItemError(path, str(exc), exc.exit_code)
                    self.errors.append(error)
                    if self.on_error is not None:
                        self.on_error(error)
                if max_items is not None and len(self.history) >= max_items:
                    return self.history
            if once and not self._pending:
                return self.history
            sleep(interval)
