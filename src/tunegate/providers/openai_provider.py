"""The OpenAI API and any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, TGI)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..errors import ConfigError, ProviderError
from .base import (
    Generation,
    GenerationRequest,
    ProviderContext,
    ProviderOptions,
    TokenLogprob,
)
from .completion import DEFAULT_COMPLETION_STOP, DEFAULT_COMPLETION_TEMPLATE, to_text
from .retry_after import parse_retry_after

__all__ = ["OpenAIOptions", "OpenAIProvider", "create_openai"]

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIOptions(ProviderOptions):
    model: str = Field(description="Model id, e.g. gpt-4o-mini or a fine-tune id.")
    base_url: str | None = Field(None, description="An OpenAI-compatible endpoint.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Name of the environment variable holding the key."
    )
    mode: Literal["chat", "completion"] = "chat"
    completion_template: str = DEFAULT_COMPLETION_TEMPLATE
    stop: list[str] | None = Field(None, description="Stop strings added to the suite's.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Extra JSON fields, e.g. vLLM sampling options."
    )


class OpenAIProvider:
    default_concurrency: ClassVar[int] = 4

    def __init__(self, target: str, options: OpenAIOptions, api_key: str) -> None:
        from openai import AsyncOpenAI

        self.target = target
        self.options = options
        # Retries are the runner's job (it honours Retry-After and counts attempts).
        self._client = AsyncOpenAI(
            api_key=api_key, base_url=options.base_url, max_retries=0, timeout=None
        )

    def fingerprint(self) -> Mapping[str, Any]:
        data = self.options.model_dump()
        data.pop("api_key_env")
        if self.options.mode == "chat":
            data.pop("completion_template")
        return {"provider": "openai", **data}

    async def generate(self, request: GenerationRequest) -> Generation:
        import openai

        try:
            if self.options.mode == "chat":
                return await self._chat(request)
            return await self._complete(request)
        except openai.APIStatusError as exc:
            status = exc.status_code
            headers = exc.response.headers
            retry_after = parse_retry_after(
                headers.get("retry-after"), headers.get("retry-after-ms")
            )
            raise ProviderError(
                f"HTTP {status} from {self.target}: {_error_message(exc)}",
                retryable=status in RETRYABLE_STATUS or status >= 500,
                retry_after=retry_after,
            ) from None
        except openai.APITimeoutError:
            raise ProviderError(f"{self.target} timed out", retryable=True) from None
        except openai.APIConnectionError as exc:
            raise ProviderError(
                f"cannot reach {self.target} at {self.options.base_url or 'api.openai.com'}: "
                f"{exc.__cause__ or exc}",
                retryable=True,
            ) from None
        except (
            openai.APIResponseValidationError,
            ValueError,
            KeyError,
            IndexError,
            AttributeError,
            TypeError,
        ) as exc:  # a body that does not have the shape of a completion
            raise ProviderError(
                f"malformed response from {self.target}: {exc}", retryable=True
            ) from None

    def _common(self, request: GenerationRequest) -> dict[str, Any]:
        args = {"model": self.options.model, **request.sampling_args(self.options.stop)}
        if "stop" in args:
            args["stop"] = args["stop"][:4]  # the OpenAI API accepts at most four
        if self.options.extra_body:
            args["extra_body"] = dict(self.options.extra_body)
        return args

    async def _chat(self, request: GenerationRequest) -> Generation:
        args = self._common(request)
        if request.params.logprobs:
            args["logprobs"] = True
        response = await self._client.chat.completions.create(
            messages=request.messages,  # type: ignore[arg-type]
            **args,
        )
        choice = response.choices[0]
        logprobs = None
        if choice.logprobs is not None and choice.logprobs.content:
            logprobs = [TokenLogprob(t.token, t.logprob) for t in choice.logprobs.content]
        usage = response.usage
        return Generation(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            logprobs=logprobs,
        )

    async def _complete(self, request: GenerationRequest) -> Generation:
        args = self._common(request)
        if "stop" not in args:
            args["stop"] = DEFAULT_COMPLETION_STOP
        if request.params.logprobs:
            args["logprobs"] = 1
        prompt = to_text(request.messages, self.options.completion_template)
        response = await self._client.completions.create(prompt=prompt, **args)
        choice = response.choices[0]
        logprobs = None
        if choice.logprobs is not None and choice.logprobs.tokens:
            logprobs = [
                TokenLogprob(t, lp)
                for t, lp in zip(
                    choice.logprobs.tokens, choice.logprobs.token_logprobs or [], strict=False
                )
            ]
        usage = response.usage
        return Generation(
            text=choice.text or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            logprobs=logprobs,
            rendered_prompt=prompt,
        )

    async def aclose(self) -> None:
        await self._client.close()


def _error_message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(exc.message)


def create_openai(options: OpenAIOptions, context: ProviderContext) -> OpenAIProvider:
    key = os.environ.get(options.api_key_env)
    if not key:
        if options.base_url is None:
            raise ConfigError(
                f"target '{context.target}': environment variable {options.api_key_env} is not "
                f"set; export it, or name another variable with api_key_env"
            )
        key = "not-needed"  # local OpenAI-compatible servers usually ignore the key
    else:
        context.secrets.add(key)
    return OpenAIProvider(context.target, options, key)


create_openai.options_model = OpenAIOptions  # type: ignore[attr-defined]
