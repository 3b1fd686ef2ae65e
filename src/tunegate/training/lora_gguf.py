"""A PEFT LoRA adapter as a llama.cpp LoRA GGUF, so an in-process target can serve it.

PEFT stores, per adapted linear layer, `lora_A` (r x in) and `lora_B` (out x r); llama.cpp
reads `<tensor>.lora_a` and `<tensor>.lora_b` with the same layouts (numpy order), scaled by
`adapter.lora.alpha / r` like PEFT's `lora_alpha / r`. Tensor names map from the Hugging
Face module names to the GGUF names of the base model's architecture with gguf's own
`TensorNameMap`. LLaMA-family GGUFs store q and k with their rows permuted for llama.cpp's
rotary layout, so lora_B of q_proj and k_proj is permuted the same way; Gemma's are not.
Tensors are written as F16: llama-cpp-python 0.3.x crashes on F32 LoRA tensors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError, MissingExtraError

__all__ = ["ConvertedAdapter", "convert_peft_to_gguf"]

# Architectures whose GGUF q/k rows are permuted for llama.cpp's rotary embedding.
_PERMUTED_QK = {"llama", "mistral"}
_SUPPORTED = {"gemma", "gemma2", "gemma3", "llama", "mistral", "qwen2", "phi3"}
_KEY = re.compile(
    r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<side>[AB])(?:\.default)?\.weight$"
)


@dataclass(frozen=True)
class ConvertedAdapter:
    path: Path
    architecture: str
    rank: int
    alpha: float
    tensors: int  # pairs written


def _gguf() -> Any:
    try:
        import gguf
    except ImportError:
        raise MissingExtraError("converting a LoRA adapter", "gguf", "train") from None
    return gguf


def _read_base(base: Path) -> tuple[str, int, int, int]:
    """(architecture, block count, heads, kv heads) of the base model GGUF."""
    gguf = _gguf()
    try:
        reader = gguf.GGUFReader(str(base))
    except (OSError, ValueError) as exc:
        raise InputError(f"{base}: not a readable GGUF model ({exc})") from None

    def field(name: str) -> Any:
        f = reader.fields.get(name)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    if not isinstance(arch, str):
        raise InputError(f"{base}: the GGUF names no general.architecture")
    blocks = field(f"{arch}.block_count")
    heads = field(f"{arch}.attention.head_count")
    kv_heads = field(f"{arch}.attention.head_count_kv") or heads
    if not isinstance(blocks, int):
        raise InputError(f"{base}: the GGUF has no {arch}.block_count")
    return arch, blocks, int(heads or 0), int(kv_heads or 0)


def _load_tensors(adapter_dir: Path) -> dict[str, NDArray[np.float32]]:
    safetensors_file = adapter_dir / "adapter_model.safetensors"
    bin_file = adapter_dir / "adapter_model.bin"
    if safetensors_file.is_file():
        try:
            from safetensors.numpy import load_file

            return {k: v.astype(np.float32) for k, v in load_file(str(safetensors_file)).items()}
        except (TypeError, ValueError):  # bf16 has no numpy dtype: read it through torch
            pass
        try:
            from safetensors.torch import load_file as load_torch
        except ImportError:
            raise MissingExtraError("reading a bf16 adapter", "torch", "train") from None
        return {k: v.float().numpy() for k, v in load_torch(str(safetensors_file)).items()}
    if bin_file.is_file():
        try:
            import torch
        except ImportError:
            raise MissingExtraError("reading adapter_model.bin", "torch", "train") from None
        state = torch.load(bin_file, map_location="cpu", weights_only=True)
        return {k: v.float().numpy() for k, v in state.items()}
    raise InputError(
        f"{adapter_dir}: no adapter_model.safetensors (or .bin); point at the folder PEFT's "
        "save_pretrained() wrote"
    )


def _config(adapter_dir: Path) -> dict[str, Any]:
    path = adapter_dir / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{adapter_dir}: no adapter_config.json; is this a PEFT adapter?"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(config, dict) or config.get("peft_type", "LORA") != "LORA":
        raise InputError(f"{path}: not a LoRA adapter (peft_type {config.get('peft_type')!r})")
    return config


def _permute(weights: NDArray[np.float32], heads: int) -> NDArray[np.float32]:
    # The row permutation llama.cpp's converter applies to q/k of LLaMA-family models.
    rows = weights.shape[0]
    return (
        weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def convert_peft_to_gguf(adapter_dir: Path, *, base: Path, out: Path) -> ConvertedAdapter:
    """Write `out`, a llama.cpp LoRA GGUF of the PEFT adapter in `adapter_dir` for `base`."""
    gguf = _gguf()
    config = _config(adapter_dir)
    arch, blocks, heads, kv_heads = _read_base(base)
    if arch not in _SUPPORTED:
        raise InputError(
            f"{base}: architecture '{arch}' is not supported by the converter yet "
            f"(supported: {', '.join(sorted(_SUPPORTED))})"
        )
    if config.get("use_dora") or config.get("use_rslora"):
        raise InputError(f"{adapter_dir}: DoRA and rsLoRA adapters cannot be served by llama.cpp")
    rank = int(config.get("r", 0))
    alpha = float(config.get("lora_alpha", rank))
    if rank <= 0:
        raise InputError(f"{adapter_dir}/adapter_config.json: r must be a positive integer")
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], blocks)
    pairs: dict[str, dict[str, NDArray[np.float32]]] = {}
    for key, value in _load_tensors(adapter_dir).items():
        match = _KEY.match(key)
        if match is None:
            raise InputError(f"{adapter_dir}: unexpected tensor {key!r} in the adapter")
        module = match.group("module")
        target = name_map.get_name(module)
        if target is None:
            raise InputError(
                f"{adapter_dir}: no {arch} GGUF tensor for module {module!r}; LoRA on that "
                "module cannot be served by llama.cpp"
            )
        side = "lora_a" if match.group("side") == "A" else "lora_b"
        if side == "lora_b" and arch in _PERMUTED_QK:
            if module.endswith("q_proj"):
                value = _permute(value, heads)
            elif module.endswith("k_proj"):
                value = _permute(value, kv_heads)
        pairs.setdefault(f"{target}.weight", {})[side] = value
    if not pairs:
        raise InputError(f"{adapter_dir}: the adapter holds no LoRA tensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    for name in sorted(pairs):
        pair = pairs[name]
        if set(pair) != {"lora_a", "lora_b"}:
            raise InputError(f"{adapter_dir}: {name} has lora_A or lora_B but not both")
        writer.add_tensor(f"{name}.lora_a", pair["lora_a"].astype(np.float16))
        writer.add_tensor(f"{name}.lora_b", pair["lora_b"].astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)  # a reader never sees half an adapter
    return ConvertedAdapter(out, arch, rank, alpha, len(pairs))
