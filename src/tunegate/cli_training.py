"""The training commands of the `tunegate` door: convert-lora, watch, contamination.

Kept apart from cli.py so the main door stays small; each command is a thin call into
`tunegate.training`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import LoadedConfig

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
    contamination.add_argument("--ngram", type=int, default=13, help="n-gram length (13)")
    contamination.add_argument(
        "--near", type=float, default=0.5, help="near-duplicate Jaccard threshold (0.5)"
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
    converted = convert_peft_to_gguf(args.peft_dir, base=args.base, out=args.out)
    say(
        f"wrote {converted.path}: LoRA r={converted.rank}, alpha={converted.alpha:g}, "
        f"{converted.tensors} adapted tensors for {converted.architecture}"
    )
    return 0


def _watch(args: argparse.Namespace, loaded: LoadedConfig, say: Say) -> int:
    from .training import Watcher

    template = args.template or loaded.config.base
    watcher = Watcher(
        folder=args.folder,
        loaded=loaded,
        template=template,
        suites=args.suites or None,
        base=args.base,
        out=args.out,
        on_result=lambda path, result: say(
            f"{path.name}: {result.line().removeprefix('tunegate: ')}"
        ),
    )
    say(f"tunegate: watching {args.folder} (Ctrl-C to stop)")
    history = watcher.run(interval=args.interval, max_items=args.max_items, once=args.once)
    if not history:
        say("tunegate: nothing to gate")
    return 0 if all(result.gate_passed for _, result in history) else 1


def _contamination(args: argparse.Namespace, loaded: LoadedConfig, say: Say) -> int:
    from .paths import display_path
    from .suite import load_suites
    from .training import find_contamination, read_training_file

    paths = args.suites or [loaded.resolve(p) for p in loaded.config.suites]
    cases = [c for suite in load_suites(paths) for c in suite.cases]
    found = find_contamination(
        cases, read_training_file(args.train), ngram=args.ngram, near=args.near
    )
    for report in found:
        worst = report.worst
        assert worst is not None
        detail = f" (shared: {worst.shared!r})" if worst.shared else ""
        if worst.kind == "near":
            detail = f" (similarity {worst.similarity:.2f})"
        say(
            f"{report.suite}::{report.case_id}: {worst.kind}{detail}, "
            f"{display_path(args.train)}:{worst.line.line}: {worst.line.text!r}"
        )
    say(f"{len(found)} of {len(cases)} case(s) appear in {display_path(args.train)}")
    if args.write is not None:
        payload = {
            "train": str(args.train),
            "cases": [{"suite": r.suite, "case_id": r.case_id} for r in found],
        }
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        say(f"wrote {args.write}")
    return 1 if found else 0
