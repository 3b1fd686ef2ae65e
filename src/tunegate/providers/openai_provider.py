"""The OpenAI API and any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, TGI)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, field_validator

from ..errors import ConfigError, ProviderError
from ..redact import MIN_SECRET, Redactor
from ..safe_text import one_line, shorten
from ..suite import did_you_mean
from .base import (
    NOTHING_TO_SCORE,
    REFUSAL,
    Generation,
    GenerationRequest,
    Loglikelihood,
    LoglikelihoodRequest,
    LoglikelihoodUnsupported,
    OutputLimitOptions,
    ProviderContext,
    TokenLogprob,
)
from .capped_http import BodyRefused, body_limit, capped_client
from .completion import DEFAULT_COMPLETION_STOP, DEFAULT_COMPLETION_TEMPLATE, to_text
from .echo_logprobs import ECHO_ARGS, prompt_loglikelihood
from .retry_after import parse_retry_after

__all__ = ["OpenAIOptions", "OpenAIProvider", "create_openai"]

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
# How long to wait for /v1/models when the builder does not pass the target's timeout.
MODELS_TIMEOUT = 10.0
# Model ids shown in an error: a server may list hundreds.
SHOWN_MODELS = 10

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class OpenAIOptions(OutputLimitOptions):
    model: str = Field(min_length=1, description="Model id, e.g. gpt-4o-mini or a fine-tune id.")
    base_url: str | None = Field(
        None, description="An OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1."
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Name of the environment variable holding the key."
    )
    mode: Literal["chat", "completion"] = "chat"
    completion_template: str = DEFAULT_COMPLETION_TEMPLATE
    stop: list[str] | None = Field(None, description="Stop strings added to the suite's.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Extra JSON fields, e.g. vLLM sampling options."
    )
    check_model: bool = Field(
        True,
        description="Before a run, stop if the server's /v1/models does not list `model`; "
        "turn off for a server that serves models it does not list.",
    )

    @field_validator("api_key_env")
    @classmethod
    def _a_variable_name(cls, name: str) -> str:
        # A key pasted here by mistake would be echoed by every message naming the variable.
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
            raise ValueError(
                "api_key_env names the environment variable that holds the key (letters, "
                "digits and _, e.g. OPENAI_API_KEY), never the key itself"
            )
        return name

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"'{value}' is not an http(s) URL; write e.g. http://127.0.0.1:8000/v1"
            )
        return value


class OpenAIProvider:
    default_concurrency: ClassVar[int] = 4

    def __init__(
        self,
        target: str,
        options: OpenAIOptions,
        api_key: str,
        *,
        model_where: str = "",
        key_where: str = "",
        secrets: set[str] | None = None,
        timeout: float | None = None,
        key_set: bool = True,
    ) -> None:
        from openai import AsyncOpenAI

        self.target = target
        self.options = options
        self._model_where = model_where or f"target '{target}'"
        self._key_where = key_where or f"target '{target}'"
        self._models_timeout = timeout or MODELS_TIMEOUT
        self._key_set = key_set  # False: a local server's placeholder is sent
        # What this provider puts in its own messages (a listed model id, a URL) is outside
        # text: keep the key and URL credentials out of it.
        self._redact = Redactor(secrets or ())
        # Retries are the runner's job (it honours Retry-After and counts attempts).
        self._client = AsyncOpenAI(
            api_key=api_key,
            base_url=options.base_url,
            max_retries=0,
            timeout=None,
            http_client=capped_client(body_limit(options.max_output_chars)),
        )

    def fingerprint(self) -> Mapping[str, Any]:
        data = self.options.model_dump()
        data.pop("api_key_env")
        data.pop("check_model")  # a pre-run check, not part of what is generated
        data.pop("max_output_chars")  # a limit on what is accepted, not on what is asked
        if self.options.mode == "chat":
            data.pop("completion_template")
        return {"provider": "openai", **data}

    def openai_endpoint(self) -> tuple[str, str | None, str] | None:
        """(base_url, key, model) for libraries that bring their own OpenAI client (ragas
        as a judge); None in completion mode, which they cannot use."""
        if self.options.mode != "chat":
            return None
        return (str(self._client.base_url), self._client.api_key, self.options.model)

    async def generate(self, request: GenerationRequest) -> Generation:
        if self.options.mode == "chat":
            return await self._guarded(self._chat(request))
        return await self._guarded(self._complete(request))

    def cannot_score(self) -> LoglikelihoodUnsupported | None:
        """Only the completions endpoint echoes a prompt with its log-probabilities."""
        if self.options.mode == "completion":
            return None
        return LoglikelihoodUnsupported(
            self.target,
            "provider openai, mode chat",
            "a chat endpoint gives no log-probabilities for the text it is sent",
        )

    async def loglikelihood(self, request: LoglikelihoodRequest) -> Loglikelihood:
        problem = self.cannot_score()
        if problem is not None:
            raise problem
        return await self._guarded(self._score(request))

    async def _score(self, request: LoglikelihoodRequest) -> Loglikelihood:
        context, continuation = request.split()
        if not continuation:  # a server would answer with a generation, or an error
            raise ProviderError(f"{self.target}: {NOTHING_TO_SCORE}")
        prompt = context + continuation
        args: dict[str, Any] = {"model": self.options.model, "prompt": prompt, **ECHO_ARGS}
        if self.options.extra_body:
            args["extra_body"] = dict(self.options.extra_body)
        # The raw body: the SDK's models would pass NaN, nulls and wrong types through
        # unchecked anyway, and every field is checked here.
        raw = await self._client.completions.with_raw_response.create(**args)
        return prompt_loglikelihood(json.loads(raw.text), prompt, context, self.target)

    async def _guarded(self, call: Awaitable[_T]) -> _T:
        """`await call`, its failures as ProviderErrors that say what to do."""
        import openai

        try:
            return await call
        except openai.APIStatusError as exc:
            status = exc.status_code
            headers = exc.response.headers
            retry_after = parse_retry_after(
                headers.get("retry-after"), headers.get("retry-after-ms")
            )
            raise ProviderError(
                f"HTTP {status} from {self.target}{self._status_context(exc)}: "
                f"{_error_message(exc)}{self._status_hint(status)}",
                retryable=status in RETRYABLE_STATUS or status >= 500,
                retry_after=retry_after,
            ) from None
        except BodyRefused as exc:
            raise self._refused(exc) from None
        except openai.APITimeoutError:
            raise ProviderError(
                f"{self.target} timed out at {self._endpoint}; raise the target's timeout "
                "if the model is slow",
                retryable=True,
            ) from None
        except openai.APIConnectionError as exc:
            if isinstance(exc.__cause__, BodyRefused):  # SDKs that wrap every error
                raise self._refused(exc.__cause__) from None
            raise ProviderError(
                f"cannot reach {self.target} at {self._endpoint}: {exc.__cause__ or exc}; "
                "check that the server is running there (base_url)",
                retryable=True,
            ) from None
        except (
            openai.APIResponseValidationError,
            ValueError,
            KeyError,
            IndexError,
            AttributeError,
            TypeError,
            RecursionError,  # JSON nested past what the parser can follow
        ) as exc:  # a body that does not have the shape of a completion
            raise ProviderError(
                f"malformed response from {self.target}: {exc}", retryable=True
            ) from None

    def _refused(self, exc: BodyRefused) -> ProviderError:
        # Not retried: the same call would answer as much again.
        hint = (
            f"; lower max_tokens, or raise targets.{self.target}.max_output_chars (now "
            f"{self.options.max_output_chars:,} characters)"
            if exc.too_large
            else ""
        )
        return ProviderError(f"{exc}: not read from {self.target} at {self._endpoint}{hint}")

    @property
    def _endpoint(self) -> str:
        return self._redact(self.options.base_url or "https://api.openai.com/v1")

    def _status_context(self, exc: Any) -> str:
        # A 404 or 405 is usually a wrong path: name the URL that was called.
        if exc.status_code not in (404, 405):
            return ""
        request = exc.response.request
        return f" ({request.method} {self._redact(str(request.url))})"

    def _status_hint(self, status: int) -> str:
        base_url = self.options.base_url
        if status in (404, 405) and base_url and not base_url.rstrip("/").endswith("/v1"):
            return f"; does base_url end with /v1? it is {self._redact(base_url)}"
        return ""

    async def warm_up(self) -> None:
        """Stop before the first call when the server lists its models and not ours.

        Servers with one model (llama_cpp.server, llama-server) answer any model id with
        it, so a wrong id would run, and be cached, under a name it does not have."""
        if not self.options.check_model:
            return
        listed = await self._listed_models()
        if not listed or any(_same_model(self.options.model, m) for m in listed):
            return
        # Listed ids are the server's text: no key in them, one line, not too long.
        ids = [one_line(shorten(self._redact(m), 80)) for m in listed]
        shown = ", ".join(ids[:SHOWN_MODELS])
        more = f" and {len(ids) - SHOWN_MODELS} more" if len(ids) > SHOWN_MODELS else ""
        endpoint = self._endpoint
        raise ConfigError(
            f"{self._model_where}: model '{self.options.model}' is not among the models "
            f"{endpoint} lists{did_you_mean(self.options.model, ids)}: {shown}{more}; "
            f"set targets.{self.target}.model to one of them (or check_model: false if the "
            "server serves models it does not list)"
        )

    async def _listed_models(self) -> list[str]:
        """The ids /v1/models lists; none when the server has no such list (404, not JSON,
        unreachable: the run itself will say what is wrong). A refused key stops the run:
        every call would be refused too."""
        import openai

        url = f"{self._endpoint.rstrip('/')}/models"
        try:
            # The client's timeout bounds each read; wait_for bounds the whole (a trickle).
            raw = await asyncio.wait_for(
                self._client.models.with_raw_response.list(timeout=self._models_timeout),
                self._models_timeout,
            )
            data = json.loads(raw.text)["data"]
            return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise self._key_refused(exc, url) from None
            reason: str = f"HTTP {exc.status_code}"
        except (openai.APITimeoutError, asyncio.TimeoutError):
            log.warning(
                "%s: GET %s did not answer within %gs; running without checking the model id",
                self.target,
                url,
                self._models_timeout,
            )
            return []
        except BodyRefused as exc:
            reason = str(exc)
        except (openai.OpenAIError, ValueError, KeyError, TypeError) as exc:
            reason = type(exc).__name__
        log.info(
            "%s: no model list at %s (%s); not checking the model id", self.target, url, reason
        )
        return []

    def _key_refused(self, exc: Any, url: str) -> ConfigError:
        env = self.options.api_key_env
        told = one_line(shorten(self._redact(_error_message(exc)), 160))
        fix = (
            f"set {env} to a key this server accepts"
            if self._key_set
            else f"{env} is not set: export it with this server's key"
        )
        return ConfigError(
            f"{self._key_where}: GET {url} answered HTTP {exc.status_code} ({told}): the "
            f"server refused the API key; {fix} (or check_model: false to skip this check)"
        )

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
        text = choice.message.content
        finish_reason: str | None = choice.finish_reason
        # OpenAI's structured refusal: no content, the refusal in its own field. It is what
        # the model said, so it is the output, marked as a refusal.
        refusal = getattr(choice.message, "refusal", None)
        if not text and isinstance(refusal, str) and refusal:
            text, finish_reason = refusal, REFUSAL
        self.options.check_output(self.target, text or "")
        return Generation(
            text=text or "",
            finish_reason=finish_reason,
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
        self.options.check_output(self.target, choice.text or "")
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
        if isinstance(body.get("detail"), str):  # FastAPI servers (vLLM, llama_cpp.server)
            return str(body["detail"])
    message = str(exc.message)
    if message == f"Error code: {exc.status_code}":  # no body at all: the HTTP reason says more
        return str(exc.response.reason_phrase or message)
    return message


def _same_model(configured: str, listed: str) -> bool:
    # Ollama lists "llama3:latest" and serves it as "llama3" too.
    return configured in (listed, listed.removesuffix(":latest"))


def create_openai(options: OpenAIOptions, context: ProviderContext) -> OpenAIProvider:
    raw = os.environ.get(options.api_key_env, "")
    if raw:
        context.secrets.add(raw)
    key = raw.strip()  # a key saved with its newline is still the key
    if key and not (key.isascii() and key.isprintable() and " " not in key):
        raise ConfigError(
            f"{context.where('api_key_env')}: environment variable {options.api_key_env} holds "
            "spaces, control or non-ASCII characters, which an HTTP header cannot carry; "
            "set it to the key alone"
        )
    if key and len(key) < MIN_SECRET:
        # So short a value would be redacted out of ordinary words, so it cannot be
        # kept out of what tunegate writes: refuse it rather than leak it.
        raise ConfigError(
            f"{context.where('api_key_env')}: the key in environment variable "
            f"{options.api_key_env} is {len(key)} character(s) long, too short to keep out of "
            f"results and reports; use a key of {MIN_SECRET} characters or more (start a "
            "local server with a longer --api-key)"
        )
    key_set = bool(key)
    if not key:
        if options.base_url is None:
            raise ConfigError(
                f"{context.where('api_key_env')}: environment variable {options.api_key_env} "
                "is not set; export it, or name another variable with api_key_env"
            )
        key = "not-needed"  # local OpenAI-compatible servers usually ignore the key
        context.notes.append(
            f"{context.where('api_key_env')}: environment variable {options.api_key_env} is "
            "not set, so requests to base_url carry no key; fine for a local server that "
            "needs none, else export it"
        )
    else:
        context.secrets.add(key)
    return OpenAIProvider(
        context.target,
        options,
        key,
        model_where=context.where("model"),
        key_where=context.where("api_key_env"),
        secrets=context.secrets,
        timeout=context.timeout,
        key_set=key_set,
    )


create_openai.options_model = OpenAIOptions  # type: ignore[attr-defined]
