"""Which eval cases (exactly or nearly) appear in the training data.

A case whose question was trained on measures memory, not knowledge: it inflates the gate.
Three signals, each with the training line that matched:

- **exact**: the normalised prompt equals a normalised training prompt;
- **n-gram**: they share a word n-gram (13 by default, as lm-eval's decontamination); a
  prompt shorter than n matches when it appears whole, as a phrase, in the other;
- **near**: the Jaccard similarity of their word 3-gram shingles, estimated with MinHash
  (128 permutations, then checked exactly), is at least a threshold (0.5 by default).

Normalisation: casefold, punctuation to spaces, whitespace collapsed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..suite import Case

__all__ = ["Contamination", "TrainingLine", "find_contamination", "read_training_file"]

_WORD = re.compile(r"\w+", re.UNICODE)
_PRIME = (1 << 61) - 1


@dataclass(frozen=True)
class TrainingLine:
    line: int  # 1-based, in the training file
    text: str  # the prompt part (what an eval case would repeat)


@dataclass(frozen=True)
class Match:
    kind: str  # exact, ngram, near
    line: TrainingLine
    similarity: float
    shared: str = ""  # the shared n-gram, for ngram matches


@dataclass
class Contamination:
    suite: str
    case_id: str
    prompt: str
    matches: list[Match] = field(default_factory=list)

    @property
    def worst(self) -> Match | None:
        order = {"exact": 0, "ngram": 1, "near": 2}
        return min(self.matches, key=lambda m: (order[m.kind], -m.similarity), default=None)


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _prompt_of_messages(messages: Sequence[object], where: str) -> str:
    users = [
        m.get("content")
        for m in messages
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)
    ]
    if not users:
        raise InputError(f"{where}: no user message in 'messages'")
    return str(users[-1])


def read_training_file(path: Path) -> list[TrainingLine]:
    """Chat JSONL (`messages`), plain JSONL (`prompt`, `question`, `input` or `text`), or CSV
    with one of those columns. Each line's user prompt is what an eval case could repeat."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such training file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror})") from None
    if path.suffix.lower() == ".csv":
        return _read_csv(path, raw)
    lines: list[TrainingLine] = []
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{where}: not valid JSON ({exc}); one JSON object a line") from None
        if not isinstance(record, dict):
            raise InputError(f"{where}: each line must be a JSON object")
        prompt: str | None
        if isinstance(record.get("messages"), list):
            prompt = _prompt_of_messages(record["messages"], where)
        else:
            prompt = next(
                (
                    str(record[k])
                    for k in ("prompt", "question", "input", "text")
                    if isinstance(record.get(k), str)
                ),
                None,
            )
            if prompt is None:
                raise InputError(
                    f"{where}: no 'messages' list and no 'prompt', 'question', 'input' or "
                    "'text' field"
                )
        lines.append(TrainingLine(number, prompt))
    return lines


def _read_csv(path: Path, raw: str) -> list[TrainingLine]:
    reader = csv.DictReader(io.StringIO(raw))
    columns = reader.fieldnames or []
    column = next((c for c in ("prompt", "question", "input", "text") if c in columns), None)
    if column is None:
        raise InputError(
            f"{path}:1: no 'prompt', 'question', 'input' or 'text' column "
            f"(columns: {', '.join(columns) or 'none'})"
        )
    return [
        TrainingLine(reader.line_num, row[column] or "")
        for row in reader
        if (row.get(column) or "").strip()
    ]


def _shingles(tokens: Sequence[str], size: int = 3) -> set[str]:
    if len(tokens) < size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def _hashes(shingles: Iterable[str]) -> np.ndarray:
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big") % _PRIME
            for s in shingles
        ],
        dtype=np.uint64,
    )


class _MinHash:
    def __init__(self, permutations: int = 128, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, _PRIME, size=permutations, dtype=np.uint64)
        self.b = rng.integers(0, _PRIME, size=permutations, dtype=np.uint64)

    def signature(self, shingles: set[str]) -> np.ndarray:
        if not shingles:
            return np.full(self.a.size, _PRIME, dtype=np.uint64)
        h = _hashes(shingles).astype(object)
        # Python ints: (a*h + b) mod p without uint64 overflow.
        values = [(int(a) * h + int(b)) % _PRIME for a, b in zip(self.a, self.b, strict=True)]
        return np.array([min(v) for v in values], dtype=np.uint64)


def find_contamination(
    cases: Sequence[Case],
    training: Sequence[TrainingLine],
    *,
    ngram: int = 13,
    near: float = 0.5,
) -> list[Contamination]:
    """Every case with at least one match, in suite order."""
    minhash = _MinHash()
    train_words = [words(t.text) for t in training]
    train_norm = [" ".join(w) for w in train_words]
    train_shingles = [_shingles(w) for w in train_words]
    train_sigs = np.array([minhash.signature(s) for s in train_shingles]) if training else None
    by_gram: dict[str, list[int]] = {}
    for i, tokens in enumerate(train_words):
        if len(tokens) >= ngram:
            for gram in _grams(tokens, ngram):
                by_gram.setdefault(gram, []).append(i)
    exact_index = {norm: i for i, norm in enumerate(train_norm) if norm}
    found: list[Contamination] = []
    for case in cases:
        tokens = words(case.prompt)
        norm = " ".join(tokens)
        report = Contamination(case.suite, case.id, case.prompt)
        if norm and norm in exact_index:
            report.matches.append(Match("exact", training[exact_index[norm]], 1.0))
        else:
            for gram in _grams(tokens, ngram):
                hit = by_gram.get(gram)
                if hit:
                    report.matches.append(Match("ngram", training[hit[0]], 1.0, gram))
                    break
        if not report.matches and norm:
            # Short texts: one held whole inside the other is the short form of a shared n-gram.
            padded = f" {norm} "
            for i, other in enumerate(train_norm):
                if not other:
                    continue
                inner, outer = (norm, f" {other} ") if len(tokens) < ngram else ("", "")
                short_train = len(train_words[i]) < ngram and f" {other} " in padded
                if (inner and f" {inner} " in outer) or short_train:
                    shared = norm if inner else other
                    report.matches.append(Match("ngram", training[i], 1.0, shared))
                    break
        shingles = _shingles(tokens)
        if train_sigs is not None and shingles and not report.matches:
            estimate = (train_sigs == minhash.signature(shingles)).mean(axis=1)
            for i in np.argsort(-estimate)[:5]:
                if estimate[i] < near * 0.7:
                    break
                other = train_shingles[i]
                jaccard = len(shingles & other) / len(shingles | other)
                if jaccard >= near:
                    report.matches.append(Match("near", training[i], round(jaccard, 3)))
        if report.matches:
            found.append(report)
    return found


def _grams(tokens: Sequence[str], n: int) -> list[str]:
    return [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
