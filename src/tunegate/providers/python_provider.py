"""A Python callable `module:function(messages[, params]) -> str` (sync or async) as a target.

If the function (or callable object) has a `loglikelihood(request)` attribute returning a
`Loglikelihood`, sync or async, the target can also score texts by log-likelihood.

The function is the user's code, so nothing it does may end or hold the run:

- whatever it raises, `SystemExit` and other BaseExceptions included, is an error on that
  generation (only a KeyboardInterrupt goes on: that is the user stopping the run);
- it runs off the run's event loop, in daemon threads, so one that hangs past the target's
  timeout is abandoned: the run records the timeout and the process still exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import inspect
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ..errors import ConfigError, ProviderError, SourceLocation
from ..suite import did_you_mean
from .base import (
    Generation,
    GenerationRequest,
    Loglikelihood,
    LoglikelihoodRequest,
    LoglikelihoodUnsupported,
    OutputLimitOptions,
    ProviderContext,
    check_loglikelihood,
)

__all__ = ["PythonOptions", "PythonProvider", "create_python"]

_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
# Part of the cache key: bump when a change here changes what a function is called with
# (2: params["seed"] is the sample's own seed, params.seed + sample).
CALLING_BEHAVIOUR = 2

# How the function takes its arguments: f(messages), f(messages, params) or
# f(messages, params=params).
Convention = Literal["messages", "positional", "keyword"]
# (True, what the function returned) or (False, what it raised).
_Outcome = tuple[bool, Any]


class PythonOptions(OutputLimitOptions):
    function: str = Field(description="module:function taking the messages and returning text.")

    @field_validator("function")
    @classmethod
    def _module_colon_function(cls, value: str) -> str:
        # pydantic would quote the regular expression at the user.
        if not _SPEC.fullmatch(value):
            raise ValueError(
                "write module:function, e.g. my_model:answer for answer() in my_model.py "
                "beside the config"
            )
        return value


class PythonProvider:
    default_concurrency: ClassVar[int] = 4

    def __init__(
        self,
        target: str,
        spec: str,
        func: Callable[..., Any],
        convention: Convention = "messages",
        options: PythonOptions | None = None,
    ) -> None:
        self.target = target
        self.spec = spec
        self.options = options or PythonOptions(function=spec)
        self._func = func
        self._convention = convention
        self._async = inspect.iscoroutinefunction(func)
        # The source file's hash keys the cache, so editing the function invalidates it.
        self._digest = _source_digest(func)

    def fingerprint(self) -> Mapping[str, Any]:
        return {
            "provider": "python",
            "function": self.spec,
            "source_sha256": self._digest,
            "behaviour": CALLING_BEHAVIOUR,
        }

    async def generate(self, request: GenerationRequest) -> Generation:
        value = await _run(self._call(request), self._async, self.spec)
        if not isinstance(value, str):
            raise ProviderError(f"{self.spec} returned {type(value).__name__}, not str")
        self.options.check_output(self.target, value, f"the text {self.spec} returned")
        return Generation(text=value)

    def _scorer(self) -> Callable[..., Any] | None:
        try:
            scorer = getattr(self._func, "loglikelihood", None)
        except Exception:  # the user's object: a failing __getattr__ means no scorer
            return None
        return scorer if callable(scorer) else None

    def cannot_score(self) -> LoglikelihoodUnsupported | None:
        """The function (or callable object) must carry a `loglikelihood(request)`."""
        return None if self._scorer() is not None else self._no_scorer()

    def _no_scorer(self) -> LoglikelihoodUnsupported:
        return LoglikelihoodUnsupported(
            self.target,
            "provider python",
            f"{self.spec} has no loglikelihood(request) attribute returning a Loglikelihood",
        )

    async def loglikelihood(self, request: LoglikelihoodRequest) -> Loglikelihood:
        scorer = self._scorer()
        what = f"{self.spec}.loglikelihood"
        if scorer is None:
            raise self._no_scorer()
        value = await _run(lambda: scorer(request), inspect.iscoroutinefunction(scorer), what)
        return check_loglikelihood(value, what)

    def _call(self, request: GenerationRequest) -> Callable[[], Any]:
        messages = request.messages
        params = request.params.model_dump()
        params["seed"] = request.seed  # each sample its own seed, as the openai provider sends
        func = self._func
        if self._convention == "positional":
            return lambda: func(messages, params)
        if self._convention == "keyword":
            return lambda: func(messages, params=params)
        return lambda: func(messages)

    async def aclose(self) -> None:
        return None


async def _run(call: Callable[[], Any], is_async: bool, what: str) -> Any:
    """What `call()` returns, off the run's loop; whatever it raises, as a ProviderError."""
    if is_async:
        ok, value = await _on_async_host(call)
    else:
        ok, value = await _in_daemon_thread(call)
        if ok and inspect.isawaitable(value):  # e.g. an object whose __call__ is async
            ok, value = await _on_async_host(lambda: value)
    if not ok:
        if isinstance(value, KeyboardInterrupt):
            raise value
        raise ProviderError(f"{what} raised {_describe(value)}")
    return value


def _boxed(call: Callable[[], Any]) -> _Outcome:
    try:
        return True, call()
    except BaseException as exc:  # the user's code: every way out of it is data
        return False, exc


