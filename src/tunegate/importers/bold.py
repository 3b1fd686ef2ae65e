"""BOLD prompt files (Dhamala et al. 2021, github.com/amazon-research/bold `prompts/*.json`)
-> open-ended generation cases, one per prompt.

A file is one JSON document `{group: {entity: [prompt, ...]}}` for one domain (gender,
race, profession, religious_ideology, political_ideology); the domain comes from the file
name (`gender_prompt.json` -> gender) unless given. Each prompt becomes a case
`{domain}-{group}-{n}` (the group slugged to id characters, n counting the group's prompts
from 1 in file order, so an id names the same prompt whatever the sample) with the prompt
as written (braces doubled: the loader renders prompts as templates), tags
`[bold, {domain}]` and `vars: [{group: ..., entity: ...}]`: one expansion, so the case's
group is known to the bias audit, whose id reads `gender-american_actors-1[american_actors/
jacob_zachar]`. Blank prompts (the public files have five) are skipped and counted.

BOLD's groups are not counterfactual pairs: every prompt belongs to one group, so the
audit compares the groups' means over their own outputs (the unpaired design of
stats/disparity.py). tunegate ships this code, never the data.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..paths import display_path
from .bbq import literal
from .sampling import stratified_sample
from .writing import JsonObject, encodable, json_path, read_json_document

__all__ = ["BoldImport", "BoldPrompt", "bold_domain", "bold_suite", "read_bold"]

MAX_NAME_CHARS = 1_000  # a group or entity name; the public ones are under 100


@dataclass(frozen=True)
class BoldPrompt:
    domain: str
    group: str
    entity: str
    prompt: str
    number: int  # 1-based, among the group's prompts in file order


@dataclass(frozen=True)
class BoldImport:
    cases: list[dict[str, Any]]
    # domain -> group -> cases kept, in file order
    kept: dict[str, dict[str, int]] = field(default_factory=dict)
    read: int = 0  # prompts in the files, blank ones included
    skipped: int = 0  # blank prompts


def bold_domain(path: Path) -> str:
    """The domain a BOLD file is named for: `race_prompt.json` -> race."""
    return _identifier(path.stem.removesuffix("_prompt").removesuffix("_prompts"))


def _identifier(text: str) -> str:
    """`text` as a tag (tags become pytest markers): ASCII letters, digits and _."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_") or "domain"
    return name if not name[0].isdigit() else f"d_{name}"


def _id_part(text: str) -> str:
    """`text` as part of a case id (ID_PATTERN): ASCII letters, digits, _ and -."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-_") or "group"


def read_bold(path: Path, domain: str) -> list[BoldPrompt]:
    """Every prompt of one BOLD file, validated: errors name the file and the JSON path."""
    shown = display_path(path)
    data = read_json_document(path, "BOLD prompt")

    def fail(where: str, problem: str) -> InputError:
        return InputError(f"{shown}: {where}: {problem}")

    if not isinstance(data, dict):
        raise fail(
            "$",
            f"should be a JSON object {{group: {{entity: [prompts]}}}}, not {_kind(data)}; is "
            "this a BOLD prompts/*.json file?",
        )
    _no_repeats(data, (), fail)
    prompts: list[BoldPrompt] = []
    for group, entities in data.items():
        _check_name(group, json_path(group), "group", fail)
        if not isinstance(entities, dict):
            raise fail(
                json_path(group),
                f"should be an object {{entity: [prompts]}}, not {_kind(entities)}",
            )
        _no_repeats(entities, (group,), fail)
        number = 0
        for entity, texts in entities.items():
            _check_name(entity, json_path(group, entity), "entity", fail)
            if not isinstance(texts, list):
                raise fail(
                    json_path(group, entity), f"should be a list of prompts, not {_kind(texts)}"
                )
            for i, text in enumerate(texts):
                if not isinstance(text, str):
                    raise fail(
                        json_path(group, entity, i), f"a prompt should be text, not {_kind(text)}"
                    )
                if not encodable(text):
                    raise fail(json_path(group, entity, i), _SURROGATE)
                number += 1
                prompts.append(BoldPrompt(domain, group, entity, text, number))
    return prompts


def _no_repeats(obj: Any, here: tuple[str, ...], fail: Any) -> None:
    if isinstance(obj, JsonObject) and obj.repeated:
        key = obj.repeated[0]
        raise fail(
            json_path(*here, key),
            "given twice in the same object (JSON keeps only the last, losing prompts)",
        )


_SURROGATE = "holds a lone surrogate (a \\ud800-\\udfff escape), which is not text"


def _check_name(name: str, where: str, what: str, fail: Any) -> None:
    if not encodable(name):
        raise fail(where, f"the {what} name {_SURROGATE}")
    if not name.strip():
        raise fail(where, f"the {what} name is blank")
    if len(name) > MAX_NAME_CHARS:
        raise fail(where, f"the {what} name is over {MAX_NAME_CHARS:,} characters")


def _kind(value: Any) -> str:
    """What a JSON value is, in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


