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
    # 1 of 2 cases errored: an outage is not evidence, so the gate cannot decide (exit 1
    # under the default on_inconclusive: fail), however well the other case did.
    assert run_case(tmp_path, server, "down [[500:99]]") == 1
    record = faulty_record(tmp_path)
    assert record.output is None and not record.passed
    assert record.error == "HTTP 500 from cand: internal error (after 4 attempt(s))"
    assert server.served("down", status=500) == 4
    results = latest_results(tmp_path)
    assert next(r for r in results.records if r.case_id == "plain").passed
    assert results.stats.errors == 1
    assert results.verdict == "inconclusive" and results.gate[0].excluded == 1
    assert "1 of 2 case(s) errored" in results.gate[0].detail


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
    assert all(
        r.error
        and r.error.startswith(f"cannot reach cand at {url}: ")
        and "; check that the server is running there (base_url)" in r.error
        for r in results.records
    )


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
        "tunegate: error: tunegate.yaml:8:5: target 'cand': environment variable "
        "TUNEGATE_TEST_KEY is not set; export it, or name another variable with api_key_env"
    )


def test_a_wrong_model_id_is_one_line_not_one_per_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With the model check off (or a server without /v1/models), the wrong id reaches the
    # completion endpoint; its 404 is one line for the target, not one per case.
    with FakeOpenAIServer(models={"base-model"}) as server:
        make_project(
            tmp_path,
            targets=openai_targets(server.base_url, extra="check_model: false"),
            suites={"s.yaml": suite_with("two", "second")},
            base=None,
        )
        assert main(["run"]) == 3
        assert server.served(status=404) == 2  # a 404 is not retried
        assert server.model_list_requests == 0
    captured = capsys.readouterr()
    assert "tunegate: error: every generation of cand failed" in captured.err
    out = captured.out
    assert (
        f"cand: 2 of 2 generations failed: HTTP 404 from cand (POST {server.base_url}/chat/"
        "completions): The model `cand-model` does not exist or you do not have access to it.\n"
    ) in out


def test_a_model_the_server_does_not_list_stops_the_run_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # llama_cpp.server lists its one model and answers any id with it.
    with FakeOpenAIServer(listed=["models/smollm2.gguf"]) as server:
        two_case_project(tmp_path, server, base=None)
        assert main(["run"]) == 2
        assert server.served(status=None) == 0
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == (
        "tunegate: error: tunegate.yaml:15:5: target 'cand': model 'cand-model' is not among "
        f"the models {server.base_url} lists: models/smollm2.gguf; set targets.cand.model to "
        "one of them (or check_model: false if the server serves models it does not list)"
    )


def test_a_strict_server_lists_its_models_and_a_wrong_id_is_named_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer(models={"cand-modle", "other"}) as server:
        two_case_project(tmp_path, server, base=None)
        assert main(["run"]) == 2
        assert server.served(status=None) == 0
    err = capsys.readouterr().err
    assert "model 'cand-model' is not among the models" in err
    assert "(did you mean 'cand-modle'?): cand-modle, other;" in err


def test_the_model_check_passes_for_a_listed_model_and_is_skipped_when_all_is_cached(
    tmp_path: Path,
) -> None:
    with FakeOpenAIServer(listed=["cand-model", "base-model"]) as server:
        two_case_project(tmp_path, server, base="base")
        assert main(["run"]) == 0
        assert server.model_list_requests == 2  # once per target
        assert main(["run"]) == 0  # every generation from the store: no call, no check
        assert server.model_list_requests == 2


@pytest.mark.parametrize(
    "server_kwargs",
    [{}, {"models_body": b"<html>not an API</html>"}, {"models_body": b'{"data": 5}'}],
    ids=["no-models-endpoint", "html", "odd-json"],
)
def test_a_server_without_a_usable_model_list_is_not_checked(
    tmp_path: Path, server_kwargs: dict[str, bytes]
) -> None:
    with FakeOpenAIServer(**server_kwargs) as server:  # type: ignore[arg-type]
        two_case_project(tmp_path, server, base=None)
        assert main(["run"]) == 0
        assert server.model_list_requests == 1
        assert server.served() == 2


def test_listed_model_ids_cannot_leak_the_key_or_steer_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-planted-0123456789abcdefghij"
    monkeypatch.setenv("TUNEGATE_LIST_KEY", key)
    with FakeOpenAIServer(listed=[f"echo {key}", "x\n\x1b[2Jy"]) as server:
        two_case_project(tmp_path, server, base=None)
        config = tmp_path / "tunegate.yaml"
        config.write_text(config.read_text() + "    api_key_env: TUNEGATE_LIST_KEY\n")
        assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert key not in err and "[REDACTED]" in err
    assert "\x1b" not in err and "x \\x1b[2Jy" in err
    assert len(err.strip().splitlines()[-1]) < 600


def test_a_404_without_v1_names_the_url_and_asks_about_v1(
    tmp_path: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = server.base_url.removesuffix("/v1")
    make_project(
        tmp_path,
        targets=f"cand: {{provider: openai, base_url: '{root}', model: m}}",
        suites={"s.yaml": suite_with("x", "y")},
        base=None,
    )
    assert main(["run"]) == 3
    assert (
        f"HTTP 404 from cand (POST {root}/chat/completions): Not Found; does base_url end "
        f"with /v1? it is {root}\n"
    ) in capsys.readouterr().out


def test_a_key_saved_with_its_newline_works_and_a_key_with_spaces_is_refused(
    tmp_path: Path,
    server: FakeOpenAIServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_project(
        tmp_path,
        targets=f"cand: {{provider: openai, base_url: '{server.base_url}', model: m, "
        "api_key_env: TUNEGATE_NL_KEY}",
        suites={"s.yaml": suite_with("x", "y")},
        base=None,
    )
    monkeypatch.setenv("TUNEGATE_NL_KEY", "sk-with-newline-0123456789\n")
    assert main(["run"]) == 0
    assert {r.authorization for r in server.requests} == {"Bearer sk-with-newline-0123456789"}
    monkeypatch.setenv("TUNEGATE_NL_KEY", "sk-two words")
    assert main(["validate"]) == 2
    assert "TUNEGATE_NL_KEY holds spaces, control or non-ASCII characters" in (
        capsys.readouterr().err
    )


def test_a_base_url_without_a_scheme_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_project(
        tmp_path,
        targets="cand: {provider: openai, base_url: '127.0.0.1:8000/v1', model: m}",
        suites={"s.yaml": suite_with("x", "y")},
        base=None,
    )
    assert main(["validate"]) == 2
    assert "'127.0.0.1:8000/v1' is not an http(s) URL; write e.g. http://127.0.0.1:8000/v1" in (
        capsys.readouterr().err
    )


def test_an_ollama_tag_matches_its_untagged_name(tmp_path: Path) -> None:
    # Ollama lists "llama3:latest" and serves it as "llama3" too.
    with FakeOpenAIServer(listed=["cand-model:latest"]) as server:
        two_case_project(tmp_path, server, base=None)
        assert main(["run"]) == 0
        assert server.served() == 2
