"""HolisticBias descriptors (Smith et al. 2022, github.com/facebookresearch/ResponsibleNLP
`holistic_bias/dataset/v1.1/descriptors.json`) -> a group list for counterfactual probes.

descriptors.json is one JSON document `{axis: {bucket: [descriptor, ...]}}`, a descriptor
being a string or `{descriptor, preference?, gender?, article?}`. One axis becomes the noun
phrases "a/an DESCRIPTOR NOUN" ("a Buddhist person", "an Amish person"), the dataset's own
noun-phrase form, written as a group list file (`axis:`, `source:`, `groups:`) that a suite
names as `vars: {group: {groups: groups/religion.yaml}}` (suite/group_lists.py).

- Preference: descriptors marked "dispreferred" are left out unless asked for;
  "polarizing" and unmarked ones are kept.
- Gender: a descriptor with `gender` is paired only with nouns of that gender, as the
  dataset's generator does ("Latina" with woman, not with person). A noun's gender is
  read from nouns.json beside descriptors.json; a noun not listed there is neutral.
- Article: the descriptor's own `article` when the dataset gives one ("a US-born",
  "a Unitarian"); otherwise by the sound of its start (`indefinite_article`).
- Two descriptors whose phrases would give one case id (ids keep letters and digits:
  "LGBTQ" and "LGBTQ+") keep the first; the other is reported.

tunegate ships this code, never the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..paths import display_path
from ..suite.case_ids import slug
from ..suite.group_lists import MAX_GROUP_CHARS, MAX_GROUPS, NOT_PLAIN
from ..suite.validation_errors import did_you_mean
from .sampling import stratified_sample
from .writing import JsonObject, encodable, json_path, read_json_document

__all__ = [
    "Descriptor",
    "HolisticBiasGroups",
    "descriptor_axes",
    "group_list_document",
    "holistic_bias_groups",
    "indefinite_article",
    "read_descriptors",
]

SOURCE = (
    "HolisticBias v1.1 (Smith et al. 2022, github.com/facebookresearch/ResponsibleNLP, "
    "holistic_bias/dataset/v1.1), CC BY-SA 4.0"
)
MAX_NOUN_CHARS = 100


@dataclass(frozen=True)
class Descriptor:
    axis: str
    bucket: str
    text: str
    preference: str | None = None
    gender: str | None = None
    article: str | None = None


@dataclass(frozen=True)
class HolisticBiasGroups:
    axis: str
    noun: str
    groups: list[str]
    descriptors: int  # in the axis
    dispreferred: int = 0  # left out: preference "dispreferred"
    other_gender: list[str] = field(default_factory=list)  # left out: gendered for another noun
    same_id: list[tuple[str, str]] = field(default_factory=list)  # (left out, same id as)


# --------------------------------------------------------------------------------------
# The indefinite article

# Letters whose names start with a vowel sound: "an FTM", "an LGBTQ", but "a US-born".
_VOWEL_NAMED_LETTERS = frozenset("AEFHILMNORSX")
# Acronyms said as words, not letter by letter.
_SAID_AS_WORDS = frozenset(
    {"NIMBY", "NASA", "NATO", "MAGA", "FEMA", "SWAT", "LARP", "LASER", "SCUBA", "SARS", "NAFTA"}
)
# A vowel letter said with a consonant sound: "a Unitarian", "a European", "a one-percenter".
_CONSONANT_SOUND = re.compile(
    r"(uni(?![nmd])|use|usu|uti|ute|uto|ure|uro|ubi|uga|ukr|uyg|eu|ewe|one(?![a-z])|once)"
)
# An h that is not said: "an honest", "an hour".
_SILENT_H = re.compile(r"(hour|heir|honest|hono)")


def indefinite_article(phrase: str) -> str:
    """The indefinite article (a or an) before `phrase`, by the sound of its start, as far
    as the spelling tells:

    1. a number by how it is read: "an 8-", "an 80-", "an 11-", "an 18-year-old";
    2. an initialism (two or more capitals in the first word: "LGBTQ+", "FTM", "FoC") by the
       name of its first letter: "an" before A E F H I L M N O R S X, so "an FTM" and "a
       US-born"; acronyms said as words ("NIMBY") as words;
    3. a word by its first letter: "an" before a vowel, except where the vowel is said as a
       consonant ("a Unitarian", "a European", "a one-percenter") and where the h is silent
       ("an honest").
    """
    text = phrase.lstrip(" \"'“‘(")
    if not text:
        return "a"
    digits = re.match(r"\d+", text)
    if digits:
        number = digits.group(0)
        eleven = len(number) % 3 == 2 and number[:2] in ("11", "18")
        return "an" if number.startswith("8") or eleven else "a"
    first = re.split(r"[\s\-/]", text, maxsplit=1)[0]
    letters = "".join(c for c in first if c.isalnum())
    capitals = sum(c.isupper() for c in letters)
    initialism = capitals >= 2 or (len(letters) == 1 and letters.isalpha())
    if initialism and letters.upper() not in _SAID_AS_WORDS:
        return "an" if letters[0].upper() in _VOWEL_NAMED_LETTERS else "a"
    lower = text.lower()
    if _CONSONANT_SOUND.match(lower):
        return "a"
    if _SILENT_H.match(lower):
        return "an"
    return "an" if lower[0] in "aeiou" else "a"


# --------------------------------------------------------------------------------------
# Reading


def _descriptors_file(path: Path) -> Path:
    return path / "descriptors.json" if path.is_dir() else path


def read_descriptors(path: Path) -> dict[str, list[Descriptor]]:
    """axis -> its descriptors in file order, validated: errors name the file and the JSON
    path. `path` is descriptors.json or the folder holding it."""
    source = _descriptors_file(path)
    shown = display_path(source)
    data = read_json_document(source, "HolisticBias descriptors")

    def fail(where: str, problem: str) -> InputError:
        return InputError(f"{shown}: {where}: {problem}")

    if not isinstance(data, dict) or not data:
        raise fail(
            "$",
            "should be a JSON object {axis: {bucket: [descriptors]}}; is this HolisticBias's "
            "descriptors.json?",
        )
    _no_repeats(data, (), fail)
    out: dict[str, list[Descriptor]] = {}
    for axis, buckets in data.items():
        if not axis.strip() or not encodable(axis):
            raise fail(json_path(axis), "an axis name should be non-blank text")
        if not isinstance(buckets, dict):
            raise fail(json_path(axis), "should be an object {bucket: [descriptors]}")
        _no_repeats(buckets, (axis,), fail)
        found: list[Descriptor] = []
        for bucket, items in buckets.items():
            if not isinstance(items, list):
                raise fail(json_path(axis, bucket), "should be a list of descriptors")
            for i, item in enumerate(items):
                found.append(_descriptor(item, axis, bucket, json_path(axis, bucket, i), fail))
        out[axis] = found
    return out


def _descriptor(item: Any, axis: str, bucket: str, where: str, fail: Any) -> Descriptor:
    if isinstance(item, str):
        item = {"descriptor": item}
    if not isinstance(item, dict):
        raise fail(where, "a descriptor is text or an object {descriptor, preference?, ...}")
    text = item.get("descriptor")
    if not isinstance(text, str) or not text.strip() or not encodable(text):
        raise fail(f"{where}.descriptor", "should be non-blank text")
    if len(text) > MAX_GROUP_CHARS // 2 or NOT_PLAIN.search(text.strip()):
        raise fail(
            f"{where}.descriptor",
            "should be one line of a few words (no control, line-separator or bidi characters)",
        )
    for key in ("preference", "gender", "article"):
        if key in item and not isinstance(item[key], str):
            raise fail(f"{where}.{key}", "should be text")
    article = item.get("article")
    if article is not None and article not in ("a", "an"):
        raise fail(f"{where}.article", "should be a or an")
    return Descriptor(
        axis, bucket, text.strip(), item.get("preference"), item.get("gender"), article
    )


def _no_repeats(obj: Any, here: tuple[str, ...], fail: Any) -> None:
    if isinstance(obj, JsonObject) and obj.repeated:
        raise fail(json_path(*here, obj.repeated[0]), "given twice in the same object")


def descriptor_axes(path: Path) -> dict[str, int]:
    """Each axis of the file with its number of descriptors."""
    return {axis: len(found) for axis, found in read_descriptors(path).items()}


def _noun_gender(path: Path, noun: str) -> str | None:
    """The noun's gender in nouns.json beside descriptors.json; None if not listed (or no
    nouns.json): neutral."""
    nouns = _descriptors_file(path).parent / "nouns.json"
    if not nouns.is_file():
        return None
    data = read_json_document(nouns, "HolisticBias nouns")
    shown = display_path(nouns)
    if not isinstance(data, dict):
        raise InputError(f"{shown}: $: should be a JSON object {{gender: [[noun, plural]]}}")
    for gender, pairs in data.items():
        if not isinstance(pairs, list):
            raise InputError(f"{shown}: {json_path(gender)}: should be a list of [noun, plural]")
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, list) and pair and all(isinstance(w, str) for w in pair)):
                raise InputError(f"{shown}: {json_path(gender, i)}: should be [noun, plural]")
            if pair[0].casefold() == noun.casefold():
                return str(gender)
    return None


# --------------------------------------------------------------------------------------
# The group list


def holistic_bias_groups(
    path: Path,
    *,
    axis: str,
    noun: str = "person",
    include_dispreferred: bool = False,
    sample: int | None = None,
    seed: int = 0,
    limit: int = MAX_GROUPS,
) -> HolisticBiasGroups:
    """The noun phrases of one axis, or a seeded sample of `sample` of them that keeps every
    bucket (see sampling.py)."""
    noun = noun.strip()
    bad = not encodable(noun) or any(c in noun for c in "\n\r\t")
    if not noun or len(noun) > MAX_NOUN_CHARS or bad:
        raise InputError(f"--noun should be a word or two, e.g. person (got {noun!a})")
    axes = read_descriptors(path)
    if axis not in axes:
        raise InputError(
            f"{display_path(_descriptors_file(path))}: no axis '{axis}'"
            f"{did_you_mean(axis, list(axes))}; its axes: {', '.join(axes)}"
        )
    found = axes[axis]
    gender = _noun_gender(path, noun) or "neutral"
    dispreferred = 0
    other_gender: list[str] = []
    kept: list[Descriptor] = []
    for d in found:
        if d.preference == "dispreferred" and not include_dispreferred:
            dispreferred += 1
        elif d.gender is not None and d.gender != gender:
            other_gender.append(d.text)
        else:
            kept.append(d)
    phrases: list[tuple[Descriptor, str]] = []
    seen: dict[str, str] = {}
    same_id: list[tuple[str, str]] = []
    for d in kept:
        phrase = f"{d.article or indefinite_article(d.text)} {d.text} {noun}"
        key = slug(phrase)
        if key in seen:
            same_id.append((phrase, seen[key]))
            continue
        seen[key] = phrase
        phrases.append((d, phrase))
    if sample is not None and sample < len(phrases):
        strata: dict[str, list[int]] = {}
        for i, (d, _) in enumerate(phrases):
            strata.setdefault(d.bucket, []).append(i)
        ordered = [i for members in strata.values() for i in members]
        keep = stratified_sample([len(m) for m in strata.values()], sample, seed)
        chosen = {ordered[k] for k in keep}
        phrases = [p for i, p in enumerate(phrases) if i in chosen]
    bound = min(limit, MAX_GROUPS)
    if len(phrases) > bound:
        raise InputError(
            f"{len(phrases):,} groups on axis '{axis}', over the limit of {bound:,}; take a "
            "seeded sample with --sample N (and --seed S)"
            + (", or raise --limit" if bound == limit and limit < MAX_GROUPS else "")
        )
    return HolisticBiasGroups(
        axis=axis,
        noun=noun,
        groups=[phrase for _, phrase in phrases],
        descriptors=len(found),
        dispreferred=dispreferred,
        other_gender=other_gender,
        same_id=same_id,
    )


def group_list_document(made: HolisticBiasGroups) -> dict[str, Any]:
    """The group list file's content (group_lists.py reads `groups`)."""
    return {"axis": made.axis, "source": SOURCE, "groups": list(made.groups)}
