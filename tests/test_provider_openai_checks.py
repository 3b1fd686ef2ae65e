"""The openai provider's pre-run model check, refusals and Retry-After, against a real server."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import pytest

from tunegate.cli import main
from tunegate.providers import Generation, GenerationRequest, ProviderContext
from tunegate.providers.openai_provider import OpenAIOptions, create_openai
from tunegate.suite import GenerationParams
from tunegate.testing import FakeOpenAIServer

from .conftest import candidate_project, latest_results

ONE_CASE = {"s.yaml": "name: s\ncases:\n  - id: c\n    prompt: hello\n"}


def openai_project(root: Path, server: FakeOpenAIServer, **options: object) -> None:
    candidate_project(
        root, ONE_CASE, provider="openai", base_url=server.base_url, model="m", **options
    )


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_at_v1_models_stops_the_run_naming_the_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    monkeypatch.setenv("TUNEGATE_CHECK_KEY", "sk-wrong-0123456789abcdef")
    with FakeOpenAIServer(models_status=status) as server:
        openai_project(tmp_path, server, api_key_env="TUNEGATE_CHECK_KEY")
        assert main(["run"]) == 2
        assert server.served(status=None) == 0  # no generation was asked for
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == (
        f"tunegate: error: tunegate.yaml:6:5: target 'cand': GET {server.base_url}/models "
        f"answered HTTP {status} (Incorrect API key provided: Bearer [REDACTED]): the server "
        "refused the API key; set TUNEGATE_CHECK_KEY to a key this server accepts (or "
        "check_model: false to skip this check)"
    )


def test_a_refused_missing_key_says_to_export_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAIServer(models_status=401) as server:
        openai_project(tmp_path, server)
        assert main(["run"]) == 2
    assert "OPENAI_API_KEY is not set: export it with this server's key" in (
        capsys.readouterr().err
    )


def _provider(server: FakeOpenAIServer, timeout: float | None):  # type: ignore[no-untyped-def]
    options = OpenAIOptions(model="m", base_url=server.base_url)
    context = ProviderContext(target="cand", config_dir=Path("."), timeout=timeout)
    return create_openai(options, context)


def test_the_model_check_waits_the_targets_timeout_then_warns_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FakeOpenAIServer(listed=["other"], models_delay=5) as server:
        provider = _provider(server, timeout=0.5)

        async def warm_up() -> None:
            try:
                await provider.warm_up()
            finally:
                await provider.aclose()

        started = time.monotonic()
        with caplog.at_level(logging.WARNING):
            asyncio.run(warm_up())  # no ConfigError: the list never came
        assert time.monotonic() - started < 3
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"cand: GET {server.base_url}/models did not answer within 0.5s; running without "
        "checking the model id"
    ]


def test_a_refusal_is_the_output_and_is_marked(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        candidate_project(
            tmp_path,
            {"s.yaml": "name: s\ncases:\n  - id: c\n    prompt: '[[refusal]]'\n"},
            provider="openai",
            base_url=server.base_url,
            model="m",
        )
        assert main(["run"]) == 0
        (record,) = latest_results(tmp_path).records
        assert record.output == "I can't help with that request." and record.error is None
        assert record.refusal

        provider = _provider(server, timeout=None)
        messages = [{"role": "user", "content": "[[refusal]]"}]
        request = GenerationRequest("s", "c", 0, messages, GenerationParams())

        async def generate() -> Generation:
            try:
                return await provider.generate(request)
            finally:
                await provider.aclose()

        generation = asyncio.run(generate())
    assert generation.text == "I can't help with that request."
    assert generation.refused and generation.finish_reason == "refusal"


@pytest.mark.parametrize("retry_after", ["inf", "nan", "-100"])
def test_a_retry_after_that_is_no_delay_is_ignored_for_the_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, retry_after: str
) -> None:
    with FakeOpenAIServer(retry_after=retry_after) as server:
        candidate_project(
            tmp_path,
            {"s.yaml": "name: s\ncases:\n  - id: c\n    prompt: 'busy [[429:2]]'\n"},
            provider="openai",
            base_url=server.base_url,
            model="m",
        )
        with caplog.at_level(logging.INFO, logger="tunegate"):
            assert main(["run"]) == 0
        assert server.served(status=429) == 2
    (record,) = latest_results(tmp_path).records
    assert record.output == "echo: busy" and record.error is None
    delays = [
        float(m.group(1))
        for r in caplog.records
        if (m := re.search(r"; retry \d+ in (\S+)s$", r.getMessage()))
    ]
    # The runner's own backoff (random, up to 0.5s then 1s), not "at once" or "infs".
    assert len(delays) == 2 and 0 < max(delays) <= 1.0
