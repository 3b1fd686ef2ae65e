"""Which eval cases (exactly or nearly) appear in the training data.

A case whose question was trained on measures memory, not knowledge: it inflates the gate.
Three signals, each with the training line that matched:

- **exact**: the normalised prompt equals a normalised training text, at any length;
- **n-gram**: they share a run of n words (13 by default, as lm-eval's decontamination), or
  one appears whole, as a phrase, in the other;
- **near**: the Jaccard similarity of their word 3-gram shingles, estimated with MinHash
  (128 permutations, then checked exactly), is at least a threshold (0.5 by default).

A text under `MIN_WORDS` (6) words counts only as an exact copy: "Hello", "Tents?" or
"thanks" turn up inside any support transcript by chance, not because a case leaked.

Normalisation: casefold, punctuation to spaces, whitespace collapsed. The training file is
streamed: the cases are indexed once, and each training text is checked against them and
dropped, so the file's size costs time, not memory.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import re
import stat
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError
from ..paths import display_path, staged_file
from ..safe_text import clean_text
from ..suite import Case

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader

__all__ = [
    "MIN_WORDS",
    "SHOWN_CHARS",
    "Contamination",
    "Match",
    "TrainingLine",
    "check_output",
    "check_settings",
    "find_contamination",
    "iter_training_file",
    "read_training_file",
    "write_contamination",
]

MIN_WORDS = 6
# One training example a line: a longer line is a file that is not JSONL (or one example
# that no fine-tune would take), and reading it whole could exhaust memory.
MAX_LINE_BYTES = 32 * 1024 * 1024
TEXT_FIELDS = ("prompt", "question", "instruction", "input", "text")
USER_ROLES = ("user", "human")
KEPT_CHARS = 1000  # of a matched training text, kept on the match
SHOWN_CHARS = 200  # of a training text, shown on the console

_WORD = re.compile(r"\w+", re.UNICODE)
_PRIME = (1 << 31) - 1  # a, h < 2**31 keep a*h + b below 2**63: exact in uint64
_CHUNK = 4096  # shingles hashed per numpy step: 128 x 4096 x 8 bytes = 4 MiB
_FIELDS_SHOWN = ", ".join(f"'{k}'" for k in TEXT_FIELDS)


@dataclass(frozen=True)
class TrainingLine:
    line: int  # 1-based, in the training file
    text: str  # one text of that line an eval case could repeat (a user turn, a field)


@dataclass(frozen=True)
class Match:
    kind: str  # exact, ngram, near
    line: TrainingLine  # its text cut to KEPT_CHARS
    similarity: float
    shared: str = ""  # for ngram matches, the normalised words the two have in common


@dataclass
class Contamination:
    suite: str
    case_id: str
    prompt: str
    matches: list[Match] = field(default_factory=list)  # at most one of each kind

    @property
    def worst(self) -> Match | None:
        order = {"exact": 0, "ngram": 1, "near": 2}
        return min(self.matches, key=lambda m: (order[m.kind], -m.similarity), default=None)


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def check_settings(ngram: int, near: float) -> None:
    if isinstance(ngram, bool) or not isinstance(ngram, int) or ngram < MIN_WORDS:
        raise InputError(
            f"--ngram {ngram}: give a whole number of words, at least {MIN_WORDS} (13 by "
            "default, as lm-eval); shorter runs are everyday phrases two questions share"
        )
    if not 0 < near <= 1:  # written this way round, it refuses NaN too
        raise InputError(
            f"--near {near}: give a Jaccard similarity above 0 and at most 1 (0.5 by default)"
        )


# Reading the training file ---------------------------------------------------------------


def read_training_file(path: Path) -> list[TrainingLine]:
    return list(iter_training_file(path))


def iter_training_file(path: Path) -> Iterator[TrainingLine]:
    """Each text an eval case could repeat, in file order. Chat JSONL (`messages` or
    ShareGPT `conversations`): every user turn, each on its own. Other JSONL, or CSV: each
    non-empty field (column) of `TEXT_FIELDS`, each on its own."""
    shown = display_path(path)
    seen = False
    with _open_regular(path) as fh:
        texts = _csv_texts(fh, shown) if path.suffix.lower() == ".csv" else _jsonl_texts(fh, shown)
        for line in texts:
            seen = True
            yield line
    if not seen:
        raise InputError(
            f"{shown}: no training example with text in it; give the file the model is "
            f"trained on (chat JSONL with user turns, or JSONL or CSV with {_FIELDS_SHOWN})"
        )


def _open_regular(path: Path) -> BinaryIO:
    """Open `path` only if it is a regular file: a device (/dev/zero) never ends, and a
    FIFO blocks until someone writes."""
    shown = display_path(path)
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    try:
        # Non-blocking, so opening a FIFO returns at once and fstat can refuse it.
        fd = os.open(path, os.O_RDONLY | nonblocking)
    except FileNotFoundError:
        raise InputError(f"{shown}: no such training file; check the --train path") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        reason = getattr(exc, "strerror", None) or exc
        raise InputError(f"{shown}: cannot read it ({reason}); check --train") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{shown}: is a folder; give the training file itself (--train)")
        if not stat.S_ISREG(mode):
            raise InputError(
                f"{shown}: not a regular file (a device, pipe or socket); save the training "
                "data to a file and give that"
            )
        if nonblocking:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _lines(fh: BinaryIO, shown: str) -> Iterator[tuple[int, str]]:
    """Each line, split on "\\n" only (a JSON string may hold U+2028), decoded as UTF-8."""
    number = 0
    while raw := fh.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise InputError(
                f"{shown}:{number}: the line is over {MAX_LINE_BYTES // 2**20} MiB; "
                "put one example on each line"
            )
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{shown}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start + 1}); "
                "save the file as UTF-8"
            ) from None
        yield number, text


def _jsonl_texts(fh: BinaryIO, shown: str) -> Iterator[TrainingLine]:
    for number, text in _lines(fh, shown):
        if not text.strip():
            continue
        where = f"{shown}:{number}"
        try:
            record = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise InputError(f"{where}: not valid JSON ({exc}); one JSON object a line") from None
        if not isinstance(record, dict):
            raise InputError(f"{where}: each line must be a JSON object")
        for found in _record_texts(record, where):
            yield TrainingLine(number, clean_text(found))


def _record_texts(record: dict[str, object], where: str) -> list[str]:
    for key in ("messages", "conversations"):
        turns = record.get(key)
        if isinstance(turns, list):
            texts = [_turn_text(t) for t in turns if _is_user(t)]
            texts = [t for t in texts if t.strip()]
            if not texts:
                raise InputError(
                    f"{where}: no user message with text in '{key}'; give each example a "
                    "turn with role 'user' and its text as 'content'"
                )
            return texts
    if not any(k in record for k in TEXT_FIELDS):
        raise InputError(
            f"{where}: no 'messages' list and no {_FIELDS_SHOWN} field; give each line the "
            "prompt an eval case could repeat"
        )
    # Every field, not the first present: Alpaca's `input` is often "" beside `instruction`.
    values = [record.get(k) for k in TEXT_FIELDS]
    return [v for v in values if isinstance(v, str) and v.strip()]


def _is_user(turn: object) -> bool:
    return isinstance(turn, dict) and (turn.get("role") or turn.get("from")) in USER_ROLES


def _turn_text(turn: object) -> str:
    assert isinstance(turn, dict)
    content = turn.get("content", turn.get("value"))
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: [{"type": "text", "text": ...}]
        parts = [p.get("text") if isinstance(p, dict) else p for p in content]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _csv_texts(fh: BinaryIO, shown: str) -> Iterator[TrainingLine]:
    # csv counts the lines it pulls, so reader.line_num is the file's line number.
    reader = csv.reader(text for _, text in _lines(fh, shown))
    # A field may be a whole document: allow what a line may hold (csv's default: 128 KiB).
    previous = csv.field_size_limit(MAX_LINE_BYTES)
    try:
        header = _row(reader, shown)
        if header is None:
            return
        columns = [i for i, name in enumerate(header) if name.strip() in TEXT_FIELDS]
        if not columns:
            raise InputError(
                f"{shown}:1: no {_FIELDS_SHOWN} column "
                f"(columns: {', '.join(header) or 'none'}); name the prompt column so"
            )
        while True:
            start = reader.line_num + 1
            row = _row(reader, shown)
            if row is None:
                return
            for i in columns:
                if i < len(row) and row[i].strip():
                    yield TrainingLine(start, clean_text(row[i]))
    finally:
        csv.field_size_limit(previous)


def _row(reader: _CsvReader, shown: str) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as exc:  # e.g. a field over the limit, or a NUL byte
        raise InputError(
            f"{shown}:{reader.line_num}: not valid CSV ({exc}); check its quotes, and keep "
            f"each field under {MAX_LINE_BYTES // 2**20} MiB"
        ) from None


# Matching ---------------------------------------------------------------------------------


def find_contamination(
    cases: Sequence[Case],
    training: Iterable[TrainingLine],
    *,
    ngram: int = 13,
    near: float = 0.5,
) -> list[Contamination]:
    """Every case with at least one match, in suite order. `training` is read once, in
    order, so a streamed file (`iter_training_file`) is never held whole."""
    check_settings(ngram, near)
    index = _CaseIndex(cases, ngram, near)
    for line in training:
        index.check(line)
    return index.reports()


class _CaseIndex:
    """The cases, indexed for one pass over the training texts.

    Words are numbered by the cases' vocabulary; a training word no case has is -1 and
    can only break a run. Phrase matches grow from shared `MIN_WORDS`-word anchors."""

    def __init__(self, cases: Sequence[Case], ngram: int, near: float) -> None:
        self.cases = cases
        self.ngram, self.near = ngram, near
        self.best: list[dict[str, Match]] = [{} for _ in cases]
        self.vocab: dict[str, int] = {}
        self.tokens = [words(c.prompt) for c in cases]
        self.ids = [[self.vocab.setdefault(w, len(self.vocab)) for w in t] for t in self.tokens]
        self.longest = max(map(len, self.ids), default=0)
        self.exact: dict[tuple[int, ...], list[int]] = {}
        self.anchors: dict[tuple[int, ...], list[tuple[int, int]]] = {}
        for c, ids in enumerate(self.ids):
            if ids:
                self.exact.setdefault(tuple(ids), []).append(c)
            for i in range(len(ids) - MIN_WORDS + 1):
                self.anchors.setdefault(tuple(ids[i : i + MIN_WORDS]), []).append((c, i))
        self.minhash = _MinHash()
        self.near_cases = [c for c, t in enumerate(self.tokens) if len(t) >= MIN_WORDS]
        self.shingles = [_shingles(self.tokens[c]) for c in self.near_cases]
        self.signatures = np.array([self.minhash.signature(s) for s in self.shingles])
        # Jaccard >= near needs |A| <= |B| / near: a text with more shingles matches nothing.
        self.most_shingles = max(map(len, self.shingles), default=0) / near

    def reports(self) -> list[Contamination]:
        found = []
        for case, best in zip(self.cases, self.best, strict=True):
            if best:
                matches = [best[k] for k in ("exact", "ngram", "near") if k in best]
                found.append(Contamination(case.suite, case.id, case.prompt, matches))
        return found

    def check(self, line: TrainingLine) -> None:
        ids, shingles = self._scan(line.text)
        if len(line.text) > KEPT_CHARS:
            line = TrainingLine(line.line, line.text[:KEPT_CHARS])
        if 0 < len(ids) <= self.longest and -1 not in ids:
            for c in self.exact.get(tuple(ids), ()):
                self.best[c].setdefault("exact", Match("exact", line, 1.0))
        self._phrases(line, ids)
        if shingles is not None:
            self._near(line, shingles)

    def _scan(self, text: str) -> tuple[array[int], set[int] | None]:
        """The text's word ids, and its shingles unless it is too short or has too many."""
        ids: array[int] = array("i")
        shingles: set[int] | None = set() if self.shingles else None
        before = ("", "")
        for match in _WORD.finditer(text.casefold()):
            word = match.group()
            ids.append(self.vocab.get(word, -1))
            if shingles is not None and len(ids) >= 3:
                shingles.add(_hash(f"{before[0]} {before[1]} {word}"))
                if len(shingles) > self.most_shingles:
                    shingles = None  # stop hashing: no case can be near it
            before = (before[1], word)
        return ids, shingles if len(ids) >= MIN_WORDS else None

    def _phrases(self, line: TrainingLine, ids: array[int]) -> None:
        size = len(ids)
        for j in range(size - MIN_WORDS + 1):
            hits = self.anchors.get(tuple(ids[j : j + MIN_WORDS]))
            for c, i in hits or ():
                case = self.ids[c]
                if "ngram" in self.best[c] or (i and j and case[i - 1] == ids[j - 1]):
                    continue  # matched already, or inside a run measured from its start
                end = MIN_WORDS
                while i + end < len(case) and j + end < size and case[i + end] == ids[j + end]:
                    end += 1
                whole = (i == 0 and end == len(case)) or (j == 0 and end == size)
                if end >= self.ngram or whole:
                    shared = " ".join(self.tokens[c][i : i + end])
                    self.best[c]["ngram"] = Match("ngram", line, 1.0, shared)

    def _near(self, line: TrainingLine, shingles: set[int]) -> None:
        estimate = (self.signatures == self.minhash.signature(shingles)).mean(axis=1)
        # The estimate only picks candidates (its error is about 0.045 at 0.5): each is
        # then checked exactly.
        for k in np.flatnonzero(estimate >= self.near * 0.7):
            theirs = self.shingles[k]
            common = len(shingles & theirs)
            jaccard = round(common / (len(shingles) + len(theirs) - common), 3)
            best = self.best[self.near_cases[k]]
            if jaccard >= self.near and jaccard > best.get("near", _NO_MATCH).similarity:
                best["near"] = Match("near", line, jaccard)


