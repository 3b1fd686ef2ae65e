"""A Python callable `module:function(messages) -> str` (sync or async) as a target."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from ..errors import ConfigError, ProviderError, SourceLocation
from ..suite import did_you_mean
from .base import Generation, GenerationRequest, ProviderContext, ProviderOptions

__all__ = ["PythonOptions", "PythonProvider", "create_python"]

_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


class PythonOptions(ProviderOptions):
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

    def __init__(self, target: str, spec: str, func: Callable[..., Any]) -> None:
        self.target = target
        self.spec = spec
        self._func = func
        self._wants_params = _accepts_params(func)
        # The source file's hash keys the cache, so editing the function invalidates it.
        self._digest = _source_digest(func)

    def fingerprint(self) -> Mapping[str, Any]:
        return {"provider": "python", "function": self.spec, "source_sha256": self._digest}

    async def generate(self, request: GenerationRequest) -> Generation:
        kwargs = {"params": request.params.model_dump()} if self._wants_params else {}
        try:
            if inspect.iscoroutinefunction(self._func):
                result = await self._func(request.messages, **kwargs)
            else:
                result = await asyncio.to_thread(self._func, request.messages, **kwargs)
        except Exception as exc:  # the user's code: any failure is data on the result
            raise ProviderError(f"{self.spec} raised {type(exc).__name__}: {exc}") from None
        if not isinstance(result, str):
            raise ProviderError(f"{self.spec} returned {type(result).__name__}, not str")
        return Generation(text=result)

    async def aclose(self) -> None:
        return None


def _source_digest(func: Callable[..., Any]) -> str | None:
    try:
        source = inspect.getsourcefile(func)
        return hashlib.sha256(Path(source).read_bytes()).hexdigest() if source else None
    except (OSError, TypeError):  # built-ins, or a module whose file is gone
        return None


def _accepts_params(func: Callable[..., Any]) -> bool:
    try:
        return "params" in inspect.signature(func).parameters
    except (TypeError, ValueError):  # some built-ins have no signature: messages only
        return False


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
    return PythonProvider(context.target, options.function, func)


create_python.options_model = PythonOptions  # type: ignore[attr-defined]