def bold_suite(
    paths: Sequence[Path],
    *,
    sample: int | None,
    seed: int,
    limit: int,
    domain: str | None = None,
) -> BoldImport:
    """The cases of every prompt in `paths`, or a seeded sample of `sample` of them that
    keeps every group (see sampling.py). `domain` names the domain of a single file."""
    if domain is not None and len(paths) != 1:
        raise InputError("--domain-name names the domain of one file; give one file at a time")
    everything: list[BoldPrompt] = []
    where: dict[str, Path] = {}
    for path in paths:
        name = _identifier(domain) if domain is not None else bold_domain(path)
        if name in where:
            raise InputError(
                f"{display_path(path)}: domain '{name}' again (also {display_path(where[name])}); "
                "give each domain's file once, or name one with --domain-name"
            )
        where[name] = path
        everything += read_bold(path, name)
    read = len(everything)
    usable = [p for p in everything if p.prompt.strip()]
    skipped = read - len(usable)
    if sample is not None and sample < len(usable):
        strata: dict[tuple[str, str], list[int]] = {}  # (domain, group) -> positions
        for i, p in enumerate(usable):
            strata.setdefault((p.domain, p.group), []).append(i)
        ordered = [i for members in strata.values() for i in members]
        keep = stratified_sample([len(m) for m in strata.values()], sample, seed)
        chosen = {ordered[k] for k in keep}
        usable = [p for i, p in enumerate(usable) if i in chosen]
    if len(usable) > limit:
        raise InputError(
            f"{len(usable):,} BOLD prompts, over the limit of {limit:,}; take a seeded sample "
            "with --sample N (and --seed S), or raise --limit"
        )
    slugs = _group_slugs(everything)
    cases = []
    kept: dict[str, dict[str, int]] = {}
    for p in usable:
        cases.append(
            {
                "id": f"{p.domain}-{slugs[(p.domain, p.group)]}-{p.number}",
                "prompt": literal(p.prompt),
                "tags": list(dict.fromkeys(["bold", p.domain])),
                "vars": [{"group": p.group, "entity": p.entity}],
            }
        )
        by_group = kept.setdefault(p.domain, {})
        by_group[p.group] = by_group.get(p.group, 0) + 1
    return BoldImport(cases, kept, read, skipped)


def _group_slugs(prompts: Sequence[BoldPrompt]) -> dict[tuple[str, str], str]:
    """Each (domain, group) its id part, unique within the domain: two groups that differ
    only in case or punctuation get -2, -3, ... in file order."""
    slugs: dict[tuple[str, str], str] = {}
    taken: set[tuple[str, str]] = set()
    for p in prompts:
        key = (p.domain, p.group)
        if key in slugs:
            continue
        base = _id_part(p.group)
        name, k = base, 1
        while (p.domain, name) in taken:
            k += 1
            name = f"{base}-{k}"
        taken.add((p.domain, name))
        slugs[key] = name
    return slugs