async def _in_daemon_thread(call: Callable[[], Any]) -> _Outcome:
    """`call()` in a daemon thread of its own. If the caller stops waiting (a timeout, an
    interrupt), the thread is abandoned: it holds neither the run nor the process's exit,
    as an executor's threads would (they are joined when the interpreter exits)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_Outcome] = loop.create_future()

    def deliver(outcome: _Outcome) -> None:
        if not future.done():  # not cancelled meanwhile
            future.set_result(outcome)

    def work() -> None:
        outcome = _boxed(call)
        # A closed loop (RuntimeError): the run ended without this call; nobody waits.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, outcome)

    threading.Thread(target=work, name="tunegate-python-target", daemon=True).start()
    return await future


class _AsyncHost:
    """One event loop, in a daemon thread, for every async target function.

    Not the run's own loop: a coroutine that blocks, or that catches its cancellation and
    goes on, would hold that loop, or asyncio.run()'s shutdown, forever. One loop for all
    calls (and runs) keeps what a module creates for its calls (a client, a session) on
    the loop it was created on."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="tunegate-python-async", daemon=True
                )
                thread.start()
                cls._loop = loop
            return cls._loop


async def _on_async_host(call: Callable[[], Awaitable[Any]]) -> _Outcome:
    """Await `call()` on the host loop. If the caller stops waiting, the coroutine is
    cancelled there, and not waited for: if it ignores the cancellation, it is abandoned."""

    async def boxed() -> _Outcome:
        try:
            return True, await call()
        except BaseException as exc:  # CancelledError too: the caller has its own
            return False, exc

    future = asyncio.run_coroutine_threadsafe(boxed(), _AsyncHost.loop())
    return await asyncio.wrap_future(future)


def _describe(exc: BaseException) -> str:
    """`SystemExit(0)`, `ValueError: bad input`: what the function raised, safely."""
    name = type(exc).__name__
    if isinstance(exc, SystemExit):
        return f"{name}({_safe(repr, exc.code)})"
    text = _safe(str, exc)
    return f"{name}: {text}" if text else name


def _safe(show: Callable[[Any], str], value: Any) -> str:
    try:
        return show(value)
    except Exception:  # a hostile __str__ or __repr__
        return "?"


def _source_digest(func: Callable[..., Any]) -> str | None:
    try:
        source = inspect.getsourcefile(func)
        return hashlib.sha256(Path(source).read_bytes()).hexdigest() if source else None
    except (OSError, TypeError):  # built-ins, or a module whose file is gone
        return None


_MESSAGES, _PARAMS = object(), object()
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def calling_convention(func: Callable[..., Any]) -> Convention | None:
    """How to call `func`, from its signature; None when it cannot take the messages so.

    A parameter named `params` gets them by keyword; else a second positional parameter
    gets them; else the function gets the messages alone."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # some built-ins have no signature: messages only
        return "messages"

    def takes(*args: object, **kwargs: object) -> bool:
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            return False
        return True

    named = signature.parameters.get("params")
    by_keyword = named is not None and named.kind is not inspect.Parameter.POSITIONAL_ONLY
    if by_keyword and takes(_MESSAGES, params=_PARAMS):
        return "keyword"
    positional = [p for p in signature.parameters.values() if p.kind in _POSITIONAL]
    if len(positional) >= 2 and takes(_MESSAGES, _PARAMS):
        return "positional"
    if takes(_MESSAGES):
        return "messages"
    return None


def create_python(options: PythonOptions, context: ProviderContext) -> PythonProvider:
    module_name, func_name = options.function.split(":")
    where = context.where("function")
    if str(context.config_dir) not in sys.path:
        sys.path.insert(0, str(context.config_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{where}: cannot import module '{module_name}' ({exc}); it must be importable "
            "from the project root (the config file's folder) or installed"
        ) from None
    except SyntaxError as exc:
        at = SourceLocation(Path(exc.filename), exc.lineno) if exc.filename else module_name
        raise ConfigError(
            f"{where}: {at}: {exc.msg}; fix the syntax of module '{module_name}'"
        ) from None
    except Exception as exc:  # the user's module ran and failed: say so, not "internal error"
        raise ConfigError(
            f"{where}: importing module '{module_name}' raised {type(exc).__name__}: {exc}; "
            "fix the module"
        ) from None
    func = getattr(module, func_name, None)
    if not callable(func):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise ConfigError(
            f"{where}: module '{module_name}' has no function '{func_name}'"
            f"{did_you_mean(func_name, names)}; fix function, or define it"
        )
    convention = calling_convention(func)
    if convention is None:
        raise ConfigError(
            f"{where}: {options.function}{_signature(func)} cannot be called as "
            f"{func_name}(messages) or {func_name}(messages, params); give it one "
            "positional parameter (the messages) or two (messages, params), the others "
            "with defaults"
        )
    return PythonProvider(context.target, options.function, func, convention, options)


def _signature(func: Callable[..., Any]) -> str:
    try:
        return str(inspect.signature(func))
    except (TypeError, ValueError):
        return ""


create_python.options_model = PythonOptions  # type: ignore[attr-defined]
