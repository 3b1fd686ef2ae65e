"""The contamination check: planted leaks are caught, with the training line that matched;
the demo's own data comes out clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate import load_suites
from tunegate.errors import InputError
from tunegate.training import find_contamination, read_training_file

from .conftest import write

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = "You are the support assistant."

SUITE = """
name: s
cases:
  - {id: exact-copy, prompt: "How many days do I have to return an item?"}
  - id: long-shared
    prompt: >-
      Hi there, quick one: I bought a tent last week from your store downtown
      and it leaks along the seams when it rains, what can I do about that?
  - {id: paraphrase, prompt: "How many days do I get to return an item I bought?"}
  - {id: short-inside, prompt: "Do you ship to Germany"}
  - {id: clean, prompt: "What are your opening hours on Sunday?"}
"""


def chat(question: str) -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question},
                {"role": "assistant", "content": "An answer."},
            ]
        }
    )


TRAIN = [
    "How many days do I have to return an item?",
    "I bought a tent last week from your store downtown and it leaks along the seams when "
    "it rains, so what now?",
    "How many days do I have to return an item I bought?",
    "Ok so tell me: do you ship to Germany or not?",
    "What does express shipping cost?",
]


@pytest.fixture
def suite(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_suites([write(tmp_path / "s.yaml", SUITE)])[0]


def test_planted_leaks_are_caught_with_their_training_line(tmp_path: Path, suite) -> None:  # type: ignore[no-untyped-def]
    train = write(tmp_path / "train.jsonl", "\n".join(chat(q) for q in TRAIN) + "\n")
    found = {c.case_id: c for c in find_contamination(suite.cases, read_training_file(train))}
    assert set(found) == {"exact-copy", "long-shared", "paraphrase", "short-inside"}
    assert found["exact-copy"].worst.kind == "exact"  # type: ignore[union-attr]
    assert found["exact-copy"].worst.line.line == 1  # type: ignore[union-attr]
    long_shared = found["long-shared"].worst
    assert long_shared is not None and long_shared.kind == "ngram" and long_shared.line.line == 2
    assert len(long_shared.shared.split()) == 13
    assert found["short-inside"].worst.kind == "ngram"  # type: ignore[union-attr]
    assert found["short-inside"].worst.line.line == 4  # type: ignore[union-attr]
    near = found["paraphrase"].matches
    assert near and near[0].line.line in (1, 3)


def test_training_files_in_other_shapes(tmp_path: Path, suite) -> None:  # type: ignore[no-untyped-def]
    plain = write(tmp_path / "plain.jsonl", json.dumps({"prompt": TRAIN[0]}) + "\n")
    assert [c.case_id for c in find_contamination(suite.cases, read_training_file(plain))] == [
        "exact-copy"
    ]
    table = write(tmp_path / "train.csv", f'question,answer\n"{TRAIN[0]}",45 days\n')
    assert read_training_file(table)[0].line == 2
    with pytest.raises(InputError, match=r"train.csv:1: no 'prompt', 'question'"):
        read_training_file(write(tmp_path / "train.csv", "a,b\n1,2\n"))
    with pytest.raises(InputError, match=r"bad.jsonl:2: not valid JSON"):
        read_training_file(write(tmp_path / "bad.jsonl", json.dumps({"prompt": "x"}) + "\n{\n"))
    with pytest.raises(InputError, match=r"none.jsonl:1: no 'messages' list"):
        read_training_file(write(tmp_path / "none.jsonl", json.dumps({"answer": "x"}) + "\n"))


def test_the_demo_data_is_clean() -> None:
    data = ROOT / "examples" / "alpenglow" / "data" / "train.jsonl"
    suites = load_suites([ROOT / "suites"])
    cases = [c for s in suites for c in s.cases]
    found = find_contamination(cases, read_training_file(data))
    assert found == [], [(c.suite, c.case_id, c.worst) for c in found]
