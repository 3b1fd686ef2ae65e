"""The openai provider and the runner against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.testing import FakeOpenAIServer

from .conftest import latest_results, make_project, openai_targets

SUITE = """
name: faults
gate: {min_pass_rate: 0.5}
defaults:
  system: Be brief.
  params: {max_tokens: 16, logprobs: true}
cases:
  - id: plain
    prompt: hello
    checks:
      - metric: contains
        args: {text: "echo: hello"}
  - id: {id}
    prompt: "{prompt}"
    checks:
      - metric: contains
        args: {text: "echo:"}
"""


def suite_with(case_id: str, prompt: str) -> str:
    return SUITE.replace("{id}", case_id).replace("{prompt}", prompt)


def two_case_project(tmp_path: Path, server: FakeOpenAIServer, *, base: str | None) -> None:
    make_project(
        tmp_path,
        targets=openai_targets(server.base_url),
        suites={"s.yaml": suite_with("two", "second")},
        base=base,
    )


def run_case(tmp_path: Path, server: FakeOpenAIServer, prompt: str, extra: str = "") -> int:
    suite = suite_with("faulty", prompt)
    make_project(
        tmp_path,
        targets=openai_targets(server.base_url, extra=extra),
        suites={"faults.yaml": suite},
        base=None,
    )
    return main(["run", "--candidate", "cand"])


def faulty_record(tmp_path: Path):  # type: ignore[no-untyped-def]
    results = latest_results(tmp_path)
    return next(r for r in results.records if r.case_id == "faulty")


def test_chat_and_completion_modes_reach_the_server(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    two_case_project(tmp_path, server, base="base")
    assert main(["run"]) == 0
    results = latest_results(tmp_path)
    by_role = {(r.role, r.case_id): r for r in results.records}
    cand = by_role[("candidate", "plain")]
    assert cand.output == "echo: hello"
    assert cand.rendered_prompt is None and cand.passed
    assert cand.logprobs == [("echo:", -0.5), ("hello", -0.5)]
    base = by_role[("base", "plain")]
    # A completion-mode target sees the conversation as plain text.
    assert base.rendered_prompt == "Be brief.\n\nQuestion: hello\nAnswer:"
    assert base.output == "echo: Be brief.\n\nQuestion: hello\nAnswer:"
    paths = {r.path for r in server.requests}
    assert paths == {"/v1/chat/completions", "/v1/completions"}


def test_429_is_retried_after_the_retry_after_delay(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    assert run_case(tmp_path, server, "slow down [[429:2]]") == 0
    record = faulty_record(tmp_path)
    assert record.passed and record.error is None
    arrivals = server.arrivals("slow down")
    assert len(arrivals) == 3
    # Retry-After: 1 means the next try comes no sooner than a second later.
    assert arrivals[1] - arrivals[0] >= 0.95
    assert arrivals[2] - arrivals[1] >= 0.95


def test_500s_are_retried_until_success(tmp_path: Path, server: FakeOpenAIServer) -> None:
    assert run_case(tmp_path, server, "flaky [[500:2]]") == 0
    assert faulty_record(tmp_path).passed
    assert server.served("flaky", status=500) == 2
    assert server.served("flaky", status=200) == 1


def test_timeouts_are_retried(tmp_path: Path, server: FakeOpenAIServer) -> None:
    assert run_case(tmp_path, server, "stall [[hang:1]]", extra="timeout: 1.0") == 0
    assert faulty_record(tmp_path).output == "echo: stall"
    assert len(server.arrivals("stall")) == 2


def test_truncated_json_is_retried(tmp_path: Path, server: FakeOpenAIServer) -> None:
    assert run_case(tmp_path, server, "cut [[truncate:1]]") == 0
    assert faulty_record(tmp_path).output == "echo: cut"
    assert server.served("cut", status=None) == 2


def test_persistent_failure_is_recorded_on_the_case_and_the_run_goes_on(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    # 1 of 2 cases fails: pass rate 50% still meets the gate, so exit code 0.
    assert run_case(tmp_path, server, "down [[500:99]]") == 0
    record = faulty_record(tmp_path)
    assert record.output is None and not record.passed
    assert record.error == "HTTP 500 from cand: internal error (after 4 attempt(s))"
    assert server.served("down", status=500) == 4
    results = latest_results(tmp_path)
    assert next(r for r in results.records if r.case_id == "plain").passed
    assert results.stats.errors == 1


def test_client_errors_are_not_retried(tmp_path: Path, server: FakeOpenAIServer) -> None:
    run_case(tmp_path, server, "who [[401]]")
    assert server.served("who", status=401) == 1
    assert faulty_record(tmp_path).error.startswith("HTTP 401 from cand")  # type: ignore[union-attr]


def test_a_retry_after_beyond_the_limit_is_not_waited_for(tmp_path: Path) -> None:
    with FakeOpenAIServer(retry_after="3600") as server:
        run_case(tmp_path, server, "later [[429:5]]")
        assert server.served("later", status=429) == 1
    assert "server asked to wait 3600s" in faulty_record(tmp_path).error  # type: ignore[operator]


def test_unreachable_server_is_an_error_per_case(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        url = server.base_url
    make_project(
        tmp_path,
        targets=openai_targets(url, max_attempts=2),
        suites={"s.yaml": suite_with("x", "y")},
        base=None,
    )
    assert main(["run"]) == 3  # no verdict on a target that produced nothing
    results = latest_results(tmp_path)
    assert all(r.error and r.error.startswith("cannot reach cand") for r in results.records)


def test_same_target_as_base_and_candidate_calls_once(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    two_case_project(tmp_path, server, base="cand")
    assert main(["run"]) == 0
    assert server.served() == 2
    results = latest_results(tmp_path)
    assert len(results.records) == 4


def test_missing_api_key_without_base_url_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_project(
        tmp_path,
        targets="""
        cand:
          provider: openai
          model: gpt-4o-mini
          api_key_env: TUNEGATE_TEST_KEY
        """,
        suites={"s.yaml": suite_with("x", "y")},
        base=None,
    )
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "tunegate: error: target 'cand': environment variable TUNEGATE_TEST_KEY is not set; "
        "export it, or name another variable with api_key_env"
    )


def test_a_wrong_model_id_is_one_line_not_one_per_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer(models={"base-model"}) as server:
        two_case_project(tmp_path, server, base=None)
        assert main(["run"]) == 3
        assert server.served(status=404) == 2  # a 404 is not retried
    captured = capsys.readouterr()
    assert captured.err.startswith("tunegate: error: every generation of cand failed")
    out = captured.out
    assert (
        "cand: 2 of 2 generations failed: HTTP 404 from cand: The model `cand-model` does not "
        "exist or you do not have access to it.\n"
    ) in out
