"""The replay and python providers, through the whole run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegate.cli import main

from .conftest import candidate_project, latest_results, write

SUITE = """
name: recorded
defaults:
  repeats: 2
gate: {min_pass_rate: 0.5}
cases:
  - id: capital
    prompt: Capital of France?
    reference: Paris
    checks:
      - metric: contains
  - id: missing-in-replay
    prompt: Anything?
"""


def replay_lines(*records: dict[str, object]) -> str:
    return "\n".join(json.dumps(r) for r in records) + "\n"


def test_replay_serves_recorded_outputs_and_flags_missing_cases(tmp_path: Path) -> None:
    write(
        tmp_path / "recorded" / "cand.jsonl",
        replay_lines(
            {"case_id": "capital", "output": "Paris."},
            {"case_id": "capital", "output": "Lyon.", "sample": 1},
        ),
    )
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="replay", path="recorded/cand.jsonl")
    # The case missing from the file errored: half the cases give no evidence, so the gate
    # cannot decide (exit 1), whatever the other case's share.
    assert main(["run"]) == 1
    results = latest_results(tmp_path)
    got = {(r.case_id, r.sample): r for r in results.records}
    assert got[("capital", 0)].output == "Paris." and got[("capital", 0)].passed
    assert got[("capital", 1)].output == "Lyon." and not got[("capital", 1)].passed
    missing = got[("missing-in-replay", 0)]
    assert missing.output is None
    assert missing.error == (
        "cand.jsonl has no recorded output for case 'missing-in-replay' sample 0 "
        "(after 1 attempt(s))"
    )
    assert results.gate[0].value == pytest.approx(0.5)  # capital: 1 of its 2 samples
    assert results.gate[0].status == "inconclusive" and results.gate[0].excluded == 1
    assert results.gate_passed is False


def test_replay_file_errors_name_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "cand.jsonl", '{"case_id": "a", "output": "x"}\n{"case_id": "b"}\n')
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="replay", path="cand.jsonl")
    assert main(["run"]) == 2
    assert capsys.readouterr().err.strip() == (
        'tunegate: error: cand.jsonl:2: each line needs "case_id" and "output", e.g. '
        '{"case_id": "refund-window", "output": "45 days", "sample": 0}'
    )


def test_python_callable_target(tmp_path: Path) -> None:
    write(
        tmp_path / "my_model.py",
        """
        def answer(messages, params):
            question = messages[-1]["content"]
            if "France" in question:
                return "Paris, at seed " + str(params["seed"])
            raise RuntimeError("no idea")
        """,
    )
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="python", function="my_model:answer")
    main(["run"])
    results = latest_results(tmp_path)
    got = {(r.case_id, r.sample): r for r in results.records}
    assert got[("capital", 0)].output == "Paris, at seed 0"
    assert got[("capital", 1)].output == "Paris, at seed 1"  # each sample its own seed
    assert got[("missing-in-replay", 0)].error == (
        "my_model:answer raised RuntimeError: no idea (after 1 attempt(s))"
    )


def test_python_target_that_cannot_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate_project(
        tmp_path, {"s.yaml": SUITE}, provider="python", function="not_a_module:answer"
    )
    assert main(["run"]) == 2
    assert "tunegate.yaml:6:5: target 'cand': cannot import module 'not_a_module'" in (
        capsys.readouterr().err
    )


def replay_error(tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]) -> str:
    """`tunegate validate` on a project whose candidate replays `content`: its one error."""
    (tmp_path / "cand.jsonl").write_bytes(content)
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="replay", path="cand.jsonl")
    assert main(["validate"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err.removeprefix("tunegate: error: ")


GOOD = b'{"case_id": "capital", "output": "Paris."}\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            GOOD + b'{"case_id": "missing-in-replay", "output": "caf\xe9"}\n',
            "cand.jsonl:2:48: not UTF-8 (byte 0xE9); save the replay file as UTF-8",
        ),
        (
            b'[{"case_id": "capital", "output": "Paris."}]\n',
            "cand.jsonl:1: the line is an array, not a JSON object; write one object a line",
        ),
        (
            b'{"case_id": "capital", "output": null}\n',
            'cand.jsonl:1: "output" must be text, not null; leave out a case that has no '
            "recorded output",
        ),
        (
            GOOD + b'{"case_id": "capital", "output": "x", "sample": 100000000000000000000}\n',
            'cand.jsonl:2: "sample" 100000000000000000000 is beyond any suite\'s repeats',
        ),
        (
            b'{"case_id": "capital", "output": "x", "sample": ' + b"9" * 5000 + b"}\n",
            "cand.jsonl:1: a number too long or nesting too deep to read (ValueError)",
        ),
        (
            b'{"case_id": "capital", "output": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
            "cand.jsonl:1: a number too long or nesting too deep to read (RecursionError)",
        ),
        (
            b'{"case_id": "capital", "output": "x", "sample": true}\n',
            'cand.jsonl:1: "sample" must be a whole number >= 0, or left out',
        ),
        (
            b'{"case_id": {"id": 1}, "output": "x"}\n',
            'cand.jsonl:1: "case_id" must be the id of a case in a suite, not an object',
        ),
        (
            b'[\n  {"case_id": "capital", "output": "Paris."}\n]\n',
            "cand.jsonl:1: not valid JSON (Expecting value); the file looks like one JSON "
            "document: write one object a line (JSONL)",
        ),
        (b"\n\n  \n", "cand.jsonl: the replay file holds no outputs; write one JSON object"),
        (
            GOOD + b'{"case-id": "capital", "output": "x"}\n',
            "cand.jsonl:2: unknown key \"case-id\" (did you mean 'case_id'?); a line holds only "
            '"case_id", "output", "sample", "suite"',
        ),
        (
            b'{"case_id": "capital", "output": "x", "score": 1}\n',
            'cand.jsonl:1: unknown key "score"; a line holds only "case_id", "output", '
            '"sample", "suite"',
        ),
    ],
    ids=[
        "not-utf8",
        "array-line",
        "null-output",
        "huge-sample",
        "5000-digit-sample",
        "deep-nesting",
        "boolean-sample",
        "object-case-id",
        "pretty-printed-json",
        "empty",
        "misspelt-key",
        "unknown-key",
    ],
)
def test_hostile_replay_files_are_one_line_naming_the_line_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    assert message in replay_error(tmp_path, content, capsys)


def test_a_replay_line_with_a_suite_serves_that_suite_only(tmp_path: Path) -> None:
    write(
        tmp_path / "cand.jsonl",
        replay_lines(
            {"case_id": "capital", "output": "Paris.", "suite": "one"},
            {"case_id": "capital", "output": "Lyon.", "suite": "two"},
            {"case_id": "missing-in-replay", "output": "any suite"},
        ),
    )
    one = SUITE.replace("name: recorded", "name: one").replace("repeats: 2", "repeats: 1")
    # Other prompts: the store keys a generation by its prompt, not by its case id.
    two = one.replace("name: one", "name: two").replace("France?", "France, again?")
    two = two.replace("Anything?", "Anything else?")
    candidate_project(
        tmp_path,
        {"one.yaml": one, "two.yaml": two},
        provider="replay",
        path="cand.jsonl",
    )
    main(["run"])
    got = {(r.suite, r.case_id): r.output for r in latest_results(tmp_path).records}
    assert got == {
        ("one", "capital"): "Paris.",
        ("two", "capital"): "Lyon.",
        ("one", "missing-in-replay"): "any suite",
        ("two", "missing-in-replay"): "any suite",
    }


def test_replay_files_with_bom_crlf_and_unicode_line_separators_work(tmp_path: Path) -> None:
    # U+2028 and U+0085 are allowed raw inside JSON strings; only "\n" ends a line.
    records = [
        {"case_id": "capital", "output": "Paris\u2028is the capital\u0085."},
        {"case_id": "capital", "output": "Paris.", "sample": 1},
    ]
    text = "\r\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\r\n"
    (tmp_path / "cand.jsonl").write_bytes("\ufeff".encode() + text.encode())
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="replay", path="cand.jsonl")
    main(["run"])
    got = {(r.case_id, r.sample): r.output for r in latest_results(tmp_path).records}
    assert got[("capital", 0)] == "Paris\u2028is the capital\u0085."
    assert got[("capital", 1)] == "Paris."


def test_a_missing_replay_file_names_the_config_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="replay", path="gone.jsonl")
    assert main(["validate"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunegate: error: tunegate.yaml:6:5: target 'cand': replay file gone.jsonl not found; "
        "fix path (relative to the config file), or create the file"
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "def answer(messages:\n    return 'x'\n",
            "tunegate.yaml:6:5: target 'cand': my_model.py:1: '(' was never closed; "
            "fix the syntax of module 'my_model'",
        ),
        (
            "raise RuntimeError('needs a GPU')\n",
            "tunegate.yaml:6:5: target 'cand': importing module 'my_model' raised "
            "RuntimeError: needs a GPU; fix the module",
        ),
        (
            "def answr(messages):\n    return 'x'\n",
            "tunegate.yaml:6:5: target 'cand': module 'my_model' has no function 'answer' "
            "(did you mean 'answr'?); fix function, or define it",
        ),
    ],
    ids=["syntax-error", "raises-on-import", "misspelt-function"],
)
def test_a_python_target_whose_module_is_broken_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, message: str
) -> None:
    module = f"my_model_{abs(hash(source))}"  # a fresh module: imports are cached
    write(tmp_path / f"{module}.py", source)
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="python", function=f"{module}:answer")
    assert main(["validate"]) == 2
    assert capsys.readouterr().err.strip() == "tunegate: error: " + message.replace(
        "my_model", module
    )


def test_a_python_function_that_is_not_module_colon_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate_project(tmp_path, {"s.yaml": SUITE}, provider="python", function="answer")
    assert main(["validate"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunegate: error: tunegate.yaml:6:15: targets.cand.function: write module:function, "
        "e.g. my_model:answer for answer() in my_model.py beside the config (got 'answer')"
    )
