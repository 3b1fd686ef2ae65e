"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It answers /v1/chat/completions and /v1/completions deterministically and injects
faults on request, by directives in the last user message (or prompt):

    [[429:N]]       the first N requests get 429 with Retry-After
    [[500:N]]       the first N requests get 500
    [[hang:N]]      the first N requests stall for `hang_seconds` (client timeouts)
    [[truncate:N]]  the first N requests get a 200 with a cut-off JSON body
    [[401]]         every request gets 401 quoting the Authorization header, as some APIs do
    [[echo-auth]]   the reply quotes the Authorization header (a leaking model or proxy)
    [[split-logprobs]]  log-probability tokens are 4-character pieces of the reply, so a
                    quoted key is split across tokens
    [[400-echo-auth:N]]  400 whose message is N filler characters, then the Authorization
                    header (a key past any truncation point)
    [[400-ansi]]    400 whose message holds terminal escape sequences and a fake verdict
    [[surrogate]]   the reply holds a lone UTF-16 surrogate (half an emoji), as JSON allows
    [[refusal]]     a chat reply with `content: null` and a `refusal`, as OpenAI sends
    [[big:N]]       the reply is N characters long
    [[500-big:N]]   500 whose error message is N characters long
    [[flood]]       a 200 whose body never ends (no content-length; up to `flood_bytes`)
    [[lie-length]]  a 200 declaring a 600 MB content-length, then stalling
    [[gzip-bomb:N]] a 200 gzip-compressed although not asked for, inflating to N MB

