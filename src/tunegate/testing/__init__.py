"""Test utilities that ship with tunegate: a real OpenAI-compatible HTTP server."""

from .openai_server import FakeOpenAIServer, ServedRequest

__all__ = ["FakeOpenAIServer", "ServedRequest"]
