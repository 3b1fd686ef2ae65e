"""The exact weights a GGUF serves, as a Hugging Face model folder to train a LoRA on.

An adapter trained on other weights than the ones llama.cpp serves (say, the original
bf16 checkpoint for a 4-bit GGUF) corrupts what the model knows. So the base is the GGUF
itself, dequantized by transformers (about 50 s and 3.3 GB for Gemma 3 270M), and cached
as safetensors beside the models tunegate assembles, keyed by the GGUF's identity: the
next training run loads it in seconds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from ..errors import MissingExtraError
from ..providers.packaged_models import file_identity, model_cache_dir

__all__ = ["dequantized_model_dir", "write_f32_gguf"]


def _cache_dir(gguf_file: Path) -> Path:
    identity = json.dumps(file_identity(gguf_file), sort_keys=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return model_cache_dir() / "hf" / f"{gguf_file.stem}-{digest}"


def dequantized_model_dir(gguf_file: Path) -> Path:
    """A folder `AutoModelForCausalLM.from_pretrained` loads: the GGUF's weights in f32."""
    folder = _cache_dir(gguf_file)
    if (folder / "complete").is_file():
        return folder
    try:
        import torch
        from safetensors.torch import save_file
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise MissingExtraError("training on a GGUF base", "transformers", "train") from None
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32
    )
    tokenizer.save_pretrained(tmp)
    state: dict[str, Any] = {k: v.contiguous() for k, v in model.state_dict().items()}
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # the tied copy; safetensors refuses shared memory
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")  # it is plain f32 now
    config.save_pretrained(tmp)
    (tmp / "complete").write_text(json.dumps(file_identity(gguf_file)))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
    return folder


def write_f32_gguf(source: Path, target: Path) -> Path:
    """A copy of a GGUF with every tensor dequantized to F32: llama.cpp then computes with
    the very weights transformers trains on, so the two can be compared exactly."""
    try:
        import gguf
        from gguf.quants import dequantize
    except ImportError:
        raise MissingExtraError("writing an f32 GGUF", "gguf", "train") from None
    import numpy as np

    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(target), arch)
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        if field.name == "general.file_type":
            writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    for tensor in reader.tensors:
        values = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        writer.add_tensor(tensor.name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
