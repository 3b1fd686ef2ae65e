"""BBQ JSONL (Parrish et al. 2022, github.com/nyu-mll/BBQ `data/*.jsonl`) -> a suite.

Each line becomes a case `{category}-{example_id}` with the context, the question and its
three options as the prompt, and a `bbq:` item carrying what the scores need: options,
group tags, the UNKNOWN option, the correct one, polarity, context condition and the
stereotyped groups. The file is read a line at a time and validated; a bad line is an
error naming file:line and what is wrong. tunegate ships this code, never the data.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..paths import display_path
from .writing import read_lines

__all__ = ["BbqImport", "bbq_suite", "read_bbq"]

UNKNOWN_TAG = "unknown"
# Proper-name templates tag their options with a gender, or gender-race, code ("F", "M",
# "F-Black") instead of a group label ("woman", "Black"); the authors score them apart.
_NAME_TAG = re.compile(r"^[FM](-.+)?$")
_NAME_CATEGORIES = ("Gender_identity", "Race_ethnicity")
PROMPT_TEMPLATE = "{context}\n{prompt}\nAnswer with the letter of the correct option."


@dataclass(frozen=True)
class BbqImport:
    cases: list[dict[str, Any]]
    read: int  # items in the files
    skipped: int  # items with no single targeted option


def read_bbq(paths: Sequence[Path]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(file, line, item) for every line of every file, each validated."""
    for path in paths:
        for line_no, text in read_lines(path):
            if not text.strip():
                continue
            where = f"{display_path(path)}:{line_no}"
            try:
                item = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{where}:{exc.colno}: not a JSON object ({exc.msg}); a BBQ file has one "
                    "JSON object a line"
                ) from None
            yield where, line_no, _validated(item, where)


def _validated(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InputError(f"{where}: not a JSON object; a BBQ file has one JSON object a line")
    fields: dict[str, type | tuple[type, ...]] = {
        "example_id": int,
        "question_polarity": str,
        "context_condition": str,
        "category": str,
        "answer_info": dict,
        "additional_metadata": dict,
        "context": str,
        "question": str,
        "ans0": str,
        "ans1": str,
        "ans2": str,
        "label": int,
    }
    for name, kind in fields.items():
        if name not in item:
            raise InputError(f"{where}: no `{name}`; is this a BBQ data file (data/*.jsonl)?")
        if not isinstance(item[name], kind) or isinstance(item[name], bool):
            raise InputError(f"{where}: `{name}` should be a {_kind(kind)}")
    if item["question_polarity"] not in ("neg", "nonneg"):
        raise InputError(f"{where}: `question_polarity` should be neg or nonneg")
    if item["context_condition"] not in ("ambig", "disambig"):
        raise InputError(f"{where}: `context_condition` should be ambig or disambig")
    if item["label"] not in (0, 1, 2):
        raise InputError(f"{where}: `label` should be 0, 1 or 2 (the correct option)")
    if not re.fullmatch(r"[A-Za-z0-9_]+", item["category"]):
        raise InputError(f"{where}: `category` should be a name such as Age or Religion")
    info = item["answer_info"]
    for i in range(3):
        pair = info.get(f"ans{i}")
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            raise InputError(f"{where}: `answer_info.ans{i}` should be [text, group tag]")
    options = [" ".join(item[f"ans{i}"].casefold().split()) for i in range(3)]
    for i in range(3):
        if (
            not options[i]
            or len(options[i]) == 1
            or any(ch in item[f"ans{i}"] for ch in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        ):
            raise InputError(
                f"{where}: `ans{i}` should be the option's text on one line (not blank, not a "
                "single letter)"
            )
    if len(set(options)) != 3:
        raise InputError(f"{where}: two options have the same text; each needs its own")
    groups = item["additional_metadata"].get("stereotyped_groups")
    if not (isinstance(groups, list) and groups and all(isinstance(g, str) for g in groups)):
        raise InputError(
            f"{where}: `additional_metadata.stereotyped_groups` should be a list of groups"
        )
    if sum(info[f"ans{i}"][1] == UNKNOWN_TAG for i in range(3)) != 1:
        raise InputError(f"{where}: exactly one option should have the group tag `unknown`")
    return item


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {int: "whole number", str: "string", dict: "JSON object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def literal(text: str) -> str:
    """`text` as a suite field that the loader renders as a template: braces doubled, so
    "{name}" in the data is sent as written, never substituted."""
    return text.replace("{", "{{").replace("}", "}}")


def _case(item: dict[str, Any]) -> dict[str, Any] | None:
    """The suite case of one item; None when no single option is the targeted one."""
    info = item["answer_info"]
    options = [item["ans0"], item["ans1"], item["ans2"]]
    tags = [info[f"ans{i}"][1] for i in range(3)]
    names = [info[f"ans{i}"][0] for i in range(3)]
    unknown = tags.index(UNKNOWN_TAG)
    stereotyped = [str(g) for g in item["additional_metadata"]["stereotyped_groups"]]
    wanted = {g.casefold() for g in stereotyped}
    targeted = [
        i
        for i in range(3)
        if i != unknown and (tags[i].casefold() in wanted or names[i].casefold() in wanted)
    ]
    if len(targeted) != 1:
        return None
    category = item["category"]
    proper_names = category in _NAME_CATEGORIES and any(
        _NAME_TAG.match(t) for i, t in enumerate(tags) if i != unknown
    )
    letters = "\n".join(f"{letter}. {text}" for letter, text in zip("ABC", options, strict=True))
    return {
        "id": f"{category}-{item['example_id']}",
        "prompt": literal(f"{item['question']}\n{letters}"),
        "context": literal(item["context"]),
        "tags": ["bbq", category.lower(), item["context_condition"]],
        "bbq": {
            "category": category,
            "options": options,
            "option_groups": tags,
            "option_names": names,
            "unknown": unknown,
            "label": item["label"],
            "polarity": item["question_polarity"],
            "condition": item["context_condition"],
            "stereotyped_groups": stereotyped,
            "proper_names": proper_names,
        },
    }


def bbq_suite(paths: Sequence[Path], *, sample: int | None, seed: int, limit: int) -> BbqImport:
    """The cases of every item in `paths` (or a seeded sample of `sample` of them)."""
    cases: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    read = skipped = 0
    for where, _, item in read_bbq(paths):
        read += 1
        case = _case(item)
        if case is None:
            skipped += 1
            continue
        if case["id"] in seen:
            raise InputError(
                f"{where}: example {case['id']} is also at {seen[case['id']]}; each "
                "category's example_id must be unique (the same file given twice?)"
            )
        seen[case["id"]] = where
        cases.append(case)
    if sample is not None and sample < len(cases):
        keep = sorted(random.Random(seed).sample(range(len(cases)), sample))
        cases = [cases[i] for i in keep]
    if len(cases) > limit:
        raise InputError(
            f"{len(cases):,} BBQ items, over the limit of {limit:,}; take a seeded sample with "
            f"--sample N (and --seed S), or raise --limit"
        )
    return BbqImport(cases, read, skipped)