_NO_MATCH = Match("near", TrainingLine(0, ""), -1.0)


def _hash(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _shingles(tokens: Sequence[str], size: int = 3) -> set[int]:
    return {_hash(" ".join(tokens[i : i + size])) for i in range(len(tokens) - size + 1)}


class _MinHash:
    def __init__(self, permutations: int = 128, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, _PRIME, size=(permutations, 1), dtype=np.uint64)
        self.b = rng.integers(0, _PRIME, size=(permutations, 1), dtype=np.uint64)

    def signature(self, shingles: set[int]) -> NDArray[np.uint64]:
        values = np.fromiter(shingles, dtype=np.uint64, count=len(shingles)) % np.uint64(_PRIME)
        signature = np.full(self.a.shape[0], _PRIME, dtype=np.uint64)
        for start in range(0, values.size, _CHUNK):  # in chunks: a long text stays small
            part = values[start : start + _CHUNK]
            permuted = (self.a * part + self.b) % np.uint64(_PRIME)
            signature = np.minimum(signature, permuted.min(axis=1))
        return signature


# Writing the --write file -----------------------------------------------------------------


def check_output(out: Path, inputs: Iterable[Path]) -> None:
    """Refuse an output that would overwrite an input of the check, or is a folder."""
    shown = display_path(out)
    if out.is_dir():
        raise InputError(
            f"--write {shown}: is a folder; name a file, e.g. "
            f"{display_path(out / 'contamination.json')}"
        )
    for given in inputs:
        if _same_file(out, given):
            raise InputError(
                f"--write {shown}: is {display_path(given)}, which this check reads; name a "
                "new file, e.g. contamination.json"
            )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or os.path.samefile(a, b)  # samefile: hard links
    except (OSError, RuntimeError, ValueError):  # missing, a link loop, a NUL in the name
        return False


def write_contamination(out: Path, train: Path, found: Sequence[Contamination]) -> None:
    """The file tunegate.yaml's `contamination:` names, replaced whole or not at all."""
    payload = {
        "train": str(train),
        "cases": [{"suite": r.suite, "case_id": r.case_id} for r in found],
    }
    try:
        with staged_file(out) as staged, staged.open("x", encoding="utf-8") as fh:
            fh.write(json.dumps(payload, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except (OSError, ValueError) as exc:  # ValueError: a device or a link, a NUL in the name
        reason = getattr(exc, "strerror", None) or exc
        raise InputError(
            f"--write {display_path(out)}: cannot write it ({reason}); name a file in a "
            "folder you can write to"
        ) from None
