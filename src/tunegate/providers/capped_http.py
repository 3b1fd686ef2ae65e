"""An HTTP client for the openai SDK that never reads a response body past a limit.

A server may answer with gigabytes (hostile, or broken and looping). The SDK reads a body
whole before it looks at it, so the limit is applied underneath it, in the HTTP client:
a declared `content-length` over the limit is refused before any byte is read, and the
body is counted as it streams in, decompressed (tunegate asks for none, but a server may
compress anyway, and a few kilobytes of gzip inflate to gigabytes).
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["BodyRefused", "body_limit", "capped_client"]

# Bytes of HTTP body allowed per character of output: JSON escapes a character in up to
# 12 bytes ("\ud83d\ude00" for one emoji), and log-probabilities add an object per token.
BYTES_PER_CHAR = 32
# Headroom for the envelope (ids, usage, a short error) whatever max_output_chars is.
ENVELOPE_BYTES = 1 << 20


class BodyRefused(Exception):
    """The response body is over the limit, or in an encoding tunegate cannot bound."""

    def __init__(self, message: str, *, too_large: bool = True) -> None:
        super().__init__(message)
        self.too_large = too_large


def body_limit(max_output_chars: int) -> int:
    return BYTES_PER_CHAR * max_output_chars + ENVELOPE_BYTES


def capped_client(limit: int) -> Any:
    """The SDK's default async HTTP client, refusing any body over `limit` bytes."""
    import openai

    client_class = openai.DefaultAsyncHttpxClient
    http = _http_module(client_class)

    class CappedStream(http.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, inner: Any, decoder: Any) -> None:
            self._inner = inner
            self._decoder = decoder

        async def __aiter__(self) -> AsyncIterator[bytes]:
            size = 0
            async for raw in self._inner:
                for chunk in _decoded(self._decoder, raw, limit - size):
                    size += len(chunk)
                    if size > limit:
                        raise BodyRefused(f"the response body is over {limit:,} bytes")
                    yield chunk
            if self._decoder is not None:
                # Every input byte went through decompress(); flush() only empties the
                # decoder's own window, which is small.
                tail = _flushed(self._decoder)
                if size + len(tail) > limit:
                    raise BodyRefused(f"the response body is over {limit:,} bytes")
                yield tail

        async def aclose(self) -> None:
            await self._inner.aclose()

    async def check(response: Any) -> None:
        declared = response.headers.get("content-length", "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise BodyRefused(f"the response body is {int(declared):,} bytes, over {limit:,}")
        encoding = response.headers.get("content-encoding", "").strip().lower()
        decoder = None
        if encoding in ("gzip", "x-gzip", "deflate"):
            decoder = zlib.decompressobj(wbits=47)  # zlib or gzip framing, told by its header
            del response.headers["content-encoding"]  # decoded here, not again by the client
        elif encoding not in ("", "identity"):
            raise BodyRefused(
                f"the response body is compressed as {encoding!r} (tunegate asked for none)",
                too_large=False,
            )
        response.stream = CappedStream(response.stream, decoder)

    return client_class(headers={"accept-encoding": "identity"}, event_hooks={"response": [check]})


def _http_module(client_class: type) -> Any:
    """httpx, or whichever fork the installed SDK is built on: the module of its client."""
    for cls in client_class.__mro__:
        if cls.__name__ == "AsyncClient":
            return sys.modules[cls.__module__.split(".")[0]]
    raise RuntimeError(f"{client_class!r} is not an httpx-style AsyncClient")


def _decoded(decoder: Any, raw: bytes, room: int) -> list[bytes]:
    """`raw` decompressed, at most a byte past `room`: a bomb stops inflating there."""
    if decoder is None:
        return [raw]
    try:
        out = [decoder.decompress(raw, max(room, 0) + 1)]
        # What did not fit stays in unconsumed_tail; the caller stops once over the room.
        total = len(out[0])
        while decoder.unconsumed_tail and total <= room:
            tail = decoder.unconsumed_tail
            out.append(decoder.decompress(tail, room - total + 1))
            total += len(out[-1])
            if not out[-1] and decoder.unconsumed_tail == tail:
                raise BodyRefused("the compressed response body is corrupt", too_large=False)
    except zlib.error as exc:
        raise BodyRefused(
            f"the compressed response body is corrupt ({exc})", too_large=False
        ) from None
    return out


def _flushed(decoder: Any) -> bytes:
    try:
        return bytes(decoder.flush())
    except zlib.error as exc:
        raise BodyRefused(
            f"the compressed response body is corrupt ({exc})", too_large=False
        ) from None
