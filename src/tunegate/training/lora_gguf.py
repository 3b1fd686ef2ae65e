"""A PEFT LoRA adapter as a llama.cpp LoRA GGUF, so an in-process target can serve it.

PEFT stores, per adapted linear layer, `lora_A` (r x in) and `lora_B` (out x r); llama.cpp
reads `<tensor>.lora_a` and `<tensor>.lora_b` with the same layouts (numpy order). Tensor
names map from the Hugging Face module names to the GGUF names of the base model's
architecture with gguf's own `TensorNameMap`. LLaMA-family GGUFs store q and k with their
rows permuted for llama.cpp's rotary layout, so lora_B of q_proj and k_proj is permuted the
same way; Gemma's are not. Tensors are written as F16: llama-cpp-python 0.3.x crashes on
F32 LoRA tensors.

Scale: PEFT multiplies each layer by alpha_i / r_i (`alpha_pattern`, `rank_pattern`, else
`lora_alpha`, `r`); llama.cpp by adapter.lora.alpha / r_i, r_i read from the layer's own
tensors. So per-layer ranks carry over as they are, and a per-layer alpha is folded into
lora_B as alpha_i / alpha (proved against peft in tests/test_training_convert_inputs.py).

Everything is checked against the base GGUF before a byte is written (llama.cpp
segfaults on an adapter that does not fit its model), and `out` is written atomically,
never over an input.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError, MissingExtraError
from ..paths import display_path, staged_file
from ..providers.lora_check import GgufFile, read_gguf

__all__ = ["ConvertedAdapter", "convert_peft_to_gguf"]

# Architectures whose GGUF q/k rows are permuted for llama.cpp's rotary embedding.
_PERMUTED_QK = {"llama", "mistral"}
_SUPPORTED = {"gemma", "gemma2", "gemma3", "llama", "mistral", "qwen2", "phi3"}
_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<side>[AB])(?:\.default)?\.weight$"
)
_INPUT_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
# Modules llama.cpp cannot take a PEFT LoRA on, and GGUF names they map to.
_EMBEDDING_MODULES = {"embed_tokens", "lm_head"}
_EMBEDDING_TENSORS = {"token_embd", "output"}
_NO_EMBEDDINGS = (
    "LoRA on embed_tokens or lm_head is not supported (llama.cpp serves LoRA on the "
    "linear layers only); train without them in target_modules"
)
# Config keys whose adapters llama.cpp cannot serve, when set.
_UNSUPPORTED = {
    "use_dora": "DoRA",
    "use_rslora": "rsLoRA",
    "lora_bias": "a LoRA bias",
    "modules_to_save": "fully trained modules (modules_to_save)",
    "trainable_token_indices": "trainable tokens",
    "layer_replication": "layer replication",
    "target_parameters": "LoRA on parameters (target_parameters)",
    "alora_invocation_tokens": "activated LoRA (aLoRA)",
}
_T = TypeVar("_T")


@dataclass(frozen=True)
class ConvertedAdapter:
    path: Path
    architecture: str
    rank: int
    alpha: float
    tensors: int  # pairs written


@dataclass(frozen=True)
class _Settings:
    """What adapter_config.json says about the scale of each layer."""

    rank: int
    alpha: float
    rank_pattern: dict[str, int] = field(default_factory=dict)
    alpha_pattern: dict[str, float] = field(default_factory=dict)

    def rank_of(self, module: str) -> int:
        return _pattern_value(self.rank_pattern, module, self.rank)

    def alpha_of(self, module: str) -> float:
        return _pattern_value(self.alpha_pattern, module, self.alpha)


def _pattern_value(pattern: Mapping[str, _T], module: str, default: _T) -> _T:
    # As peft's get_pattern_key: the first key that, as a regex, matches the module's
    # whole name or a dotted suffix of it.
    for key, value in pattern.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def _gguf() -> Any:
    try:
        import gguf
    except ImportError:
        raise MissingExtraError("converting a LoRA adapter", "gguf", "train") from None
    return gguf


# -- inputs ----------------------------------------------------------------------------


def _check_folder(adapter_dir: Path) -> None:
    shown = display_path(adapter_dir)
    if not adapter_dir.exists():
        raise InputError(
            f"{shown}: no such folder; point at the folder PEFT's save_pretrained() wrote"
        )
    if not adapter_dir.is_dir():
        raise InputError(
            f"{shown}: a file, not a folder; point at the folder PEFT's save_pretrained() wrote"
        )


def _check_out(out: Path, inputs: Iterable[Path], *, overwrite: bool) -> None:
    """Refuse an output that would destroy an input, or that cannot be a file."""
    shown = display_path(out)
    for path in inputs:
        try:
            same = out.exists() and path.exists() and os.path.samefile(out, path)
        except OSError:
            same = False
        if same:
            other = display_path(path)
            what = "an input" if other == shown else f"the same file as the input {other}"
            raise InputError(f"{shown}: {what} of the conversion; write the adapter elsewhere")
    if out.is_dir():
        raise InputError(
            f"{shown}: is a folder; name the adapter file to write, e.g. {shown}/adapter.gguf"
        )
    parent = next((p for p in out.parents if p.exists() or p.is_symlink()), None)
    if parent is not None and not parent.is_dir():
        raise InputError(
            f"{shown}: {display_path(parent)} is a file, not a folder; choose another output"
        )
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise InputError(f"{shown}: already exists; pass --force to replace it")


def _settings(adapter_dir: Path) -> _Settings:
    path = adapter_dir / "adapter_config.json"
    shown = display_path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{display_path(adapter_dir)}: no adapter_config.json; is this a PEFT adapter?"
        ) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise InputError(f"{shown}: cannot read it ({exc})") from None
    if not isinstance(config, dict):
        raise InputError(
            f"{shown}: not a PEFT adapter config (a JSON object is expected, not a "
            f"{type(config).__name__}); point at the folder PEFT's save_pretrained() wrote"
        )
    if config.get("peft_type", "LORA") != "LORA":
        raise InputError(f"{shown}: not a LoRA adapter (peft_type {config.get('peft_type')!r})")
    for key, what in _UNSUPPORTED.items():
        if config.get(key):
            raise InputError(f"{shown}: {what} cannot be served by llama.cpp; train without {key}")
    _check_target_modules(config.get("target_modules"), shown)
    rank = _positive_int(config.get("r"), f"{shown}: r")
    alpha = _finite(config.get("lora_alpha", 8), f"{shown}: lora_alpha")  # peft's default
    rank_pattern = _pattern(config.get("rank_pattern"), f"{shown}: rank_pattern", _positive_int)
    alpha_pattern = _pattern(config.get("alpha_pattern"), f"{shown}: alpha_pattern", _finite)
    return _Settings(rank, alpha, rank_pattern, alpha_pattern)


def _positive_int(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InputError(f"{where} must be a positive whole number, not {json.dumps(value)}")
    return value


def _finite(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where} must be a finite number, not {json.dumps(value)}")
    return float(value)


def _pattern(value: object, where: str, check: Callable[[object, str], _T]) -> dict[str, _T]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where} must map module names to values, not {json.dumps(value)}")
    for key in value:
        try:
            re.compile(key)
        except re.error as exc:
            raise InputError(f"{where}: {key!r} is not a valid pattern ({exc})") from None
    return {key: check(item, f"{where}[{key!r}]") for key, item in value.items()}


def _check_target_modules(value: object, where: str) -> None:
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    found = [n for n in names if isinstance(n, str) and n.rsplit(".", 1)[-1] in _EMBEDDING_MODULES]
    if found:
        raise InputError(f"{where}: target_modules has {', '.join(found)}: {_NO_EMBEDDINGS}")


def _load_tensors(adapter_dir: Path) -> dict[str, NDArray[np.float32]]:
    safetensors_file = adapter_dir / "adapter_model.safetensors"
    bin_file = adapter_dir / "adapter_model.bin"
    if safetensors_file.is_file():
        return _load_safetensors(safetensors_file)
    if bin_file.is_file():
        return _load_bin(bin_file)
    raise InputError(
        f"{display_path(adapter_dir)}: no adapter_model.safetensors (or .bin); point at the "
        "folder PEFT's save_pretrained() wrote"
    )


def _load_safetensors(path: Path) -> dict[str, NDArray[np.float32]]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    unreadable = f"{display_path(path)}: not a readable safetensors file"
    try:
        return {k: v.astype(np.float32) for k, v in load_file(str(path)).items()}
    except SafetensorError as exc:
        raise InputError(f"{unreadable} ({exc}); save the adapter again") from None
    except OSError as exc:
        raise InputError(f"{unreadable} ({exc.strerror})") from None
    except (TypeError, ValueError):  # bf16 has no numpy dtype: read it through torch
        pass
    try:
        from safetensors.torch import load_file as load_torch
    except ImportError:
        raise MissingExtraError("reading a bf16 adapter", "torch", "train") from None
    try:
        return {k: v.float().numpy() for k, v in load_torch(str(path)).items()}
    except (SafetensorError, OSError, RuntimeError, TypeError, ValueError) as exc:
        raise InputError(f"{unreadable} ({exc})") from None


def _load_bin(path: Path) -> dict[str, NDArray[np.float32]]:
    try:
        import torch
    except ImportError:
        raise MissingExtraError("reading adapter_model.bin", "torch", "train") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise TypeError(f"it holds a {type(state).__name__}, not a dict of tensors")
        return {str(k): v.float().numpy() for k, v in state.items()}
    except Exception as exc:  # any failure to unpickle an untrusted file is bad input
        raise InputError(
            f"{display_path(path)}: not a readable PyTorch state dict ({exc})"
        ) from None


# -- the base model --------------------------------------------------------------------


@dataclass(frozen=True)
class _Base:
    gguf: GgufFile
    arch: str
    blocks: int
    heads: int
    kv_heads: int


def _read_base(base: Path) -> _Base:
    shown = display_path(base)
    model = read_gguf(base, role="model")
    arch = model.text("general.architecture")
    if not arch:
        raise InputError(f"{shown}: the GGUF names no general.architecture")
    if arch not in _SUPPORTED:
        raise InputError(
            f"{shown}: architecture '{arch}' is not supported by the converter yet "
            f"(supported: {', '.join(sorted(_SUPPORTED))})"
        )
    if model.text("general.type") == "adapter":
        raise InputError(f"{shown}: a LoRA adapter, not a base model; --base names the model GGUF")
    cut = model.truncated()
    if cut is not None:
        raise InputError(
            f"{shown}: the file is truncated (the data of {cut.name} runs past its end); "
            "download or copy it again"
        )
    blocks = model.integer(f"{arch}.block_count")
    if blocks is None:
        raise InputError(f"{shown}: the GGUF has no {arch}.block_count")
    heads = model.integer(f"{arch}.attention.head_count") or 0
    kv_heads = model.integer(f"{arch}.attention.head_count_kv") or heads
    if arch in _PERMUTED_QK and not heads:
        raise InputError(f"{shown}: the GGUF has no {arch}.attention.head_count")
    return _Base(model, arch, blocks, heads, kv_heads)


# -- the tensors -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Pair:
    module: str  # the Hugging Face module, e.g. model.layers.0.self_attn.q_proj
    a: NDArray[np.float32]  # (r, in)
    b: NDArray[np.float32]  # (out, r)


def _pairs(tensors: Mapping[str, NDArray[np.float32]], adapter_dir: Path) -> list[_Pair]:
    shown = display_path(adapter_dir)
    sides: dict[str, dict[str, NDArray[np.float32]]] = {}
    for key, value in tensors.items():
        match = _KEY.match(key)
        if match is None:
            if "lora_embedding_" in key:
                raise InputError(f"{shown}: {_NO_EMBEDDINGS}")
            raise InputError(f"{shown}: unexpected tensor {key!r} in the adapter")
        sides.setdefault(match.group("module"), {})[match.group("side")] = value
    if not sides:
        raise InputError(f"{shown}: the adapter holds no LoRA tensors")
    pairs = []
    for module, pair in sides.items():
        if set(pair) != {"A", "B"}:
            raise InputError(f"{shown}: {module} has lora_A or lora_B but not both")
        pairs.append(_Pair(module, pair["A"], pair["B"]))
    return pairs


def _target(pair: _Pair, base: _Base, name_map: Any, adapter_dir: Path) -> str:
    """The GGUF tensor the pair adapts, checked to exist in the base with matching shapes."""
    shown, module = display_path(adapter_dir), pair.module
    target = name_map.get_name(module)
    if target in _EMBEDDING_TENSORS or module.rsplit(".", 1)[-1] in _EMBEDDING_MODULES:
        raise InputError(f"{shown}: {module}: {_NO_EMBEDDINGS}")
    if target is None:
        raise InputError(
            f"{shown}: no {base.arch} GGUF tensor for module {module!r}; LoRA on that "
            "module cannot be served by llama.cpp"
        )
    tensor = base.gguf.tensors.get(f"{target}.weight")
    if tensor is None or len(tensor.shape) != 2:
        raise InputError(
            f"{shown}: {module}: the base model {display_path(base.gguf.path)} has no matrix "
            f"{target}.weight; is the adapter for another model?"
        )
    n_in, n_out = tensor.shape  # GGUF order: innermost (inputs) first
    a, b = pair.a.shape, pair.b.shape
    if len(a) != 2 or len(b) != 2 or a[1] != n_in or b[0] != n_out or a[0] != b[1]:
        raise InputError(
            f"{shown}: {module}: lora_A is {a} and lora_B {b}, but the base's "
            f"{target}.weight needs lora_A (r, {n_in}) and lora_B ({n_out}, r) with one r; "
            "is the adapter for another model?"
        )
    return f"{target}.weight"


def _f16(values: NDArray[np.float32], what: str) -> NDArray[np.float16]:
    if not np.isfinite(values).all():
        raise InputError(f"{what} holds NaN or infinite values (did training diverge?)")
    with np.errstate(over="ignore"):
        half = values.astype(np.float16)
    if not np.isfinite(half).all():
        raise InputError(
            f"{what} has values beyond F16's range (±65504), the type llama.cpp LoRA tensors "
            "must have"
        )
    return half


def convert_peft_to_gguf(
    adapter_dir: Path, *, base: Path, out: Path, overwrite: bool = True
) -> ConvertedAdapter:
    """Write `out`, a llama.cpp LoRA GGUF of the PEFT adapter in `adapter_dir` for `base`.
    `out` may not be an input; with `overwrite` false an existing `out` is refused too."""
    gguf = _gguf()
    _check_folder(adapter_dir)
    _check_out(out, [base, *(adapter_dir / n for n in _INPUT_FILES)], overwrite=overwrite)
    settings = _settings(adapter_dir)
    model = _read_base(base)
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH[model.arch.upper()], model.blocks)
    shown = display_path(adapter_dir)
    # One alpha for the file (llama.cpp reads no other; 0 would mean "scale 1" there).
    alpha = settings.alpha or 1.0
    written: dict[str, tuple[NDArray[np.float16], NDArray[np.float16]]] = {}
    for pair in _pairs(_load_tensors(adapter_dir), adapter_dir):
        name = _target(pair, model, name_map, adapter_dir)
        rank, expected = pair.a.shape[0], settings.rank_of(pair.module)
        if rank != expected:
            raise InputError(
                f"{shown}: {pair.module} has rank {rank}, but adapter_config.json gives it "
                f"r={expected}; the config does not belong to these weights"
            )
        if name in written:
            raise InputError(f"{shown}: two modules map to {name}")
        lora_b = pair.b * (settings.alpha_of(pair.module) / alpha)
        if model.arch in _PERMUTED_QK and pair.module.endswith(("q_proj", "k_proj")):
            heads = model.heads if pair.module.endswith("q_proj") else model.kv_heads
            lora_b = _permute(lora_b, heads)
        written[name] = (
            _f16(pair.a, f"{shown}: {pair.module} lora_A"),
            _f16(lora_b, f"{shown}: {pair.module} lora_B"),
        )
    _write(out, model.arch, alpha, written)
    return ConvertedAdapter(out, model.arch, settings.rank, alpha, len(written))


def _permute(weights: NDArray[np.float32], heads: int) -> NDArray[np.float32]:
    # The row permutation llama.cpp's converter applies to q/k of LLaMA-family models.
    rows = weights.shape[0]
    return (
        weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _write(
    out: Path,
    arch: str,
    alpha: float,
    tensors: Mapping[str, tuple[NDArray[np.float16], NDArray[np.float16]]],
) -> None:
    """Write to a fresh temporary name beside `out`, then rename: a reader never sees half
    an adapter, and nothing is left behind on failure."""
    gguf = _gguf()
    shown = display_path(out)
    try:
        with staged_file(out) as tmp:
            writer = gguf.GGUFWriter(str(tmp), arch)
            try:
                writer.add_string("general.type", "adapter")
                writer.add_string("adapter.type", "lora")
                writer.add_float32("adapter.lora.alpha", alpha)
                for name in sorted(tensors):
                    lora_a, lora_b = tensors[name]
                    writer.add_tensor(f"{name}.lora_a", lora_a)
                    writer.add_tensor(f"{name}.lora_b", lora_b)
                writer.write_header_to_file()
                writer.write_kv_data_to_file()
                writer.write_tensors_to_file()
            finally:
                writer.close()
    except ValueError as exc:  # a device or a link where the adapter would go
        raise InputError(f"{shown}: {exc}") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot write the adapter ({exc.strerror or exc})") from None
