"""The contamination check: planted leaks are caught, with the training line that matched;
the demo's own data comes out clean."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from tunegate import load_suites
from tunegate.errors import InputError
from tunegate.training import contamination, find_contamination, read_training_file

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
  - {id: short-inside, prompt: "Do you ship orders to Germany"}
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
    "Ok so tell me: do you ship orders to Germany or not?",
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
    # The whole run of words the two share, not just its first 13.
    assert long_shared.shared == (
        "i bought a tent last week from your store downtown and it leaks along the seams "
        "when it rains"
    )
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


# Reading every shape of training data --------------------------------------------------

LEAK = "How many days do I have to return an item?"


def exact_ids(suite, train: Path) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.case_id for c in find_contamination(suite.cases, read_training_file(train))]


@pytest.mark.parametrize(
    "record",
    [
        {"instruction": LEAK, "input": "", "output": "45 days."},  # Alpaca, empty input
        {"instruction": "Answer the customer.", "input": LEAK, "output": "45 days."},
        {"prompt": "", "text": LEAK},  # an empty field hides nothing
        {"messages": [{"role": "user", "content": [{"type": "text", "text": LEAK}]}]},
        {"conversations": [{"from": "human", "value": LEAK}, {"from": "gpt", "value": "45"}]},
    ],
)
def test_every_known_text_field_is_read(tmp_path: Path, suite, record: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    assert exact_ids(suite, write(tmp_path / "t.jsonl", json.dumps(record) + "\n")) == [
        "exact-copy"
    ]


def test_every_user_turn_counts_on_its_own(tmp_path: Path, suite) -> None:  # type: ignore[no-untyped-def]
    turns = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": LEAK},
        {"role": "assistant", "content": "45 days."},
        {"role": "user", "content": "And for sale items?"},
        {"role": "assistant", "content": "The same."},
    ]
    train = write(tmp_path / "t.jsonl", json.dumps({"messages": turns}) + "\n")
    assert [t.text for t in read_training_file(train)] == [LEAK, "And for sale items?"]
    assert exact_ids(suite, train) == ["exact-copy"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("empty.jsonl", ""),
        ("blank.jsonl", "\n  \n"),
        ("fields.jsonl", '{"prompt": "", "text": "  "}\n'),
        ("header.csv", "prompt,answer\n"),
        ("empty.csv", ""),
    ],
)
def test_a_training_file_without_an_example_is_an_error(
    tmp_path: Path, name: str, text: str
) -> None:
    with pytest.raises(InputError, match=rf"{name}: no training example with text"):
        read_training_file(write(tmp_path / name, text))


def test_lines_split_on_newlines_only_and_bad_bytes_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"prompt": "one\u2028two"}\n{"prompt": "three"}\n', encoding="utf-8")
    assert [(t.line, t.text) for t in read_training_file(path)] == [
        (1, "one\u2028two"),
        (2, "three"),
    ]
    path.write_bytes(b'{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": "\xff"}\n')
    with pytest.raises(InputError, match=r"t.jsonl:3: not UTF-8 text"):
        read_training_file(path)
    path.write_text("[" * 100_000 + "\n")
    with pytest.raises(InputError, match=r"t.jsonl:1: not valid JSON"):
        read_training_file(path)
    path.write_text('{"prompt": "half an emoji \\ud83d here"}\n')
    assert find_contamination([], read_training_file(path)) == []


def test_non_regular_training_files_are_refused_unread(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"is a folder"):
        read_training_file(tmp_path)
    with pytest.raises(InputError, match=r"/dev/null: not a regular file"):
        read_training_file(Path("/dev/null"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            read_training_file(fifo)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # blocked waiting for a writer: release it, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO blocked")
    assert errors and "fifo: not a regular file" in str(errors[0])


def test_long_lines_and_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    field = "word " * 40_000  # 200,000 characters: over csv's default field limit
    table = write(tmp_path / "t.csv", f'prompt\n"{field}"\n')
    assert len(read_training_file(table)[0].text) == len(field)
    monkeypatch.setattr(contamination, "MAX_LINE_BYTES", 1000)
    path = write(tmp_path / "t.jsonl", '{"prompt": "ok"}\n' + json.dumps({"prompt": field}))
    with pytest.raises(InputError, match=r"t.jsonl:2: the line is over"):
        read_training_file(path)


def test_a_long_training_text_is_streamed_and_kept_short(tmp_path: Path, suite) -> None:  # type: ignore[no-untyped-def]
    book = " ".join(f"w{i}" for i in range(200_000)) + " " + TRAIN[1]
    train = write(tmp_path / "t.jsonl", json.dumps({"text": book}) + "\n")
    found = find_contamination(suite.cases, contamination.iter_training_file(train))
    assert [c.case_id for c in found] == ["long-shared"]
    assert len(found[0].matches[0].line.text) <= 1000


# The minimum length ----------------------------------------------------------------------


SHORT = """
name: short
cases:
  - {id: hello, prompt: "Hello"}
  - {id: tents, prompt: "Tents?"}
  - {id: thanks, prompt: "Thanks in advance! What is the warranty on the Ridgeline tent?"}
  - {id: three, prompt: "Where is it"}
"""


def test_short_texts_only_match_exactly(tmp_path: Path) -> None:
    cases = load_suites([write(tmp_path / "short.yaml", SHORT)])[0].cases
    lines = [
        "Hello there, I need some help with my order",
        "Do you sell tents for winter camping trips",
        "thanks",
        "Where is it now",
    ]
    train = write(tmp_path / "t.jsonl", "".join(json.dumps({"prompt": t}) + "\n" for t in lines))
    assert find_contamination(cases, read_training_file(train)) == []
    with train.open("a") as out:
        out.write(json.dumps({"prompt": "tents"}) + "\n")
        out.write(json.dumps({"prompt": "what is the warranty on the Ridgeline tent"}) + "\n")
    found = {c.case_id: c.worst for c in find_contamination(cases, read_training_file(train))}
    assert set(found) == {"tents", "thanks"}
    assert found["tents"] is not None and found["tents"].kind == "exact"
    thanks = found["thanks"]
    assert thanks is not None and thanks.kind == "ngram" and thanks.line.line == 6
    assert thanks.shared == "what is the warranty on the ridgeline tent"


@pytest.mark.parametrize(
    ("ngram", "near", "message"),
    [
        (0, 0.5, r"--ngram 0: "),
        (-3, 0.5, r"--ngram -3: "),
        (5, 0.5, r"--ngram 5: "),
        (13, 0.0, r"--near 0.0: "),
        (13, -1.0, r"--near -1.0: "),
        (13, float("nan"), r"--near nan: "),
        (13, 1.5, r"--near 1.5: "),
    ],
)
def test_settings_out_of_range_are_refused(ngram: int, near: float, message: str) -> None:
    with pytest.raises(InputError, match=message):
        find_contamination([], [], ngram=ngram, near=near)
