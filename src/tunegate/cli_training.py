"""The training commands of the `tunegate` door: convert-lora, watch, contamination.

Kept apart from cli.py so the main door stays small; each command is a thin call into
`tunegate.training`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import LoadedConfig
    from .training import ItemError, IterationResult

__all__ = ["COMMANDS", "add_training_commands", "needs_config", "run_training_command"]

Say = Callable[..., None]


def add_training_commands(sub: Any, shared: argparse.ArgumentParser) -> None:
    convert = sub.add_parser(
        "convert-lora",
        help="convert a PEFT LoRA adapter folder to a llama.cpp LoRA GGUF",
    )
    convert.add_argument("peft_dir", type=Path, help="the folder PEFT's save_pretrained wrote")
    convert.add_argument("--base", type=Path, required=True, help="the base model's GGUF")
    convert.add_argument("--out", type=Path, required=True, help="the adapter GGUF to write")
    convert.add_argument("--force", action="store_true", help="replace --out if it exists")

    watch = sub.add_parser(
        "watch",
        parents=[shared],
        help="gate each new adapter or checkpoint that appears in a folder",
    )
    watch.add_argument("folder", type=Path)
    watch.add_argument(
        "--template", help="the llama-cpp target that serves adapters (default: config `base`)"
    )
    watch.add_argument("--base", help="the target to compare with (default: config `base`)")
    watch.add_argument("--suites", nargs="*", type=Path, help="suites (default: the config's)")
    watch.add_argument("--out", type=Path, help="folder for run outputs (default: config `out`)")
    watch.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    watch.add_argument("--once", action="store_true", help="gate what is there now, then exit")
    watch.add_argument("--max", type=int, dest="max_items", help="exit after N items")

    contamination = sub.add_parser(
        "contamination",
        parents=[shared],
        help="find eval cases that (nearly) appear in the training data",
    )
    contamination.add_argument("suites", nargs="*", type=Path, help="suite files or folders")
    contamination.add_argument("--train", type=Path, required=True, help="training file")
    contamination.add_argument(
        "--ngram", type=int, default=13, help="shared run length in words, 6 or more (13)"
    )
    contamination.add_argument(
        "--near", type=float, default=0.5, help="near-duplicate Jaccard threshold, (0, 1] (0.5)"
    )
    contamination.add_argument(
        "--write",
        type=Path,
        help="write the leaked cases to this JSON file; name it as `contamination:` in "
        "tunegate.yaml to leave them out of the verdict",
    )


COMMANDS = ("convert-lora", "watch", "contamination")


def needs_config(command: str) -> bool:
    return command != "convert-lora"


def run_training_command(args: argparse.Namespace, loaded: LoadedConfig | None, say: Say) -> int:
    if args.command == "convert-lora":
        return _convert(args, say)
    assert loaded is not None
    if args.command == "watch":
        return _watch(args, loaded, say)
    return _contamination(args, loaded, say)


def _convert(args: argparse.Namespace, say: Say) -> int:
    from .errors import InputError
    from .training import convert_peft_to_gguf

    if not args.base.is_file():
        raise InputError(f"{args.base}: no such base model GGUF")
    converted = convert_peft_to_gguf(
        args.peft_dir, base=args.base, out=args.out, overwrite=args.force
    )
    say(
        f"wrote {converted.path}: LoRA r={converted.rank}, alpha={converted.alpha:g}, "
        f"{converted.tensors} adapted tensors for {converted.architecture}"
    )
    return 0


def _watch(args: argparse.Namespace, loaded: LoadedConfig, say: Say) -> int:
    """Exit code: 0 every item passed its gate; 1 a gate failed or was inconclusive; 2 an
    item was bad input (a corrupt adapter, a bad target file); 3 an item has no verdict
    (its target produced nothing). The worst over the items seen."""
    from .errors import InputError
    from .report import unreachable_targets
    from .training import Watcher

    # The latest outcome of each item: a bad item fixed and gated later counts as gated.
    codes: dict[Path, int] = {}

    def gated(path: Path, result: IterationResult) -> None:
        say(f"{path.name}: {result.line().removeprefix('tunegate: ')}")
        dead = unreachable_targets(result.results) if result.results is not None else []
        if dead:
            say(f"{path.name}: error: every generation of {', '.join(dead)} failed: no verdict")
            codes[path] = 3
        else:
            codes[path] = 0 if result.gate_passed else 1

    def failed(error: ItemError) -> None:
        say(f"{error.path.name}: error: {error.message}; skipped (a change brings it back)")
        codes[error.path] = error.exit_code

    watcher = Watcher(
        folder=args.folder,
        loaded=loaded,
        template=args.template or _llama_cpp_base(loaded),
        suites=args.suites or None,
        base=args.base,
        out=args.out,
        on_result=gated,
        on_error=failed,
    )
    if args.max_items is not None and args.max_items < 1:
        raise InputError(f"--max must be 1 or more (got {args.max_items})")
    say(f"tunegate: watching {args.folder} (Ctrl-C to stop)")
    history = watcher.run(interval=args.interval, max_items=args.max_items, once=args.once)
    if not history and not watcher.errors:
        say("tunegate: nothing to gate")
    return max(codes.values(), default=0)


def _llama_cpp_base(loaded: LoadedConfig) -> str | None:
    """The config's base, when it can serve adapters (items that are whole targets need no
    template)."""
    base = loaded.config.base
    spec = loaded.config.targets.get(base) if base else None
    return base if spec is not None and spec.provider == "llama-cpp" else None


def _contamination(args: argparse.Namespace, loaded: LoadedConfig, say: Say) -> int:
    from .paths import display_path
    from .safe_text import shorten
    from .suite import load_suites
    from .training.contamination import (
        SHOWN_CHARS,
        check_output,
        check_settings,
        find_contamination,
        iter_training_file,
        write_contamination,
    )

    check_settings(args.ngram, args.near)
    paths = args.suites or [loaded.resolve(p) for p in loaded.config.suites]
    suites = load_suites(paths)
    if args.write is not None:  # refused before the work, not after
        inputs = [args.train, *(s.path for s in suites), *([loaded.path] if loaded.path else [])]
        check_output(args.write, inputs)
    cases = [c for suite in suites for c in suite.cases]
    found = find_contamination(
        cases, iter_training_file(args.train), ngram=args.ngram, near=args.near
    )
    train = display_path(args.train)
    for report in found:
        worst = report.worst
        assert worst is not None
        # Shortened: a training text can be a whole document.
        detail = f" (shared: {shorten(worst.shared, SHOWN_CHARS)!r})" if worst.shared else ""
        if worst.kind == "near":
            detail = f" (similarity {worst.similarity:.2f})"
        say(
            f"{report.suite}::{report.case_id}: {worst.kind}{detail}, "
            f"{train}:{worst.line.line}: {shorten(worst.line.text, SHOWN_CHARS)!r}"
        )
    say(f"{len(found)} of {len(cases)} case(s) appear in {train}")
    if args.write is not None:
        write_contamination(args.write, args.train, found)
        say(f"wrote {display_path(args.write)}")
    return 1 if found else 0
