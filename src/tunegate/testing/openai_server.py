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
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ANSI_ATTACK", "FakeOpenAIServer", "ServedRequest"]

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