A /v1/completions request with `echo` and `logprobs` is answered as vLLM and llama.cpp's
servers answer it: the prompt, then `max_tokens` generated tokens, with a log-probability
for each. The prompt is split into tokens at whitespace (each token carries the spaces
before it, see `echo_tokens`) and its i-th token gets `token_logprob(token, i)` (by default
`scripted_logprob`); the first echoed entry's is null, as from the real servers. The model
adds a BOS, counted in `usage.prompt_tokens`; `echo_bos=True` echoes it too (vLLM), the
default leaves it out (llama.cpp's server). Faults for echoed log-probabilities:

    [[lp-null]]       `logprobs: null`
    [[lp-missing]]    no `token_logprobs` key
    [[lp-short]]      one log-probability fewer than tokens
    [[lp-none:N]]     prompt token N's log-probability is null
    [[lp-nan:N]]      ... is NaN (JSON's NaN literal, which Python's parser accepts)
    [[lp-positive:N]] ... is 2.5 (no probability has a positive log)
    [[lp-no-echo]]    echo ignored: only the generated text and its log-probabilities
    [[lp-usage-off]]  usage.prompt_tokens 3 more than the echoed prompt
    [[lp-tokens-off]] the token strings upper-cased: they no longer spell the prompt

Only the real paths are served (/v1/chat/completions, /v1/completions, GET /v1/models);
any other path is a 404, as from a real server given a base_url without /v1.

Which models it knows is set at construction:

    FakeOpenAIServer()                      any model id; no /v1/models (404)
    FakeOpenAIServer(models={"a"})          only "a" (others get 404); /v1/models lists it
    FakeOpenAIServer(listed=["m.gguf"])     any model id, but /v1/models lists only m.gguf,
                                            as llama_cpp.server and llama-server do
    FakeOpenAIServer(models_body=b"<html>") /v1/models answers 200 with that raw body
    FakeOpenAIServer(models_status=401)     /v1/models answers that status (a refused key)
    FakeOpenAIServer(models_delay=5.0)      /v1/models answers only after that many seconds

Every completion request is logged with its arrival time, so tests can count calls per
prompt; `model_list_requests` counts the GETs of /v1/models.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ANSI_ATTACK", "FakeOpenAIServer", "ServedRequest", "echo_tokens", "scripted_logprob"]

# What a hostile server might put in an error: retitle the terminal, clear it, fake a verdict.
ANSI_ATTACK = "\x1b]0;TITLE\x07\x1b[2J\x1b[31mfake: gate PASSED"

_DIRECTIVE = re.compile(r"\[\[([a-z0-9-]+)(?::(\d+))?\]\]")


class _Server(ThreadingHTTPServer):
    request_queue_size = 128


@dataclass(frozen=True)
class ServedRequest:
    path: str
    prompt: str
    arrived: float
    status: int
    authorization: str | None


Responder = Callable[[str, dict[str, Any]], str]
TokenScorer = Callable[[str, int], float]
_ECHO_TOKEN = re.compile(r"\s*\S+|\s+")


def echo_tokens(prompt: str) -> list[tuple[str, int]]:
    """The fake's tokens of a prompt, each with its character offset: whitespace-separated
    words, each with the spaces before it ("a b" -> "a", " b"), as BPE tokenizers do."""
    return [(m.group(), m.start()) for m in _ECHO_TOKEN.finditer(prompt)]


def scripted_logprob(token: str, index: int) -> float:
    """The default log-probability of the index-th prompt token: longer words and later
    positions cost more, so sums tell texts apart."""
    return -(1.0 + len(token.strip()) / 8 + (index % 3) / 4)


def _default_responder(prompt: str, body: dict[str, Any]) -> str:
    return "echo: " + _DIRECTIVE.sub("", prompt).strip()


class FakeOpenAIServer:
    def __init__(
        self,
        *,
        latency: float = 0.0,
        retry_after: str = "1",
        hang_seconds: float = 5.0,
        responder: Responder | None = None,
        models: set[str] | None = None,
        listed: list[str] | None = None,
        models_body: bytes | None = None,
        models_status: int | None = None,
        models_delay: float = 0.0,
        flood_bytes: int = 1 << 30,
        token_logprob: TokenScorer = scripted_logprob,
        echo_bos: bool = False,
    ) -> None:
        self.latency = latency
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.responder = responder or _default_responder
        self.models = models  # None serves any model id; a set answers 404 for others
        # What GET /v1/models lists: `listed`, else `models`, else there is no such list.
        self.listed = listed if listed is not None else (None if models is None else sorted(models))
        self.models_body = models_body
        self.models_status = models_status
        self.models_delay = models_delay
        self.flood_bytes = flood_bytes
        self.token_logprob = token_logprob
        self.echo_bos = echo_bos
        self.flooded = 0  # bytes of [[flood]] bodies the clients took before hanging up
        self.headers_seen: list[dict[str, str]] = []  # each request's headers, lower-cased
        self.model_list_requests = 0
        self.requests: list[ServedRequest] = []  # answered, in order of completion
        self._arrivals: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        # A burst of new connections (a judge at concurrency 32) must not overflow the
        # listen backlog (socketserver's default is 5): the client would see resets.
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def served(self, prompt_contains: str | None = None, *, status: int | None = 200) -> int:
        """How many requests were answered (with `status`, or any status if None)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (prompt_contains is None or prompt_contains in r.prompt)
                and (status is None or r.status == status)
            )

    def arrivals(self, prompt_contains: str) -> list[float]:
        """Arrival times of every request for the prompt, answered yet or not."""
        with self._lock:
            return [t for p, t in self._arrivals if prompt_contains in p]

    # -- request handling ---------------------------------------------------------

    def _attempt(self, prompt: str, arrived: float) -> int:
        with self._lock:
            self._arrivals.append((prompt, arrived))
            self._seen[prompt] = self._seen.get(prompt, 0) + 1
            return self._seen[prompt]

    def _log(self, path: str, prompt: str, arrived: float, status: int, auth: str | None) -> None:
        with self._lock:
            self.requests.append(ServedRequest(path, prompt, arrived, status, auth))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle on, delayed ACKs
            # add ~40 ms to every response and the server stops being "fixed latency".
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                if _route(self.path) != "/v1/models":
                    self._json(404, {"error": {"message": f"no route for GET {self.path}"}})
                    return
                with server._lock:
                    server.model_list_requests += 1
                if server.models_delay:
                    time.sleep(server.models_delay)
                if server.models_status is not None:
                    auth = self.headers.get("authorization")
                    message = f"Incorrect API key provided: {auth}"
                    self._json(server.models_status, {"error": {"message": message}})
                elif server.models_body is not None:
                    self._raw(200, server.models_body, "text/html")
                elif server.listed is None:
                    self._json(404, {"error": {"message": "not found"}})
                else:
                    data = [{"id": m, "object": "model", "owned_by": "fake"} for m in server.listed]
                    self._json(200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                route = _route(self.path)
                chat = route == "/v1/chat/completions"
                if chat:
                    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
                    prompt = str(users[-1]["content"]) if users else ""
                elif route == "/v1/completions":
                    prompt = str(body.get("prompt", ""))
                else:
                    # What a real server says for a path it does not serve.
                    self._json(404, {"detail": "Not Found"})
                    return
                auth = self.headers.get("authorization")
                with server._lock:
                    server.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                status = server._answer(self, chat, prompt, body, auth, arrived)
                server._log(self.path, prompt, arrived, status, auth)

            def _json(
                self,
                status: int,
                payload: Any,
                headers: dict[str, str] | None = None,
                truncate: bool = False,
            ) -> None:
                raw = json.dumps(payload).encode()
                if truncate:
                    raw = raw[: len(raw) // 2]
                self._raw(status, raw, "application/json", headers)

            def _raw(
                self,
                status: int,
                raw: bytes,
                content_type: str,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(raw)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(raw)
                    self.wfile.flush()
                except OSError:  # the client hung up, e.g. on a body over its limit
                    self.close_connection = True

            def _flood(self) -> None:
                self.close_connection = True
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("connection", "close")
                self.end_headers()
                chunk = b"x" * 65536
                try:
                    self.wfile.write(b'{"choices": [{"message": {"content": "')
                    while server.flooded < server.flood_bytes:
                        self.wfile.write(chunk)
                        with server._lock:
                            server.flooded += len(chunk)
                except OSError:  # the client hung up: what a capped client does
                    pass

            def _lie_length(self) -> None:
                self.close_connection = True
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(600_000_000))
                self.end_headers()
                try:
                    self.wfile.write(b'{"choices": [')
                    self.wfile.flush()
                    time.sleep(server.hang_seconds)
                except OSError:
                    pass

        return Handler

    def _answer(
        self,
        handler: Any,
        chat: bool,
        prompt: str,
        body: dict[str, Any],
        auth: str | None,
        arrived: float,
    ) -> int:
        attempt = self._attempt(prompt, arrived)
        directives = {m.group(1): int(m.group(2) or 0) for m in _DIRECTIVE.finditer(prompt)}

        def first(name: str) -> bool:
            return name in directives and attempt <= directives[name]

        if self.latency:
            time.sleep(self.latency)
        model = str(body.get("model"))
        if self.models is not None and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            handler._json(404, {"error": {"message": message, "code": "model_not_found"}})
            return 404
        if first("429"):
            handler._json(
                429,
                {"error": {"message": "rate limited", "type": "rate_limit"}},
                {"retry-after": self.retry_after},
            )
            return 429
        if first("500"):
            handler._json(500, {"error": {"message": "internal error"}})
            return 500
        if "401" in directives:
            handler._json(401, {"error": {"message": f"Incorrect API key provided: {auth}"}})
            return 401
        if "400-echo-auth" in directives:
            filler = "x" * directives["400-echo-auth"]
            handler._json(400, {"error": {"message": f"{filler} bad request from {auth}"}})
            return 400
        if "500-big" in directives:
            handler._json(500, {"error": {"message": "e" * directives["500-big"]}})
            return 500
        if "flood" in directives:
            handler._flood()
            return 200
        if "lie-length" in directives:
            handler._lie_length()
            return 200
        if "400-ansi" in directives:
            handler._json(400, {"error": {"message": ANSI_ATTACK}})
            return 400
        if first("hang"):
            time.sleep(self.hang_seconds)
        text = self.responder(prompt, body)
        if "echo-auth" in directives:
            text += f" (you sent {auth})"
        if "surrogate" in directives:
            text = "half an emoji \ud83d here"
        if "big" in directives:
            text = "x" * directives["big"]
        if not chat and body.get("echo"):
            payload = self._echo_payload(prompt, text, body, directives)
        else:
            payload = _completion_payload(chat, text, body, split="split-logprobs" in directives)
        if chat and "refusal" in directives:
            message = payload["choices"][0]["message"]
            message["content"], message["refusal"] = None, "I can't help with that request."
        if "gzip-bomb" in directives:
            choice = payload["choices"][0]
            if chat:
                choice["message"]["content"] = "@pad@"
            else:
                choice["text"] = "@pad@"
            padding = " " * (directives["gzip-bomb"] << 20)
            inflated = json.dumps(payload).replace("@pad@", padding, 1)
            raw = gzip.compress(inflated.encode(), compresslevel=9)
            handler._raw(200, raw, "application/json", {"content-encoding": "gzip"})
            return 200
        handler._json(200, payload, truncate=first("truncate"))
        return 200

    def _echo_payload(
        self, prompt: str, reply: str, body: dict[str, Any], directives: dict[str, int]
    ) -> dict[str, Any]:
        """A completion echoing its prompt, with log-probabilities as real servers give."""
        limit = body.get("max_tokens")
        words = [" " + w for w in reply.split()]
        generated = words if limit is None or limit <= 0 else words[:limit]
        pieces = echo_tokens(prompt)
        tokens = [t for t, _ in pieces]
        offsets = [o for _, o in pieces]
        values: list[float | None] = [self.token_logprob(t, i) for i, t in enumerate(tokens)]
        if self.echo_bos:
            tokens, offsets, values = ["<s>", *tokens], [0, *offsets], [None, *values]
        if values:
            values[0] = None  # nothing predicts the first token: the servers send null
        end = len(prompt)
        for word in generated:
            tokens.append(word)
            offsets.append(end)
            values.append(-0.5)
            end += len(word)
        usage = {"prompt_tokens": len(pieces) + 1, "completion_tokens": len(generated)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        text = prompt + "".join(generated)
        if "lp-no-echo" in directives:
            start = len(tokens) - len(generated)
            text, tokens, offsets, values = (
                "".join(generated),
                tokens[start:],
                offsets[start:],
                values[start:],
            )
        first_prompt = 1 if self.echo_bos else 0
        for name, value in (("lp-none", None), ("lp-nan", math.nan), ("lp-positive", 2.5)):
            if name in directives:
                values[first_prompt + directives[name]] = value
        if "lp-usage-off" in directives:
            usage["prompt_tokens"] += 3
        data: dict[str, Any] = {
            "tokens": tokens,
            "token_logprobs": values[:-1] if "lp-short" in directives else values,
            "top_logprobs": [
                None if v is None else {t: v} for t, v in zip(tokens, values, strict=True)
            ],
            "text_offset": offsets,
        }
        if "lp-missing" in directives:
            del data["token_logprobs"]
        if "lp-tokens-off" in directives:
            data["tokens"] = [t.upper() for t in tokens]
        wanted = body.get("logprobs") is not None and "lp-null" not in directives
        logprobs = data if wanted else None
        choice = {"index": 0, "text": text, "finish_reason": "length", "logprobs": logprobs}
        return {
            "id": "cmpl-fake",
            "object": "text_completion",
            "created": 0,
            "model": body.get("model", "fake"),
            "choices": [choice],
            "usage": usage,
        }


def _route(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/")


def _tokens(text: str, split: bool) -> list[str]:
    if split:
        return [text[i : i + 4] for i in range(0, len(text), 4)]
    return text.split()


def _completion_payload(
    chat: bool, text: str, body: dict[str, Any], *, split: bool = False
) -> dict[str, Any]:
    usage = {"prompt_tokens": 10, "completion_tokens": len(text.split()), "total_tokens": 0}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    model = body.get("model", "fake")
    if chat:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
            "logprobs": None,
        }
        if body.get("logprobs"):
            choice["logprobs"] = {
                "content": [
                    {"token": t, "logprob": -0.5, "bytes": None, "top_logprobs": []}
                    for t in _tokens(text, split)
                ]
            }
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [choice],
            "usage": usage,
        }
    choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
    if body.get("logprobs"):
        tokens = _tokens(text, split)
        choice["logprobs"] = {
            "tokens": tokens,
            "token_logprobs": [-0.5] * len(tokens),
            "top_logprobs": None,
            "text_offset": [0] * len(tokens),
        }
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": 0,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }
