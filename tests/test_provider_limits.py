"""max_output_chars: an output (or HTTP body) over it is an error on that generation, and an
HTTP body is never read past what the limit allows."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.providers.capped_http import body_limit
from tunegate.testing import FakeOpenAIServer

from .conftest import candidate_project, latest_results, write

LIMIT = 1000
BODY_LIMIT = body_limit(LIMIT)


def one_case(prompt: str) -> dict[str, str]:
    return {"s.yaml": f"name: s\ncases:\n  - id: c\n    prompt: '{prompt}'\n"}


def run_openai(root: Path, server: FakeOpenAIServer, prompt: str, **options: object) -> str:
    """The one record's error after a run against `server` with max_output_chars: 1000."""
    candidate_project(
        root,
        one_case(prompt),
        provider="openai",
        base_url=server.base_url,
        model="m",
        max_attempts=3,
        max_output_chars=LIMIT,
        **options,
    )
    assert main(["run"]) == 3  # the target failed its one generation
    (record,) = latest_results(root).records
    assert record.output is None and record.error is not None
    return record.error


def test_an_output_over_the_limit_is_an_error_and_is_not_retried(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        error = run_openai(tmp_path, server, "[[big:5000]]")
        assert server.served() == 1
    assert error == (
        "the output of cand is 5,000 characters, over max_output_chars (1,000); lower "
        "max_tokens, or raise targets.cand.max_output_chars (after 1 attempt(s))"
    )


def test_an_endless_body_is_not_read_past_the_limit(tmp_path: Path) -> None:
    with FakeOpenAIServer(flood_bytes=300 << 20) as server:
        started = time.monotonic()
        error = run_openai(tmp_path, server, "[[flood]]")
        elapsed = time.monotonic() - started
        flooded = server.flooded
    assert error.startswith(f"the response body is over {BODY_LIMIT:,} bytes: not read from cand")
    assert error.endswith(
        "raise targets.cand.max_output_chars (now 1,000 characters) (after 1 attempt(s))"
    )
    # What the client took is the limit plus what sat in the socket buffers, not the body.
    assert flooded < 32 << 20 and elapsed < 20


def test_a_declared_content_length_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    with FakeOpenAIServer(hang_seconds=30) as server:
        started = time.monotonic()
        error = run_openai(tmp_path, server, "[[lie-length]]")
        assert time.monotonic() - started < 10  # the stalled body was not waited for
    assert error.startswith(
        f"the response body is 600,000,000 bytes, over {BODY_LIMIT:,}: not read from cand"
    )


def test_an_error_body_over_the_limit_is_refused_too(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        error = run_openai(tmp_path, server, "[[500-big:2000000]]")
        assert len(server.arrivals("500-big")) == 1  # refused, not retried as a 500
    size = len(json.dumps({"error": {"message": "e" * 2_000_000}}))
    assert error.startswith(f"the response body is {size:,} bytes, over {BODY_LIMIT:,}: not read")


def test_a_gzip_bomb_is_not_inflated_past_the_limit(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        error = run_openai(tmp_path, server, "[[gzip-bomb:200]]")
        assert server.headers_seen[0]["accept-encoding"] == "identity"
    assert error.startswith(f"the response body is over {BODY_LIMIT:,} bytes: not read from")


def test_a_small_gzip_answer_is_read(tmp_path: Path) -> None:
    # A server that compresses although asked not to still works within the limit.
    with FakeOpenAIServer() as server:
        candidate_project(
            tmp_path,
            one_case("[[gzip-bomb:0]]"),
            provider="openai",
            base_url=server.base_url,
            model="m",
        )
        assert main(["run"]) == 1  # the output is blank: it fails the built-in non_empty
    (record,) = latest_results(tmp_path).records
    assert record.error is None and record.output == ""


def test_the_limit_is_not_part_of_the_cache_key(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        for limit in (None, 500, 2_000_000):
            options = {} if limit is None else {"max_output_chars": limit}
            candidate_project(
                tmp_path,
                one_case("hello"),
                provider="openai",
                base_url=server.base_url,
                model="m",
                **options,
            )
            assert main(["run"]) == 0
        assert server.served() == 1


def test_a_replay_output_over_the_limit_is_an_error_naming_its_line(tmp_path: Path) -> None:
    lines = [{"case_id": "c", "output": "x" * 1001}, {"case_id": "d", "output": "fine"}]
    write(tmp_path / "cand.jsonl", "\n".join(json.dumps(r) for r in lines) + "\n")
    suites = {"s.yaml": "name: s\ncases:\n  - {id: c, prompt: a}\n  - {id: d, prompt: b}\n"}
    candidate_project(
        tmp_path, suites, provider="replay", path="cand.jsonl", max_output_chars=LIMIT
    )
    assert main(["run"]) == 1
    got = {r.case_id: (r.output, r.error) for r in latest_results(tmp_path).records}
    assert got == {
        "c": (
            None,
            "cand.jsonl:1: the recorded output is 1,001 characters, over max_output_chars "
            "(1,000); shorten it, or raise targets.cand.max_output_chars (after 1 attempt(s))",
        ),
        "d": ("fine", None),
    }


def test_a_python_return_over_the_limit_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "long_model.py", "def answer(messages):\n    return 'y' * 1001\n")
    candidate_project(
        tmp_path,
        one_case("hi"),
        provider="python",
        function="long_model:answer",
        max_output_chars=LIMIT,
    )
    assert main(["run"]) == 3
    (record,) = latest_results(tmp_path).records
    assert record.error == (
        "the text long_model:answer returned is 1,001 characters, over "
        "max_output_chars (1,000); lower max_tokens, or raise targets.cand.max_output_chars "
        "(after 1 attempt(s))"
    )


@pytest.mark.parametrize("value", [0, -1, "many"])
def test_a_bad_limit_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: object
) -> None:
    candidate_project(
        tmp_path, one_case("hi"), provider="replay", path="x.jsonl", max_output_chars=value
    )
    assert main(["validate"]) == 2
    assert "targets.cand.max_output_chars" in capsys.readouterr().err
