"""Write a real llama.cpp LoRA adapter GGUF for a model, for tests of adapter loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_lora_adapter(model: Path, out: Path, *, scale: float, rank: int = 4) -> Path:
    """An adapter on every attn_q; scale=0 leaves the model's outputs unchanged."""
    from gguf import GGUFReader, GGUFWriter

    reader = GGUFReader(model)
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    writer = GGUFWriter(str(out), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(rank))
    rng = np.random.default_rng(0)
    for tensor in reader.tensors:
        if not tensor.name.endswith("attn_q.weight"):
            continue
        n_in, n_out = (int(x) for x in tensor.shape)  # ggml order: ne[0] = inputs
        base = tensor.name
        lora_a = (rng.standard_normal((rank, n_in)) / np.sqrt(n_in)).astype(np.float16)
        lora_b = (rng.standard_normal((n_out, rank)) * scale).astype(np.float16)
        writer.add_tensor(f"{base}.lora_a", lora_a)
        writer.add_tensor(f"{base}.lora_b", lora_b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
